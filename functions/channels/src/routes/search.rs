//! Search over channel names and live titles.

use axum::extract::State as S;
use lait_shared::{
    ApiError, ApiResult,
    http::{ClientIp, Json, Query},
    ratelimit,
    search::Hit,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::State;
use lait_shared::openapi::problem;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new().routes(routes!(search))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// 1 to 50 characters; matched case-insensitively anywhere in channel names and live titles.
    /// Surrounding whitespace is ignored, so there must be something else.
    #[param(min_length = 1, max_length = 50, pattern = r"[^\s\u0085]")]
    pub q: String,
}

/// Search channel names and live titles (live first). Rate limited per client address.
#[utoipa::path(get, path = "/api/search", tag = "search", params(SearchQuery),
    responses((status = 200, body = Vec<Hit>), problem::BadRequest, problem::TooManyRequests))]
async fn search(
    S(state): S<State>,
    ip: ClientIp,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Vec<Hit>>> {
    ratelimit::hit(
        &state.deps.redis,
        &format!("rl:search:ip:{}", ip.0),
        state.config.search_limit,
    )
    .await?;
    let query = q.q.trim();
    let n = query.chars().count();
    if n == 0 || n > 50 {
        return Err(ApiError::field("q", "must be 1 to 50 characters"));
    }
    Ok(Json(state.channels.search.search(query, 20).await?))
}
