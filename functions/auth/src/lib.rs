//! auth: accounts, sessions (access + rotating refresh tokens), profiles, Kakao login.
//! Handlers are thin: parse, call `lait_shared::accounts`, shape the answer.

use std::sync::Arc;

use axum::{
    Router,
    extract::{FromRef, State as S},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use cookie::{Cookie, SameSite};
use lait_shared::{
    ApiError, ApiResult,
    accounts::oauth::{Provider, ProviderConfig, STATE_TTL},
    accounts::store::{UserRecord, UsersStore},
    accounts::user::{Bio, Nickname},
    accounts::{Accounts, AccountsConfig, Session},
    auth::{AuthUser, Authenticator, extract::bearer_from_headers},
    config::Env,
    domain::ids::{ChannelId, UserId},
    http::{ClientIp, Json, OptionalJson, PathId, Query, cookie},
    openapi::problem,
    runtime::Deps,
    uploads::{self, PresignedUpload},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub const REFRESH_COOKIE: &str = "lait_refresh";
pub const STATE_COOKIE: &str = "lait_oauth_state";

#[derive(Clone)]
pub struct State {
    pub deps: Deps,
    pub accounts: Accounts,
    pub kakao: Option<Provider>,
    pub config: Arc<AuthConfig>,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Public base URL of the media bucket (CDN), for avatar URLs.
    pub cdn_base: String,
    /// Where the browser lands after an external login.
    pub login_redirect: String,
}

impl State {
    pub fn new(env: &mut Env, deps: Deps) -> Self {
        let accounts = Accounts::new(
            UsersStore::new(deps.dynamodb.clone(), &deps.stores),
            deps.auth.clone(),
            deps.redis.clone(),
            AccountsConfig::read(env),
        );
        let kakao = ProviderConfig::read(env, "kakao", "LAIT_KAKAO")
            .map(|c| Provider::new(c, deps.redis.clone()));
        let config = AuthConfig {
            cdn_base: env
                .or("LAIT_CDN_BASE_URL", "/media".to_owned())
                .trim_end_matches('/')
                .to_owned(),
            // `?signed_in` tells the web app a session cookie just arrived.
            login_redirect: env.or("LAIT_LOGIN_REDIRECT", "/?signed_in=1".to_owned()),
        };
        lait_shared::auth::password::warm_up();
        Self {
            deps,
            accounts,
            kakao,
            config: Arc::new(config),
        }
    }
}

impl FromRef<State> for Authenticator {
    fn from_ref(s: &State) -> Self {
        s.deps.auth.clone()
    }
}

/// Routes with their OpenAPI descriptions.
pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(kakao_start))
        .routes(routes!(kakao_callback))
        .routes(routes!(get_me, patch_me))
        .routes(routes!(avatar_upload, avatar_confirm))
        .routes(routes!(get_user))
}

pub fn router(state: State) -> Router {
    routes().split_for_parts().0.with_state(state)
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

pub fn app(state: State) -> Router {
    let http = state.deps.http.clone();
    lait_shared::http::finish(router(state), &http)
}

// ---- views ----

/// The signed-in user's own account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: UserId,
    pub email: Option<String>,
    pub nickname: String,
    pub bio: String,
    pub avatar_url: Option<String>,
    pub channel_id: ChannelId,
    pub created_at: String,
}

/// What anyone may see of a user: no email, no credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicUser {
    pub id: UserId,
    pub nickname: String,
    pub bio: String,
    pub avatar_url: Option<String>,
    pub channel_id: ChannelId,
    pub created_at: String,
}

fn avatar_url(config: &AuthConfig, u: &UserRecord) -> Option<String> {
    u.avatar_key
        .as_ref()
        .map(|k| format!("{}/{k}", config.cdn_base))
}

fn me(config: &AuthConfig, u: UserRecord) -> Me {
    Me {
        avatar_url: avatar_url(config, &u),
        id: u.id,
        email: u.email,
        nickname: u.nickname,
        bio: u.bio,
        channel_id: u.channel_id,
        created_at: u.created_at,
    }
}

/// OAuth2 token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access-token lifetime in seconds (at most 900).
    pub expires_in: u64,
    pub refresh_token: String,
    pub refresh_expires_in: u64,
    pub user_id: UserId,
}

