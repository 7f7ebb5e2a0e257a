//! Kakao login: OAuth2 authorization code with PKCE, state in an HttpOnly cookie.

use axum::{
    extract::State as S,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use cookie::SameSite;
use lait_shared::{
    ApiError, ApiResult,
    accounts::oauth::{Provider, STATE_TTL},
    http::{Query, cookie},
    openapi::problem,
};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::sessions::{refresh_cookie, secure_cookie};
use crate::{STATE_COOKIE, State};

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(kakao_start))
        .routes(routes!(kakao_callback))
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
///
/// Problems: 404 Kakao login not configured.
#[utoipa::path(get, path = "/api/auth/kakao/start", tag = "auth",
    responses((status = 302, description = "to the provider's consent page; sets the state cookie"), problem::NotFound))]
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
///
/// Problems: 400 missing, forged or expired state; refused consent; rejected code; 404 Kakao
/// login not configured; 502 the provider failed.
#[utoipa::path(get, path = "/api/auth/kakao/callback", tag = "auth", params(CallbackQuery),
    responses((status = 303, description = "to the web app, with the refresh cookie set"), problem::BadRequest, problem::NotFound, problem::BadGateway))]
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
