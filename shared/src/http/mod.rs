//! HTTP plumbing shared by every function: extractors that answer in problem+json, the body limit,
//! request ids, request tracing and the 404/405 fallbacks.

use axum::{
    Router,
    extract::{
        DefaultBodyLimit, FromRequest, FromRequestParts, OptionalFromRequest, Request,
        rejection::{BytesRejection, PathRejection, QueryRejection},
    },
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tower_http::{
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

mod access;

pub use access::{
    ChannelModerator, FromPath, Ownable, Owned, OwnedChannel, OwnedLive, PathId, Resource,
};

use crate::{config::HttpConfig, error::ApiError};

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// JSON body extractor and response. Rejections are problem+json: 415 for a non-JSON content
/// type, 413 past the body limit, 400 for malformed JSON or a field of the wrong type (named by its
/// path, e.g. `items[1].name`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

fn is_json(req: &Request) -> bool {
    let Some(ct) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(ct) = ct.to_str() else { return false };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(crate::error::Kind::UnsupportedMediaType)
        .with_detail("expected Content-Type: application/json")
}

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(unsupported_media_type());
        }
        let bytes = Bytes::from_request(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// `Option<Json<T>>`: a body that may be absent. An empty body or `null` is `None` (the document
/// describes such a body as optional and nullable), anything else is parsed like [`Json`].
impl<T, S> OptionalFromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let json = is_json(&req);
        let bytes = Bytes::from_request(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        if !json {
            return Err(unsupported_media_type());
        }
        parse_json::<Option<T>>(&bytes).map(|v| v.map(Json))
    }
}

/// For `Option<Option<T>>` fields: absent → `None`, `null` → `Some(None)` (clear), a value →
/// `Some(Some(v))`. Use with `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The value of cookie `name`, if the request carries it (every `Cookie` header is read).
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        // Borrowed from the header (the parsed cookie itself is dropped here).
        .and_then(|c| c.value_raw())
        .map(|v| v.trim_matches('"'))
}

/// Deserializes a request body, naming the offending field on error. A body is one JSON object
/// (every body of the API is; serde would also take a struct's fields as an array, in order), and
/// nothing may follow it.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::invalid_json(
            ".",
            "expected a JSON object, not an array",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|err| {
        let path = err.path().to_string();
        json_problem(path, err.into_inner())
    })?;
    de.end().map_err(|e| json_problem(".".to_owned(), e))?;
    Ok(value)
}

fn json_problem(path: String, e: serde_json::Error) -> ApiError {
    let message = match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("malformed JSON at line {} column {}", e.line(), e.column())
        }
        _ => strip_position(&e.to_string()),
    };
    ApiError::invalid_json(path, message)
}

/// serde_json appends " at line X column Y" to data errors; the field path says more.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(crate::error::Kind::PayloadTooLarge)
                .with_detail("the request body exceeds the size limit")
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        match rejection {
            // A path value that does not parse (or decodes to no UTF-8) names nothing: the same
            // 404 as an unknown one, as for ids (`PathId`).
            PathRejection::FailedToDeserializePathParams(_) => {
                ApiError::not_found("no such resource")
            }
            // A handler asking for captures its route does not have: a wiring bug.
            rejection => {
                ApiError::internal(anyhow::anyhow!("path params: {}", rejection.body_text()))
            }
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(rejection.body_text())
    }
}

/// Path parameters, rejected as problem+json.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Query string, rejected as problem+json.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The caller's IP address: API Gateway's `sourceIp` on Lambda; locally the peer address, or the
/// first `X-Forwarded-For` hop when the operator says a trusted proxy sets it
/// ([`TrustForwardedFor`] in the request extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub String);

/// Marker extension: trust `X-Forwarded-For` (lait-local behind a proxy, and tests).
#[derive(Debug, Clone, Copy)]
pub struct TrustForwardedFor;

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        use lambda_http::RequestExt;
        if let Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) =
            parts.request_context_ref()
            && let Some(ip) = ctx.http.source_ip.as_deref()
        {
            return Ok(Self(ip.to_owned()));
        }
        if parts.extensions.get::<TrustForwardedFor>().is_some()
            && let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        {
            return Ok(Self(ip.to_owned()));
        }
        if let Some(axum::extract::ConnectInfo(addr)) = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        {
            return Ok(Self(addr.ip().to_string()));
        }
        Ok(Self("unknown".to_owned()))
    }
}

/// Request ids: keeps the caller's `x-request-id`, else API Gateway's request id when running on
/// Lambda, else a fresh UUID.
#[derive(Clone, Copy, Default)]
pub struct LaitRequestId;

