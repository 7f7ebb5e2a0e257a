use axum::{Router, extract::FromRef};
use lait_shared::{auth::Authenticator, config::Env, runtime::Deps};
use utoipa_axum::router::OpenApiRouter;

#[derive(Clone)]
pub struct State {
    pub deps: Deps,
}

impl State {
    pub fn new(_env: &mut Env, deps: Deps) -> Self {
        Self { deps }
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