/// An HttpOnly, Secure cookie scoped to `path` (`max_age` 0 clears it).
fn secure_cookie(
    name: &str,
    value: &str,
    path: &str,
    same_site: SameSite,
    max_age: u64,
) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .http_only(true)
        .secure(true)
        .same_site(same_site)
        .path(path)
        .max_age(cookie::time::Duration::seconds(
            i64::try_from(max_age).unwrap_or(i64::MAX),
        ))
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("our cookies are ASCII")
}

fn refresh_cookie(value: &str, max_age: u64) -> HeaderValue {
    secure_cookie(
        REFRESH_COOKIE,
        value,
        "/api/auth",
        SameSite::Strict,
        max_age,
    )
}

fn clear_refresh_cookie() -> HeaderValue {
    refresh_cookie("", 0)
}

/// The token answer: body for API clients, HttpOnly cookie for the browser, never cached.
fn session_response(session: Session) -> Response {
    let cookie = refresh_cookie(&session.refresh_token, session.refresh_expires_in);
    let body = TokenResponse {
        access_token: session.access_token,
        token_type: "Bearer",
        expires_in: session.expires_in,
        refresh_token: session.refresh_token,
        refresh_expires_in: session.refresh_expires_in,
        user_id: session.user_id,
    };
    let mut res = Json(body).into_response();
    res.headers_mut().insert(header::SET_COOKIE, cookie);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

// ---- accounts and sessions ----

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignupRequest {
    pub email: String,
    /// 10 to 128 characters, not the email address.
    pub password: String,
    /// 2 to 20 characters: letters, digits, Hangul, `_`; unique regardless of case.
    pub nickname: String,
}

/// Create an account (and its channel).
#[utoipa::path(post, path = "/api/auth/signup", tag = "auth", request_body = SignupRequest,
    responses(
        (status = 201, body = Me),
        (status = 400, description = "invalid field(s)", body = lait_shared::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "email or nickname taken", body = lait_shared::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "too many sign-ups from this address", body = lait_shared::openapi::Problem, content_type = "application/problem+json"),
    ))]
async fn signup(
    S(state): S<State>,
    ip: ClientIp,
    Json(req): Json<SignupRequest>,
) -> ApiResult<Response> {
    let user = state
        .accounts
        .signup(&ip.0, &req.email, &req.nickname, &req.password)
        .await?;
    Ok((StatusCode::CREATED, Json(me(&state.config, user))).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// Log in with email and password.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse, description = "also sets the refresh cookie"),
        (status = 401, description = "invalid email or password (one answer for both)", body = lait_shared::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "too many failed logins", body = lait_shared::openapi::Problem, content_type = "application/problem+json"),
    ))]
async fn login(
    S(state): S<State>,
    ip: ClientIp,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Response> {
    let session = state
        .accounts
        .login(&ip.0, &req.email, &req.password)
        .await?;
    Ok(session_response(session))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// Optional when the `lait_refresh` cookie is sent.
    pub refresh_token: Option<String>,
}

fn presented_refresh(headers: &HeaderMap, body: Option<RefreshRequest>) -> Option<String> {
    body.and_then(|b| b.refresh_token)
        .or_else(|| cookie(headers, REFRESH_COOKIE).map(str::to_owned))
        .filter(|t| !t.is_empty())
}

/// Rotate a refresh token (cookie or body): the old one dies, a new pair is issued. Presenting a
/// token that was already rotated revokes the whole session.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body(content = RefreshRequest, description = "optional when the cookie is sent"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "unknown, expired, revoked or reused refresh token", body = lait_shared::openapi::Problem, content_type = "application/problem+json"),
    ))]
async fn refresh(
    S(state): S<State>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<RefreshRequest>,
) -> ApiResult<Response> {
    let Some(token) = presented_refresh(&headers, body) else {
        return Err(ApiError::unauthorized("a refresh token is required"));
    };
    match state.accounts.refresh(&token).await {
        Ok(session) => Ok(session_response(session)),
        Err(e) => {
            // A dead cookie is cleared so the browser stops sending it.
            let mut res = e.into_response();
            res.headers_mut()
                .insert(header::SET_COOKIE, clear_refresh_cookie());
            Ok(res)
        }
    }
}