impl MakeRequestId for LaitRequestId {
    fn make_request_id<B>(&mut self, req: &http::Request<B>) -> Option<RequestId> {
        use lambda_http::RequestExt;
        let from_gateway = req.request_context_ref().and_then(|ctx| match ctx {
            lambda_http::request::RequestContext::ApiGatewayV2(c) => c.request_id.clone(),
            #[allow(unreachable_patterns)]
            _ => None,
        });
        let id = from_gateway.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// 404 problem for unmatched routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// 405 problem for a known route with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(crate::error::Kind::MethodNotAllowed)
        .with_detail("this route does not accept that method")
}

/// The entry points of an HTTP function crate, from its `routes()` (public, described in the
/// OpenAPI document) and optionally routes kept out of the document (`internal: …`):
/// `router(state)` for lait-local and tests, `openapi()` for the document, and `app(state)` (the
/// router with [`finish`]'s layers) for `lambda_http::run`. The crate's `State` must hold
/// `deps: Deps`.
#[macro_export]
macro_rules! http_function {
    ($routes:path $(, internal: $internal:path)?) => {
        pub fn router(state: State) -> ::axum::Router {
            let router = $routes().split_for_parts().0;
            $(let router = router.merge($internal().split_for_parts().0);)?
            router.with_state(state)
        }

        pub fn openapi() -> ::utoipa::openapi::OpenApi {
            $routes().split_for_parts().1
        }

        $(
        /// The routes outside the public API (the deployment's route list needs them).
        pub fn internal_openapi() -> ::utoipa::openapi::OpenApi {
            $internal().split_for_parts().1
        }
        )?

        pub fn app(state: State) -> ::axum::Router {
            let http = state.deps.http.clone();
            $crate::http::finish(router(state), &http)
        }
    };
}

/// Wraps a function's complete router with the layers every entry point must have and the
/// problem+json 404 fallback. Apply once, at the top.
pub fn finish(router: Router, config: &HttpConfig) -> Router {
    layers(router.fallback(not_found), config)
}

/// The layers of [`finish`] without the 404 fallback, for a router (lait-local) that has its own.
pub fn layers(router: Router, config: &HttpConfig) -> Router {
    let router = if config.trust_forwarded_for {
        router.layer(axum::Extension(TrustForwardedFor))
    } else {
        router
    };
    router
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(axum::middleware::from_fn(cache_policy))
        // Browsers take the declared type (an upload declared image/png stays an image).
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &http::Request<_>| {
                let request_id = req
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!(
                    "request",
                    request_id = %request_id,
                    method = %req.method(),
                    path = %req.uri().path(),
                )
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), LaitRequestId))
}

/// A public answer every anonymous viewer may share for `SECS` seconds at the CDN: CloudFront's `/api` cache
/// policy keys on the Authorization header and cookies, so anonymous requests of one URL share one
/// entry and the function sees about one request per edge per `SECS`, however many viewers poll.
/// A request with credentials gets `no-store` instead (its answer may carry personal fields).
#[derive(Debug, Clone, Copy)]
pub struct Shared<T, const SECS: u32 = 5>(pub T);

/// The policy a [`Shared`] response asked for; [`cache_policy`] turns it into a header.
#[derive(Debug, Clone, Copy)]
struct SharedFor(u32);

impl<T: IntoResponse, const SECS: u32> IntoResponse for Shared<T, SECS> {
    fn into_response(self) -> Response {
        let mut res = self.0.into_response();
        res.extensions_mut().insert(SharedFor(SECS));
        res
    }
}

