//! The old service's holes, swept across the whole API as lait-local serves it. The routes come
//! from the OpenAPI document, so a route added later is swept without anyone editing this file.
//! (The other holes and the [hardening] probe's defects each have a test named in
//! docs/security.md.)

mod common;

use common::*;
use lait_test_kit::reqwest::{Method, header};
use serde_json::{Value, json};

/// Every `(METHOD, path template, needs a token)` of the document whose path names a resource.
async fn id_routes(app: &Server) -> Vec<(Method, String, bool)> {
    let spec = app.get_json("/api/openapi.json", None).await;
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(m) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if path.contains('{') && m != Method::OPTIONS {
                // `{}` among the schemes: signing in is optional there.
                let secured = op["security"].as_array().is_some_and(|s| {
                    s.iter()
                        .all(|r| r.as_object().is_some_and(|r| !r.is_empty()))
                });
                out.push((m, path.clone(), secured));
            }
        }
    }
    assert!(out.len() > 20, "the document lists too few routes: {out:?}");
    out
}

/// Two users; the first one live, with a notice: (owner, stranger, live id, notice id).
async fn owner_live_with_notice(app: &Server) -> (User, User, String, String) {
    let [owner, stranger] = app.users().await;
    let live = app.start_live(&owner).await;
    let notice = app
        .post(format!("/api/channels/{}/notices", owner.channel_id))
        .by(&owner)
        .json(json!({"title": "mine", "body": "first"}))
        .expect(201)
        .await;
    let notice = notice["id"].as_str().unwrap().to_owned();
    (owner, stranger, live, notice)
}

/// `template` with the owner's resources filled in.
fn concrete(template: &str, owner: &User, live: &str, notice: &str, other: &User) -> String {
    let id = match template.split('/').nth(2) {
        _ if !template.contains("{id}") => "",
        Some("channels") => &owner.channel_id,
        Some("lives" | "vods") => live,
        Some("users") => &owner.id,
        other => panic!("no resource for {other:?}/{{id}}: extend this test"),
    };
    template
        .replace("{id}", id)
        .replace("{notice_id}", notice)
        .replace("{user_id}", &other.id)
        .replace("{word}", "probeword")
}

/// Seed hole: "anyone could change or delete anyone's channel, live, notice or VOD" — every
/// authenticated route with an `{id}` is called with a second user's token on the first user's
/// resources. Only following is anyone's to do; every other call is a 403 and changes nothing.
#[tokio::test]
async fn idor_every_id_route_refuses_a_second_user_and_changes_nothing() {
    let app = start_app(&[]).await;
    let (owner, stranger, live, notice) = owner_live_with_notice(&app).await;
    let c = owner.channel_id.clone();
    let words = app
        .put(format!("/api/channels/{c}/chat/words"))
        .by(&owner)
        .json(json!({"words": ["probeword"]}))
        .send()
        .await;
    assert_eq!(words.status(), 200);

    // What the owner sees of everything a sweep could touch.
    let snapshot = || async {
        let mut seen = Vec::new();
        for path in [
            format!("/api/channels/{c}"),
            format!("/api/channels/{c}/notices/{notice}"),
            format!("/api/channels/{c}/moderators"),
            format!("/api/channels/{c}/chat/settings"),
            format!("/api/channels/{c}/chat/words"),
            format!("/api/lives/{live}"),
        ] {
            let mut v = app.get_json(&path, Some(&owner)).await;
            // Counters move on their own while a live runs.
            for volatile in ["viewer_count", "viewers", "health"] {
                v.as_object_mut().map(|o| o.remove(volatile));
            }
            seen.push((path, v));
        }
        seen
    };
    let before = snapshot().await;

    let mut swept = 0;
    for (m, template, secured) in id_routes(&app).await {
        // Public reads are public; following a channel is anyone's to do.
        if !secured || template.ends_with("/follow") {
            continue;
        }
        let path = concrete(&template, &owner, &live, &notice, &stranger);
        let body = json!({"title": "hijacked", "name": "hijacked", "description": "hijacked",
            "words": ["x"], "word": "x", "slow_seconds": 30, "key": "x",
            "content_type": "image/png", "content_length": 10});
        let call = || {
            let req = app.req(m.clone(), &path);
            if m == Method::GET || m == Method::DELETE {
                req
            } else {
                req.json(body.clone())
            }
        };
        let (status, problem) = call().by(&stranger).answer().await;
        assert_eq!(status, 403, "{m} {template} as a second user: {problem}");
        assert_eq!(call().status().await, 401, "{m} {template} anonymously");
        swept += 1;
    }
    assert!(swept >= 18, "only {swept} routes swept");
    assert_eq!(snapshot().await, before, "a refused call changed something");
    // The VOD's delete was refused too: the owner still may.
    let (status, _) = app
        .delete(format!("/api/vods/{live}"))
        .by(&owner)
        .answer()
        .await;
    assert_ne!(status, 403);
}

/// Seed hole: stream keys were readable by non-owners. Every GET the document lists, with the
/// owner's ids filled in, as a second user and anonymously: the key is in no answer.
#[tokio::test]
async fn stream_key_is_in_no_answer_to_anyone_but_its_owner() {
    let app = start_app(&[]).await;
    let (owner, stranger, live, notice) = owner_live_with_notice(&app).await;
    // The key of the live stream (publishing does not change it).
    let key = app.stream_key(&owner).await;
    let spec = app.get_json("/api/openapi.json", None).await;
    let mut read = 0;
    for (template, item) in spec["paths"].as_object().unwrap() {
        if item.get("get").is_none() || template.contains("/mine") {
            continue;
        }
        let path = concrete(template, &owner, &live, &notice, &stranger);
        for who in [Some(&stranger), None] {
            let res = app.get(&path).by(who).send().await;
            let body = res.text().await.unwrap();
            assert!(!body.contains(&key), "GET {template} shows the stream key");
            read += 1;
        }
    }
    assert!(read > 20, "only {read} reads");
}

/// Seed hole: a wildcard CORS origin with credentials let any site call the API as its
/// visitor. Only a listed origin is echoed, never `*`, and an unlisted one gets no grant.
#[tokio::test]
async fn cors_grants_only_listed_origins_and_never_a_wildcard() {
    let good = "https://lait.example";
    let app = start_app(&[("LAIT_CORS_ORIGINS", good)]).await;
    let preflight = |origin: &'static str| {
        app.req(Method::OPTIONS, "/api/users/me")
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .send()
    };
    let allowed = |res: &lait_test_kit::reqwest::Response| {
        res.headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let res = preflight(good).await;
    assert_eq!(allowed(&res).as_deref(), Some(good));
    assert_eq!(
        res.headers()[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
        "true"
    );
    assert_eq!(allowed(&preflight("https://evil.example").await), None);
    let res = app
        .get("/api/lives")
        .header("origin", "https://evil.example")
        .send()
        .await;
    assert_eq!(allowed(&res), None);

    // With no origins configured (one origin behind the CDN) nothing is granted at all.
    let same_origin = start_app(&[]).await;
    let res = same_origin
        .get("/api/lives")
        .header("origin", good)
        .send()
        .await;
    assert_eq!(allowed(&res), None);
    let _: Value = res.json().await.unwrap();
}
