//! Kakao login end to end against an OAuth2 provider this test starts on loopback: real HTTP,
//! real redirects, PKCE checked by the provider.
#![allow(clippy::disallowed_methods)] // the fake provider's own routes

mod common;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Form, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use common::*;
use serde_json::{Value, json};

#[derive(Default)]
struct Provider {
    /// code → (redirect_uri, code_challenge)
    codes: HashMap<String, (String, String)>,
    /// access token → profile
    tokens: HashMap<String, Value>,
    /// Profile handed out at the next consent.
    next_profile: Value,
    pending: HashMap<String, Value>,
    /// Make the token endpoint refuse every code.
    refuse_codes: bool,
}

type Shared = Arc<Mutex<Provider>>;

const CLIENT_ID: &str = "lait-test-client";
const CLIENT_SECRET: &str = "lait-test-secret";

async fn authorize(State(p): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || q.get("response_type").map(String::as_str) != Some("code")
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return (StatusCode::BAD_REQUEST, "bad authorize request").into_response();
    }
    let code = uuid::Uuid::new_v4().to_string();
    let redirect = q["redirect_uri"].clone();
    let mut p = p.lock().unwrap();
    let profile = p.next_profile.clone();
    p.codes.insert(
        code.clone(),
        (redirect.clone(), q["code_challenge"].clone()),
    );
    p.pending.insert(code.clone(), profile);
    Redirect::to(&format!("{redirect}?code={code}&state={}", q["state"])).into_response()
}

async fn token(State(p): State<Shared>, Form(f): Form<HashMap<String, String>>) -> Response {
    let mut p = p.lock().unwrap();
    let bad = |m: &str| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant", "error_description": m})),
        )
            .into_response()
    };
    if p.refuse_codes {
        return bad("refused");
    }
    if f.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || f.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return bad("client");
    }
    let Some((redirect, challenge)) = f.get("code").and_then(|c| p.codes.remove(c)) else {
        return bad("unknown or used code");
    };
    if f.get("redirect_uri") != Some(&redirect) {
        return bad("redirect_uri");
    }
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    if lait_shared::auth::secret::pkce_challenge(&verifier) != challenge {
        return bad("pkce");
    }
    let profile = p.pending.remove(&f["code"]).unwrap();
    let at = uuid::Uuid::new_v4().to_string();
    p.tokens.insert(at.clone(), profile);
    axum::Json(json!({"access_token": at, "token_type": "bearer", "expires_in": 3600}))
        .into_response()
}

async fn userinfo(State(p): State<Shared>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    match p.lock().unwrap().tokens.get(token) {
        Some(profile) => axum::Json(profile.clone()).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn provider() -> (String, Shared) {
    let shared: Shared = Arc::default();
    let app = Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .route("/v2/user/me", get(userinfo))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), shared)
}

async fn setup() -> (Api, Shared) {
    let (prov, shared) = provider().await;
    let (listener, addr) = lait_test_kit::listener().await;
    let overrides = [
        (
            "LAIT_KAKAO_AUTHORIZE_URL",
            format!("{prov}/oauth/authorize"),
        ),
        ("LAIT_KAKAO_TOKEN_URL", format!("{prov}/oauth/token")),
        ("LAIT_KAKAO_USERINFO_URL", format!("{prov}/v2/user/me")),
        ("LAIT_KAKAO_CLIENT_ID", CLIENT_ID.into()),
        ("LAIT_KAKAO_CLIENT_SECRET", CLIENT_SECRET.into()),
        (
            "LAIT_KAKAO_REDIRECT_URI",
            format!("http://{addr}/api/auth/kakao/callback"),
        ),
    ];
    (start_on(listener, &overrides).await, shared)
}

fn kakao_profile(id: u64, email: Option<&str>, verified: bool, nickname: &str) -> Value {
    json!({
        "id": id,
        "kakao_account": {
            "email": email,
            "is_email_verified": verified,
            "is_email_valid": true,
            "profile": {"nickname": nickname}
        }
    })
}

fn cookie_value(cookies: &[String], name: &str) -> Option<String> {
    cookies.iter().find_map(|c| {
        let first = c.split(';').next()?;
        let (k, v) = first.split_once('=')?;
        (k == name && !v.is_empty()).then(|| v.to_owned())
    })
}

/// Starts a login and consents at the provider; returns the state cookie and the callback URL
/// the provider redirects to (not followed).
async fn consented(api: &Api) -> (String, String) {
    let start = api.get("/api/auth/kakao/start").send().await;
    assert_eq!(start.status(), 302);
    let state_cookie =
        cookie_value(&set_cookies(&start), "lait_oauth_state").expect("state cookie");
    let cookie_attrs = set_cookies(&start).join("; ");
    assert!(cookie_attrs.contains("HttpOnly") && cookie_attrs.contains("SameSite=Lax"));
    let to_provider = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(to_provider.contains("code_challenge=") && to_provider.contains("state="));

    let consent = api.http.get(&to_provider).send().await.unwrap();
    assert_eq!(consent.status(), 303, "{}", consent.text().await.unwrap());
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.starts_with(&api.url("/api/auth/kakao/callback")));
    (state_cookie, callback)
}

