//! auth: accounts, sessions (access + rotating refresh tokens), profiles, Kakao login.
//! Handlers are thin: parse, call `lait_shared::accounts`, shape the answer.

use std::sync::Arc;

use axum::extract::FromRef;
use lait_shared::{
    accounts::oauth::{Provider, ProviderConfig},
    accounts::store::UsersStore,
    accounts::{Accounts, AccountsConfig},
    auth::Authenticator,
    config::Env,
    runtime::Deps,
};
use utoipa_axum::router::OpenApiRouter;

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

mod routes;

/// Routes with their OpenAPI descriptions.
pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .merge(routes::sessions::routes())
        .merge(routes::kakao::routes())
        .merge(routes::users::routes())
}

lait_shared::http_function!(routes);