/// A response to a request that carried credentials (a bearer token, or the refresh cookie) is
/// kept by no browser or shared cache, unless its handler chose a policy itself; a [`Shared`]
/// response to an anonymous request is public.
async fn cache_policy(req: Request, next: axum::middleware::Next) -> Response {
    let h = req.headers();
    let credentials = h.contains_key(header::AUTHORIZATION) || h.contains_key(header::COOKIE);
    let mut res = next.run(req).await;
    let shared = res.extensions().get::<SharedFor>().copied();
    let headers = res.headers_mut();
    match shared {
        Some(SharedFor(secs)) if !credentials && !headers.contains_key(header::CACHE_CONTROL) => {
            // Browsers ask again each time (a poll sees the CDN's copy, at most `secs` old).
            let policy = format!("public, max-age=0, s-maxage={secs}");
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_str(&policy).expect("ASCII"),
            );
        }
        Some(_) if credentials => {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        _ if credentials => {
            headers
                .entry(header::CACHE_CONTROL)
                .or_insert(HeaderValue::from_static("no-store"));
        }
        _ => {}
    }
    res
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a throwaway router, not an API route
mod tests {
    use super::*;
    use axum::{body::Body, routing::post};
    use http_body_util::BodyExt;
    use serde::Deserialize;
    use tower::ServiceExt;

    #[derive(Deserialize, Serialize)]
    struct Item {
        name: String,
        count: u32,
    }

    #[derive(Deserialize, Serialize)]
    struct Order {
        items: Vec<Item>,
    }

    fn app() -> Router {
        let r = Router::new().route(
            "/order",
            post(|Json(o): Json<Order>| async move { Json(o) }),
        );
        finish(r, &HttpConfig::default())
    }

    async fn call(req: http::Request<Body>) -> (StatusCode, http::HeaderMap, serde_json::Value) {
        let res = app().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            headers,
            serde_json::from_slice(&body).unwrap_or_default(),
        )
    }

    fn post_json(body: impl Into<Body>) -> http::Request<Body> {
        http::Request::post("/order")
            .header("content-type", "application/json")
            .body(body.into())
            .unwrap()
    }

    #[tokio::test]
    async fn valid_json_round_trips_with_request_id() {
        let (status, headers, body) =
            call(post_json(r#"{"items":[{"name":"a","count":1}]}"#)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["items"][0]["name"], "a");
        assert!(headers.contains_key("x-request-id"));
    }

    #[tokio::test]
    async fn nosniff_always_and_no_store_when_credentials_were_sent() {
        let with = |name: &str, value: &str| {
            let mut r = post_json(r#"{"items":[]}"#);
            r.headers_mut().insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
            r
        };
        for req in [
            with("authorization", "Bearer x"),
            with("cookie", "lait_refresh=x"),
        ] {
            let (status, headers, _) = call(req).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers["cache-control"], "no-store");
            assert_eq!(headers["x-content-type-options"], "nosniff");
        }
        // Anonymous: cacheable as the handler says (here: nothing said); problems too get nosniff.
        let (_, headers, _) = call(post_json(r#"{"items":[]}"#)).await;
        assert!(!headers.contains_key("cache-control"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let (_, headers, _) = call(post_json("{")).await;
        assert_eq!(headers["x-content-type-options"], "nosniff");
        // A handler's own policy stands.
        let own = finish(
            Router::new().route(
                "/lives",
                axum::routing::get(|| async {
                    ([(header::CACHE_CONTROL, "public, max-age=2")], "[]")
                }),
            ),
            &HttpConfig::default(),
        );
        let req = http::Request::get("/lives")
            .header("authorization", "Bearer x")
            .body(Body::empty())
            .unwrap();
        let res = own.oneshot(req).await.unwrap();
        assert_eq!(res.headers()["cache-control"], "public, max-age=2");
    }

    #[tokio::test]
    async fn shared_answers_are_public_only_to_anonymous_requests() {
        let app = finish(
            Router::new()
                .route(
                    "/c",
                    axum::routing::get(|| async { Shared::<_, 5>(Json(1)) }),
                )
                .route("/l", axum::routing::get(|| async { Shared::<_, 2>("[]") })),
            &HttpConfig::default(),
        );
        let get = |path: &str, header: Option<(&str, &str)>| {
            let mut req = http::Request::get(path);
            if let Some((name, value)) = header {
                req = req.header(name, value);
            }
            app.clone().oneshot(req.body(Body::empty()).unwrap())
        };
        let policy = |res: Response| res.headers()["cache-control"].to_str().unwrap().to_owned();
        assert_eq!(
            policy(get("/c", None).await.unwrap()),
            "public, max-age=0, s-maxage=5"
        );
        assert_eq!(
            policy(get("/l", None).await.unwrap()),
            "public, max-age=0, s-maxage=2"
        );
        for credential in [("authorization", "Bearer x"), ("cookie", "lait_refresh=x")] {
            assert_eq!(
                policy(get("/c", Some(credential)).await.unwrap()),
                "no-store"
            );
        }
    }

    #[tokio::test]
    async fn malformed_json_is_400_problem() {
        let (status, headers, body) = call(post_json(r#"{"items": [ "#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(body["type"], "urn:lait:problem:invalid-json");
        assert_eq!(body["status"], 400);
        assert!(
            body["detail"].as_str().unwrap().contains("malformed JSON"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn wrong_type_names_the_field() {
        let (status, _, body) = call(post_json(
            r#"{"items":[{"name":"a","count":1},{"name":"b","count":"x"}]}"#,
        ))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["errors"][0]["field"], "items[1].count");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("items[1].count:"),
            "{body}"
        );
    }

    /// Found by schemathesis: serde takes a struct's fields as an array (`[null, null]` was a
    /// 200 from PATCH /api/users/me). Beside it: whatever followed the object was ignored.
    #[tokio::test]
    async fn a_body_is_one_object_and_nothing_after_it() {
        for body in [
            r#"[[{"name":"a","count":1}]]"#,
            r#" [[]]"#,
            r#"{"items":[]} {"items":[]}"#,
            r#"{"items":[]} x"#,
        ] {
            let (status, headers, problem) = call(post_json(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(headers["content-type"], "application/problem+json");
            assert_eq!(problem["type"], "urn:lait:problem:invalid-json", "{body}");
        }
        let (status, _, _) = call(post_json("\n{\"items\":[]}\n")).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn missing_field_is_named() {
        let (status, _, body) = call(post_json(r#"{"items":[{"name":"a"}]}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("missing field `count`"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn one_megabyte_body_is_413() {
        let big = format!(
            r#"{{"items":[{{"name":"{}","count":1}}]}}"#,
            "x".repeat(1 << 20)
        );
        let (status, headers, body) = call(post_json(big)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(body["status"], 413);
    }

    #[tokio::test]
    async fn wrong_content_type_is_415() {
        let req = http::Request::post("/order")
            .header("content-type", "text/plain")
            .body(Body::from("{}"))
            .unwrap();
        let (status, _, body) = call(req).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(body["type"], "urn:lait:problem:unsupported-media-type");
    }

    /// The document describes an optional body as optional and nullable: `null` was a 400.
    #[tokio::test]
    async fn an_optional_body_may_be_empty_or_null() {
        let r =
            Router::new().route(
                "/opt",
                post(|o: Option<Json<Item>>| async move {
                    o.map_or("none".to_owned(), |Json(i)| i.name)
                }),
            );
        let app = finish(r, &HttpConfig::default());
        for (body, status, text) in [
            ("", StatusCode::OK, "none"),
            ("null", StatusCode::OK, "none"),
            (r#"{"name":"a","count":1}"#, StatusCode::OK, "a"),
            ("[]", StatusCode::BAD_REQUEST, ""),
        ] {
            let req = http::Request::post("/opt")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            let res = app.clone().oneshot(req).await.unwrap();
            assert_eq!(res.status(), status, "{body}");
            let got = res.into_body().collect().await.unwrap().to_bytes();
            if status == StatusCode::OK {
                assert_eq!(got, text, "{body}");
            }
        }
    }

    #[tokio::test]
    async fn unknown_route_and_method_are_problems() {
        let (status, headers, body) =
            call(http::Request::get("/nope").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(body["status"], 404);
        let (status, _, body) =
            call(http::Request::get("/order").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["status"], 405);
    }

    #[tokio::test]
    async fn caller_request_id_is_kept() {
        let req = http::Request::post("/order")
            .header("content-type", "application/json")
            .header("x-request-id", "abc-123")
            .body(Body::from(r#"{"items":[]}"#))
            .unwrap();
        let (_, headers, _) = call(req).await;
        assert_eq!(headers["x-request-id"], "abc-123");
    }
}

// ---- pagination ----

/// `?cursor=&limit=` of a listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// Opaque cursor from the previous page's `next`.
    pub cursor: Option<String>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

impl PageQuery {
    /// The page asked for, with its limit checked.
    pub fn paging(self) -> Result<crate::stores::dynamo::Paging, ApiError> {
        Ok(crate::stores::dynamo::Paging {
            limit: self.limit()?,
            cursor: self.cursor,
        })
    }

    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(20),
            Some(l) if (1..=100).contains(&l) => Ok(l),
            Some(_) => Err(ApiError::field("limit", "must be between 1 and 100")),
        }
    }
}

/// One page of a listing.
#[serde_with::skip_serializing_none]
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// Cursor of the next page; absent on the last one.
    pub next: Option<String>,
}

impl<T> From<crate::stores::dynamo::Page<T>> for Paged<T> {
    fn from(page: crate::stores::dynamo::Page<T>) -> Self {
        Self {
            items: page.items,
            next: page.next,
        }
    }
}

#[cfg(test)]
mod cookie_tests {
    use super::*;

    #[test]
    fn cookies_are_found_across_headers_and_unquoted() {
        let mut h = http::HeaderMap::new();
        h.append(header::COOKIE, "a=1; lait_refresh=\"tok\"".parse().unwrap());
        h.append(header::COOKIE, "b=2;c=3".parse().unwrap());
        assert_eq!(cookie(&h, "lait_refresh"), Some("tok"));
        assert_eq!(cookie(&h, "c"), Some("3"));
        assert_eq!(cookie(&h, "lait"), None);
        assert_eq!(cookie(&http::HeaderMap::new(), "a"), None);
    }
}
