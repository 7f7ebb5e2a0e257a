//! Serves the auth function on loopback (the test kit) against the real Redis and moto started
//! by scripts/test.
#![allow(dead_code, unused_imports)] // each suite uses part of it

pub use lait_test_kit::{
    Served, TestApp, problem, random_ip, reqwest::Client, set_cookies, unique,
};

pub type Api = Served<lait_auth::State>;

/// The auth app with the test environment plus `overrides`.
pub async fn start(overrides: &[(&str, &str)]) -> Api {
    lait_test_kit::serve(overrides, app).await
}

/// Like [`start`] on `listener`, for settings that name the app's own address.
pub async fn start_on(listener: tokio::net::TcpListener, overrides: &[(&str, String)]) -> Api {
    lait_test_kit::serve_on(listener, overrides, app).await
}

fn app(
    env: &mut lait_shared::config::Env,
    deps: lait_shared::runtime::Deps,
    _: std::net::SocketAddr,
) -> (axum::Router, lait_auth::State) {
    let state = lait_auth::State::new(env, deps);
    (lait_auth::app(state.clone()), state)
}
