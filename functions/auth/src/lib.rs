use axum::Router;
use lait_shared::{config::Env, runtime::Deps};

#[derive(Clone)]
pub struct State {
    pub deps: Deps,
}

impl State {
    pub fn new(_env: &mut Env, deps: Deps) -> Self {
        Self { deps }
    }
}

pub fn router(state: State) -> Router {
    Router::new().with_state(state)
}

pub fn app(state: State) -> Router {
    let http = state.deps.http.clone();
    lait_shared::http::finish(router(state), &http)
}
