//! The OpenAPI document and the routers agree. Routes can only be added through
//! `utoipa_axum::OpenApiRouter` (clippy's `disallowed-methods` refuses `Router::route`, and
//! `scripts/test` runs clippy), so every route is described; this test checks the other way:
//! every described route is really served by lait-local.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test]
async fn every_documented_route_is_served() {
    let app = start_app(&[]).await;
    let res = reqwest::get(app.url("/api/openapi.json")).await.unwrap();
    assert_eq!(res.status(), 200);
    let spec: Value = res.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    assert!(spec["components"]["schemas"]["Problem"].is_object());

    let paths = spec["paths"].as_object().unwrap();
    let mut checked = 0;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, item) in paths {
        assert!(
            path.starts_with("/api/"),
            "{path} is outside the HTTP API prefix"
        );
        let concrete = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    uuid::Uuid::now_v7().to_string()
                } else {
                    seg.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let Ok(m) = method.to_uppercase().parse::<reqwest::Method>() else {
                continue;
            };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()) {
                continue;
            }
            let res = http
                .request(m.clone(), app.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            assert_ne!(status, 405, "{m} {path} is documented but not routed");
            assert!(
                !(status == 404 && body["detail"] == "no such route"),
                "{m} {path} is documented but not routed"
            );
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} operations documented");
}

/// The web client's types are generated from `web/openapi.json`; a route or a view changed in
/// Rust must reach them (`cargo run -p lait-local --bin lait-openapi > web/openapi.json`, then
/// `npm run gen:api` in `web/`, which `scripts/test` checks in turn).
#[test]
fn the_exported_spec_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == lait_local::openapi_json(),
        "web/openapi.json is stale: run `cargo run -p lait-local --bin lait-openapi > web/openapi.json` \
         and `npm run gen:api` in web/"
    );
}
