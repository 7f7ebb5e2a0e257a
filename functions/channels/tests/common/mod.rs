//! Serves auth + channels on loopback (the test kit) against the real Redis and moto started by
//! scripts/test.
#![allow(dead_code, unused_imports)] // each suite uses part of it

pub use lait_test_kit::{Served, TestApp, User, random_ip, status_of, unique};

pub type Api = Served<lait_channels::State>;

pub async fn start(overrides: &[(&str, &str)]) -> Api {
    lait_test_kit::require_env("LAIT_MEDIA_SECRET");
    lait_test_kit::serve(overrides, |env, deps, _| {
        let auth = lait_auth::State::new(env, deps.clone());
        let state = lait_channels::State::new(env, deps.clone());
        let router = lait_auth::router(auth).merge(lait_channels::router(state.clone()));
        (lait_shared::http::finish(router, &deps.http), state)
    })
    .await
}
