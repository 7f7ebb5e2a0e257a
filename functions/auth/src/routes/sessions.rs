//! Accounts and sessions: sign-up, login, refresh (rotating, reuse revokes the family), logout; the refresh cookie.

use axum::{
    extract::State as S,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use cookie::{Cookie, SameSite};
use lait_shared::{
    ApiError, ApiResult,
    accounts::Session,
    auth::{AuthUser, extract::bearer_from_headers},
    domain::ids::UserId,
    http::{ClientIp, Json, cookie},
    openapi::problem,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::users::{Me, me};
use crate::{REFRESH_COOKIE, State};

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
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
pub(crate) fn secure_cookie(
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

pub(crate) fn refresh_cookie(value: &str, max_age: u64) -> HeaderValue {
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
    /// 2 to 20 characters: letters, digits, Hangul, `_`; unique by how it looks (case and
    /// look-alikes such as `0`/`o` or `rn`/`m` count as the same).
    pub nickname: String,
}

/// Create an account (and its channel).
///
/// Problems: 400 invalid field(s); 409 email or nickname taken; 429 too many sign-ups from this address.
#[utoipa::path(post, path = "/api/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = Me), problem::BadRequest, problem::Conflict, problem::TooManyRequests))]
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
///
/// Problems: 401 invalid email or password (one answer for both); 429 too many failed logins.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse, description = "also sets the refresh cookie"), problem::Unauthorized, problem::TooManyRequests))]
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

fn presented_refresh(headers: &HeaderMap, body: Option<Json<RefreshRequest>>) -> Option<String> {
    body.and_then(|Json(b)| b.refresh_token)
        .or_else(|| cookie(headers, REFRESH_COOKIE).map(str::to_owned))
        .filter(|t| !t.is_empty())
}

/// Rotate a refresh token (cookie or body): the old one dies, a new pair is issued. Presenting a
/// token that was already rotated revokes the whole session.
///
/// Problems: 401 unknown, expired, revoked or reused refresh token.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body(content = Option<RefreshRequest>, description = "optional when the cookie is sent"),
    responses((status = 200, body = TokenResponse), problem::Unauthorized))]
async fn refresh(
    S(state): S<State>,
    headers: HeaderMap,
    body: Option<Json<RefreshRequest>>,
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
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", request_body(content = Option<RefreshRequest>, description = "optional"),
    security((), ("bearer" = [])),
    responses((status = 204, description = "session ended; cookie cleared"), problem::Unauthorized))]
async fn logout(
    S(state): S<State>,
    headers: HeaderMap,
    body: Option<Json<RefreshRequest>>,
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
    responses((status = 204, description = "all sessions ended"), problem::Unauthorized))]
async fn logout_all(S(state): S<State>, user: AuthUser) -> ApiResult<Response> {
    state.accounts.end_all_sessions(&user.id).await?;
    Ok(logged_out())
}