fn logged_out() -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, clear_refresh_cookie());
    res
}

/// End the current session (identified by the refresh token, else the access token).
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", request_body(content = RefreshRequest, description = "optional"),
    security((), ("bearer" = [])),
    responses(
        (status = 204, description = "session ended; cookie cleared"),
        problem::Unauthorized,
    ))]
async fn logout(
    S(state): S<State>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<RefreshRequest>,
) -> ApiResult<Response> {
    let family = match presented_refresh(&headers, body) {
        Some(token) => state.accounts.family_of(&token).await?,
        None => None,
    };
    let family = match (family, bearer_from_headers(&headers)) {
        (Some(f), _) => f,
        (None, Some(token)) => state.deps.auth.authenticate(token).await?.sid,
        (None, None) => {
            return Err(ApiError::unauthorized(
                "a refresh or access token is required",
            ));
        }
    };
    state.accounts.end_session(&family).await?;
    Ok(logged_out())
}

/// End every session of the signed-in user.
#[utoipa::path(post, path = "/api/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "all sessions ended"),
        problem::Unauthorized,
    ))]
async fn logout_all(S(state): S<State>, user: AuthUser) -> ApiResult<Response> {
    state.accounts.end_all_sessions(&user.id).await?;
    Ok(logged_out())
}

// ---- Kakao (OAuth2 + PKCE) ----

fn kakao(state: &State) -> ApiResult<&Provider> {
    state
        .kakao
        .as_ref()
        .ok_or_else(|| ApiError::not_found("Kakao login is not configured on this server"))
}

fn state_cookie(value: &str, max_age: u64) -> HeaderValue {
    // Lax, not Strict: the callback is a cross-site navigation from the provider.
    secure_cookie(
        STATE_COOKIE,
        value,
        "/api/auth/kakao",
        SameSite::Lax,
        max_age,
    )
}

/// Start a Kakao login: redirects to the provider with `state` and a PKCE challenge.
#[utoipa::path(get, path = "/api/auth/kakao/start", tag = "auth",
    responses(
        (status = 302, description = "to the provider's consent page; sets the state cookie"),
        (status = 404, description = "Kakao login not configured", body = lait_shared::openapi::Problem, content_type = "application/problem+json"),
    ))]
async fn kakao_start(S(state): S<State>) -> ApiResult<Response> {
    let auth = kakao(&state)?.start().await?;
    let mut res = StatusCode::FOUND.into_response();
    let h = res.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&auth.redirect_to).map_err(ApiError::internal)?,
    );
    h.insert(
        header::SET_COOKIE,
        state_cookie(&auth.state, STATE_TTL.as_secs()),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

/// The provider's redirect back: checks `state`, exchanges the code, links or creates the
/// account, starts a session (refresh cookie) and sends the browser to the web app.
#[utoipa::path(get, path = "/api/auth/kakao/callback", tag = "auth", params(CallbackQuery),
    responses(
        (status = 303, description = "to the web app, with the refresh cookie set"),
        (status = 400, description = "missing, forged or expired state; refused consent; rejected code", body = lait_shared::openapi::Problem, content_type = "application/problem+json"),
        (status = 502, description = "the provider failed", body = lait_shared::openapi::Problem, content_type = "application/problem+json"),
    ))]
async fn kakao_callback(
    S(state): S<State>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> ApiResult<Response> {
    let provider = kakao(&state)?;
    if q.error.is_some() {
        return Err(ApiError::bad_request(
            "the login was cancelled at the provider",
        ));
    }
    let (Some(code), Some(st)) = (q.code.as_deref(), q.state.as_deref()) else {
        return Err(ApiError::bad_request("code and state are required"));
    };
    let profile = provider
        .finish(st, cookie(&headers, STATE_COOKIE), code)
        .await?;
    let session = state.accounts.external_login(&profile).await?;
    let mut res = StatusCode::SEE_OTHER.into_response();
    let h = res.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&state.config.login_redirect).map_err(ApiError::internal)?,
    );
    h.append(
        header::SET_COOKIE,
        refresh_cookie(&session.refresh_token, session.refresh_expires_in),
    );
    h.append(header::SET_COOKIE, state_cookie("", 0));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

// ---- profile ----

