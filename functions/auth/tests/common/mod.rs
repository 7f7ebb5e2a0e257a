//! Serves the auth function on loopback (the test kit) against the real Redis and moto started
//! by scripts/test.
#![allow(dead_code, unused_imports)] // each suite uses part of it

use std::ops::{Deref, DerefMut};

use lait_shared::runtime::Deps;
pub use lait_test_kit::{
    TestApp, env_with, problem, random_ip, reqwest::Client, set_cookies, unique,
};

pub struct Api {
    pub app: TestApp,
    pub deps: Deps,
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
    start_with(|_| {
        overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    })
    .await
}

/// Like [`start`], with settings that depend on the server's own base URL.
pub async fn start_with(overrides: impl FnOnce(&str) -> Vec<(String, String)>) -> Api {
    let (listener, addr) = lait_test_kit::listener().await;
    let extra = overrides(&format!("http://{addr}"));
    let extra: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut env = env_with(&extra);
    let deps = Deps::load(&mut env).await;
    let state = lait_auth::State::new(&mut env, deps.clone());
    env.finish(()).expect("test configuration");
    Api {
        app: lait_test_kit::spawn_on(lait_auth::app(state), listener),
        deps,
    }
}

/// A client that does not follow redirects (the OAuth flow checks them).
pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
