//! The web app: static files from `web/dist` with a single-page fallback, the runtime config the
//! bundle reads (`/config.json`), caching (hashed assets forever, `index.html` never) and the
//! browser security headers. On AWS, CloudFront serves the same files with the same headers
//! (a response headers policy) and `config.json` is written into the web bucket at deploy.

use std::{path::PathBuf, sync::Arc};

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use lait_shared::config::Env;
use serde::Serialize;
use tower_http::services::{ServeDir, ServeFile};

/// Where the bundle finds the API, the WebSocket API and the CDN. Relative values are resolved
/// against the page's origin, so one bundle serves every deployment.
#[derive(Debug, Clone, Serialize)]
pub struct WebConfig {
    pub api_base: String,
    pub ws_url: String,
    pub cdn_base: String,
    /// Whether the external (Kakao) login is configured: the sign-in page shows its button.
    pub kakao: bool,
    /// Where the browser PUTs presigned uploads (avatars, channel images): the media bucket's
    /// S3 endpoint. Only in the CSP, not in `/config.json` (each upload names its URL).
    #[serde(skip)]
    pub upload_origin: String,
}

impl WebConfig {
    pub fn read(env: &mut Env) -> Self {
        Self {
            api_base: env.or("LAIT_PUBLIC_API_URL", String::new()),
            ws_url: env.or("LAIT_PUBLIC_WS_URL", "/ws".to_owned()),
            cdn_base: env.or("LAIT_CDN_BASE_URL", "/media".to_owned()),
            // Set from the auth function's configuration once it is read.
            kakao: false,
            upload_origin: upload_origin(env),
        }
    }

    /// The Content-Security-Policy of every page: scripts and styles only from the bundle (no
    /// inline code, no eval); network and media only to the API, the WebSocket API and the CDN.
    /// `blob:` is hls.js's MediaSource and transmuxing worker.
    pub fn csp(&self) -> String {
        // Each source list: its fixed sources, then the remote origins (relative URLs are 'self').
        let sources = |fixed: &str, urls: &[&String]| -> String {
            std::iter::once(fixed.to_owned())
                .chain(urls.iter().filter_map(|u| origin(u)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let cdn = [&self.cdn_base];
        let connect = [
            &self.api_base,
            &self.ws_url,
            &self.cdn_base,
            &self.upload_origin,
        ];
        format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src {}; media-src {}; \
             connect-src {}; worker-src 'self' blob:; font-src 'self'; object-src 'none'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            sources("'self' data: blob:", &cdn),
            sources("'self' blob:", &cdn),
            sources("'self'", &connect),
        )
    }
}

/// The S3 endpoint presigned URLs point at: the emulator's when one is configured, else S3's.
fn upload_origin(env: &mut Env) -> String {
    let endpoint: Option<String> = env
        .optional("AWS_ENDPOINT_URL_S3")
        .or_else(|| env.optional("AWS_ENDPOINT_URL"));
    env.or(
        "LAIT_UPLOAD_ORIGIN",
        endpoint.unwrap_or_else(|| "https://*.amazonaws.com".to_owned()),
    )
}

/// `scheme://host[:port]` of an absolute URL; `None` for a path (same origin).
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

#[derive(Clone)]
struct Headers {
    csp: HeaderValue,
}

/// The site: `/config.json`, the files of `dir`, and `index.html` for every other path.
// Not routes of the HTTP API (CloudFront serves them on AWS), so not in its spec.
#[allow(clippy::disallowed_methods)]
pub fn router(dir: &PathBuf, config: WebConfig) -> Router {
    let headers = Arc::new(Headers {
        csp: HeaderValue::from_str(&config.csp()).expect("the CSP is a header value"),
    });
    // A missing hashed asset is a 404, not the app shell under an immutable URL.
    let assets = ServeDir::new(dir.join("assets"));
    let files = ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html")));
    Router::new()
        .route(
            "/config.json",
            get(move || async move { Json(config.clone()) }),
        )
        .nest_service("/assets", assets)
        .fallback_service(files)
        .layer(middleware::from_fn_with_state(headers, site_headers))
}

async fn site_headers(State(h): State<Arc<Headers>>, req: Request, next: Next) -> Response {
    // Vite names everything under /assets/ by content hash: a new build is a new URL.
    let immutable = req.uri().path().starts_with("/assets/");
    let mut res = next.run(req).await.into_response();
    let ok = res.status().is_success();
    let headers: &mut HeaderMap = res.headers_mut();
    let cache = if immutable && ok {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::CONTENT_SECURITY_POLICY, h.csp.clone());
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), picture-in-picture=(self), fullscreen=(self)"),
    );
    res
}

/// Headers for every response of lait-local (API, media, site): no MIME sniffing, and a referrer
/// that never carries a path (a VOD or search URL) to another origin.
pub fn common_headers(router: Router) -> Router {
    use tower_http::set_header::SetResponseHeaderLayer;
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csp_names_only_the_remote_origins() {
        let local = WebConfig {
            api_base: String::new(),
            ws_url: "/ws".into(),
            cdn_base: "/media".into(),
            kakao: false,
            upload_origin: "http://127.0.0.1:4566".into(),
        };
        let csp = local.csp();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:4566;"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        let aws = WebConfig {
            api_base: "https://api.example.com".into(),
            ws_url: "wss://ws.example.com/prod".into(),
            cdn_base: "https://cdn.example.com/media".into(),
            kakao: true,
            upload_origin: "https://*.amazonaws.com".into(),
        };
        let csp = aws.csp();
        assert!(
            csp.contains("connect-src 'self' https://api.example.com wss://ws.example.com https://cdn.example.com https://*.amazonaws.com;"),
            "{csp}"
        );
        assert!(
            csp.contains("media-src 'self' blob: https://cdn.example.com;"),
            "{csp}"
        );
    }
}