/// Opens the provider's callback URL with the state cookie, as the browser would.
async fn callback_with(api: &Api, callback: &str, state_cookie: &str) -> reqwest::Response {
    api.http
        .get(callback)
        .header("cookie", format!("lait_oauth_state={state_cookie}"))
        .send()
        .await
        .unwrap()
}

/// Follows start → provider → callback by hand; returns the callback response, the state cookie
/// that was used and the callback URL.
async fn run_flow(api: &Api) -> (reqwest::Response, String, String) {
    let (state_cookie, callback) = consented(api).await;
    let res = callback_with(api, &callback, &state_cookie).await;
    (res, state_cookie, callback)
}

/// A complete login; returns the signed-in user's `/api/users/me`.
async fn login(api: &Api) -> Value {
    let (res, _, _) = run_flow(api).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/?signed_in=1");
    let refresh = cookie_value(&set_cookies(&res), "lait_refresh").expect("refresh cookie");
    let cookie = format!("lait_refresh={refresh}");
    let (_, tokens) = api
        .post("/api/auth/refresh")
        .header("cookie", cookie)
        .answer()
        .await;
    let access = tokens["access_token"].as_str().unwrap();
    api.get("/api/users/me").bearer(access).answer().await.1
}

fn kakao_id() -> u64 {
    u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap()) >> 12
}

#[tokio::test]
async fn first_login_creates_the_account_and_the_next_reuses_it() {
    let (api, p) = setup().await;
    let id = kakao_id();
    let nick = unique("카카오");
    p.lock().unwrap().next_profile = kakao_profile(id, None, false, &nick);
    let me = login(&api).await;
    assert_eq!(me["nickname"], nick);
    assert!(me["channel_id"].is_string());
    assert!(me["email"].is_null());

    let again = login(&api).await;
    assert_eq!(again["id"], me["id"]);
}

#[tokio::test]
async fn a_verified_email_links_the_existing_account_and_an_unverified_one_does_not() {
    let (api, p) = setup().await;
    let (email, _, user) = api.new_user().await;

    p.lock().unwrap().next_profile = kakao_profile(kakao_id(), Some(&email), false, "someone");
    let stranger = login(&api).await;
    assert_ne!(
        stranger["id"], user["id"],
        "an unverified email must not take over an account"
    );

    p.lock().unwrap().next_profile = kakao_profile(kakao_id(), Some(&email), true, "owner");
    let linked = login(&api).await;
    assert_eq!(linked["id"], user["id"]);
}

#[tokio::test]
async fn forged_missing_and_replayed_state_are_400() {
    let (api, p) = setup().await;
    p.lock().unwrap().next_profile = kakao_profile(kakao_id(), None, false, "victim");

    // The attacker's callback URL (their own state), opened in the victim's browser with the
    // victim's state cookie.
    let (victim_cookie, _) = consented(&api).await;
    let (_, attacker_callback) = consented(&api).await;
    let res = callback_with(&api, &attacker_callback, &victim_cookie).await;
    let (status, body) = problem(res).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("state"));

    // No cookie at all, on a fresh callback: refused; the same callback with its cookie then
    // signs in, so the 400 came from the missing cookie (not from a used state).
    let (cookie, callback) = consented(&api).await;
    let res = api.http.get(&callback).send().await.unwrap();
    let (status, body) = problem(res).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("state"), "{body}");
    let res = callback_with(&api, &callback, &cookie).await;
    assert_eq!(res.status(), 303, "the callback with its cookie signs in");

    // Replaying a used callback (right cookie): the state is single-use.
    let (res, cookie, callback) = run_flow(&api).await;
    assert_eq!(res.status(), 303);
    let res = callback_with(&api, &callback, &cookie).await;
    assert_eq!(problem(res).await.0, 400);

    // Made-up state and code.
    let made_up = api
        .get("/api/auth/kakao/callback?code=x&state=y")
        .header("cookie", "lait_oauth_state=y");
    assert_eq!(made_up.problem().await.0, 400);
}

#[tokio::test]
async fn a_rejected_code_or_cancelled_consent_is_400() {
    let (api, p) = setup().await;
    {
        let mut p = p.lock().unwrap();
        p.next_profile = kakao_profile(kakao_id(), None, false, "x");
        p.refuse_codes = true;
    }
    let (res, _, _) = run_flow(&api).await;
    assert_eq!(problem(res).await.0, 400);
    let cancelled = api.get("/api/auth/kakao/callback?error=access_denied");
    assert_eq!(cancelled.problem().await.0, 400);
}

#[tokio::test]
async fn kakao_is_404_when_not_configured() {
    let api = start(&[]).await;
    assert_eq!(api.get("/api/auth/kakao/start").problem().await.0, 404);
}