/// The signed-in user's account.
#[utoipa::path(get, path = "/api/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Me), problem::Unauthorized))]
async fn get_me(S(state): S<State>, user: AuthUser) -> ApiResult<Json<Me>> {
    Ok(Json(me(
        &state.config,
        state.accounts.user(&user.id).await?,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PatchMe {
    pub nickname: Option<String>,
    /// At most 300 characters.
    pub bio: Option<String>,
}

/// Change nickname and/or bio.
#[utoipa::path(patch, path = "/api/users/me", tag = "users", security(("bearer" = [])), request_body = PatchMe,
    responses(
        (status = 200, body = Me),
        problem::BadRequest,
        (status = 409, description = "nickname taken", body = lait_shared::openapi::Problem, content_type = "application/problem+json"),
    ))]
async fn patch_me(
    S(state): S<State>,
    user: AuthUser,
    Json(req): Json<PatchMe>,
) -> ApiResult<Json<Me>> {
    let nickname = req.nickname.as_deref().map(Nickname::parse).transpose();
    let bio = req.bio.as_deref().map(Bio::parse).transpose();
    let (nickname, bio) = match (nickname, bio) {
        (Ok(n), Ok(b)) => (n, b),
        (n, b) => {
            return Err(ApiError::validation(
                [n.err(), b.err()].into_iter().flatten().collect(),
            ));
        }
    };
    let updated = state
        .accounts
        .update_profile(&user.id, nickname.as_ref(), bio.as_ref())
        .await?;
    Ok(Json(me(&state.config, updated)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AvatarUploadRequest {
    /// image/jpeg, image/png or image/webp
    pub content_type: String,
    /// Bytes; at most 2 MB.
    pub content_length: u64,
}

/// Get a presigned URL to upload a new avatar (PUT it, then confirm with `PUT /api/users/me/avatar`).
#[utoipa::path(post, path = "/api/users/me/avatar", tag = "users", security(("bearer" = [])), request_body = AvatarUploadRequest,
    responses(
        (status = 200, body = PresignedUpload),
        (status = 400, description = "type not allowed or too large", body = lait_shared::openapi::Problem, content_type = "application/problem+json"),
    ))]
async fn avatar_upload(
    S(state): S<State>,
    user: AuthUser,
    Json(req): Json<AvatarUploadRequest>,
) -> ApiResult<Json<PresignedUpload>> {
    let upload = uploads::AVATAR
        .presign(
            &state.deps.s3,
            &state.deps.stores.media_bucket,
            &lait_shared::media_keys::avatars(&user.id),
            &req.content_type,
            req.content_length,
        )
        .await?;
    Ok(Json(upload))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AvatarConfirm {
    /// The `key` of the presigned upload.
    pub key: String,
}

/// Point the profile at an uploaded avatar, after checking its type and size.
#[utoipa::path(put, path = "/api/users/me/avatar", tag = "users", security(("bearer" = [])), request_body = AvatarConfirm,
    responses(
        (status = 200, body = Me),
        (status = 400, description = "not your upload, missing, or not an allowed image", body = lait_shared::openapi::Problem, content_type = "application/problem+json"),
    ))]
async fn avatar_confirm(
    S(state): S<State>,
    user: AuthUser,
    Json(req): Json<AvatarConfirm>,
) -> ApiResult<Json<Me>> {
    uploads::AVATAR
        .confirm(
            &state.deps.s3,
            &state.deps.stores.media_bucket,
            &lait_shared::media_keys::avatars(&user.id),
            &req.key,
        )
        .await?;
    let updated = state.accounts.set_avatar(&user.id, &req.key).await?;
    Ok(Json(me(&state.config, updated)))
}

/// A user's public profile.
#[utoipa::path(get, path = "/api/users/{id}", tag = "users", params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = PublicUser), problem::NotFound))]
async fn get_user(S(state): S<State>, PathId(id): PathId<UserId>) -> ApiResult<Json<PublicUser>> {
    let u = state.accounts.user(&id).await?;
    Ok(Json(PublicUser {
        avatar_url: avatar_url(&state.config, &u),
        id: u.id,
        nickname: u.nickname,
        bio: u.bio,
        channel_id: u.channel_id,
        created_at: u.created_at,
    }))
}
