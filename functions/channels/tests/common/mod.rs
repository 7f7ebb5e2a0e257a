//! Serves auth + channels on loopback (the test kit) against the real Redis and moto started by
//! scripts/test.
#![allow(dead_code, unused_imports)] // each suite uses part of it

use std::ops::{Deref, DerefMut};

use lait_shared::runtime::Deps;
pub use lait_test_kit::{TestApp, User, random_ip, status_of, unique};

pub struct Api {
    pub app: TestApp,
    pub state: lait_channels::State,
}

impl Deref for Api {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl DerefMut for Api {
    fn deref_mut(&mut self) -> &mut TestApp {
        &mut self.app
    }
}

pub async fn start(overrides: &[(&str, &str)]) -> Api {
    lait_test_kit::require_env("LAIT_MEDIA_SECRET");
    let mut env = lait_test_kit::env_with(overrides);
    let deps = Deps::load(&mut env).await;
    let auth = lait_auth::State::new(&mut env, deps.clone());
    let state = lait_channels::State::new(&mut env, deps.clone());
    env.finish(()).expect("test configuration");
    let router = lait_auth::router(auth).merge(lait_channels::router(state.clone()));
    Api {
        app: lait_test_kit::spawn(lait_shared::http::finish(router, &deps.http)).await,
        state,
    }
}
