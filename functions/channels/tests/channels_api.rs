//! Public channel routes: ownership on every write, stream-key secrecy, follows, moderators,
//! notices, search, pagination.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn every_write_checks_ownership() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let stranger = api.user().await;
    let c = &owner.channel_id;
    let live_id = api.publish(&api.stream_key(&owner).await).await;
    let notice: Value = api
        .call(
            Method::POST,
            &format!("/api/channels/{c}/notices"),
            Some(&owner),
            Some(json!({"title": "hi", "body": "first"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let nid = notice["id"].as_str().unwrap();

    let writes: Vec<(Method, String, Value)> = vec![
        (
            Method::PATCH,
            format!("/api/channels/{c}"),
            json!({"description": "mine now"}),
        ),
        (
            Method::POST,
            format!("/api/channels/{c}/image"),
            json!({"content_type": "image/png", "content_length": 10}),
        ),
        (
            Method::PUT,
            format!("/api/channels/{c}/image"),
            json!({"key": format!("channels/{c}/x.png")}),
        ),
        (
            Method::PUT,
            format!("/api/channels/{c}/moderators/{}", stranger.id),
            json!(null),
        ),
        (
            Method::DELETE,
            format!("/api/channels/{c}/moderators/{}", stranger.id),
            json!(null),
        ),
        (
            Method::GET,
            format!("/api/channels/{c}/moderators"),
            json!(null),
        ),
        (
            Method::POST,
            format!("/api/channels/{c}/notices"),
            json!({"title": "t", "body": "b"}),
        ),
        (
            Method::PATCH,
            format!("/api/channels/{c}/notices/{nid}"),
            json!({"title": "t2"}),
        ),
        (
            Method::DELETE,
            format!("/api/channels/{c}/notices/{nid}"),
            json!(null),
        ),
        (
            Method::PATCH,
            format!("/api/lives/{live_id}"),
            json!({"title": "hijacked"}),
        ),
        (Method::DELETE, format!("/api/vods/{live_id}"), json!(null)),
    ];
    for (m, path, body) in &writes {
        let body = (!body.is_null()).then(|| body.clone());
        let (status, problem) = status_of(
            api.call(m.clone(), path, Some(&stranger), body.clone())
                .await,
        )
        .await;
        assert_eq!(status, 403, "{m} {path} as a stranger: {problem}");
        let (status, _) = status_of(api.call(m.clone(), path, None, body).await).await;
        assert_eq!(status, 401, "{m} {path} anonymously");
    }
    // Missing things are 404, not 403.
    let ghost = uuid::Uuid::now_v7();
    let (status, _) = status_of(
        api.call(
            Method::PATCH,
            &format!("/api/channels/{ghost}"),
            Some(&stranger),
            Some(json!({"name": "x"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = status_of(
        api.call(
            Method::PATCH,
            &format!("/api/lives/{ghost}"),
            Some(&stranger),
            Some(json!({"title": "x"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);

    // Nothing changed; the owner can do it.
    let ch = api.get_json(&format!("/api/channels/{c}"), None).await;
    assert_eq!(ch["description"], "");
    let res = api
        .call(
            Method::PATCH,
            &format!("/api/lives/{live_id}"),
            Some(&owner),
            Some(json!({"title": "오늘의 방송", "category": "games"})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = api
        .call(
            Method::PATCH,
            &format!("/api/channels/{c}"),
            Some(&owner),
            Some(json!({"description": "hello", "category": "music"})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let ch: Value = res.json().await.unwrap();
    assert_eq!(ch["description"], "hello");
    assert_eq!(ch["category"], "music");
    assert_eq!(
        api.call(
            Method::DELETE,
            &format!("/api/channels/{c}/notices/{nid}"),
            Some(&owner),
            None
        )
        .await
        .status(),
        204
    );
}

#[tokio::test]
async fn the_stream_key_is_in_no_public_response() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let viewer = api.user().await;
    let key = api.stream_key(&owner).await;
    let c = &owner.channel_id;
    let live_id = api.publish(&key).await;
    api.call(
        Method::PUT,
        &format!("/api/channels/{c}/follow"),
        Some(&viewer),
        None,
    )
    .await;
    api.call(
        Method::POST,
        &format!("/api/channels/{c}/notices"),
        Some(&owner),
        Some(json!({"title": "n", "body": "b"})),
    )
    .await;

    let public = [
        (format!("/api/channels/{c}"), None),
        (format!("/api/channels/{c}"), Some(&viewer)),
        (format!("/api/channels/{c}"), Some(&owner)),
        ("/api/lives?limit=100".to_owned(), None),
        (format!("/api/lives/{live_id}"), None),
        (format!("/api/channels/{c}/vods"), None),
        (format!("/api/channels/{c}/notices"), None),
        (format!("/api/search?q={}", owner.nickname), None),
        (format!("/api/users/{}", owner.id), None),
        ("/api/users/me/following".to_owned(), Some(&viewer)),
    ];
    for (path, who) in public {
        let res = api.call(Method::GET, &path, who, None).await;
        assert_eq!(res.status(), 200, "{path}");
        let text = res.text().await.unwrap();
        assert!(!text.contains(&key), "{path} leaks the stream key");
        assert!(
            !text.contains(&key[5..]),
            "{path} leaks the stream key's secret part"
        );
    }
    // Only the owner's own view carries it.
    assert_eq!(
        api.get_json("/api/channels/mine", Some(&owner)).await["stream_key"],
        key
    );
    assert_eq!(
        api.get_json("/api/channels/mine", Some(&viewer)).await["stream_key"]
            .as_str()
            .map(|k| k == key),
        Some(false)
    );
    let mine = api.get_json("/api/channels/mine", Some(&owner)).await;
    assert_eq!(mine["ingest_url"], "rtmp://127.0.0.1:1935/live");
}

#[tokio::test]
async fn channel_fields_are_validated() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let res = api
        .call(
            Method::PATCH,
            &format!("/api/channels/{}", owner.channel_id),
            Some(&owner),
            Some(
                json!({"name": "x".repeat(41), "category": "nope", "description": "d".repeat(501)}),
            ),
        )
        .await;
    let (status, body) = status_of(res).await;
    assert_eq!(status, 400);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "description", "category"]);
    // `null` clears an optional field.
    let path = format!("/api/channels/{}", owner.channel_id);
    api.call(
        Method::PATCH,
        &path,
        Some(&owner),
        Some(json!({"category": "art", "stream_title": "다음 방송"})),
    )
    .await;
    let res = api
        .call(
            Method::PATCH,
            &path,
            Some(&owner),
            Some(json!({"category": null})),
        )
        .await;
    let ch: Value = res.json().await.unwrap();
    assert!(ch["category"].is_null());
    assert_eq!(ch["stream_title"], "다음 방송");
}

#[tokio::test]
async fn next_stream_defaults_apply_to_the_live() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let path = format!("/api/channels/{}", owner.channel_id);
    api.call(
        Method::PATCH,
        &path,
        Some(&owner),
        Some(json!({"stream_title": "밤샘 코딩", "stream_category": "tech", "low_latency": true})),
    )
    .await;
    let res = api
        .signed(
            "/internal/media/publish",
            &json!({"stream_key": api.stream_key(&owner).await, "node_id": "n"}),
            None,
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["title"], "밤샘 코딩");
    assert_eq!(body["ladder"]["low_latency"], true);
    assert_eq!(body["ladder"]["segment_seconds"], 0.5);
    let live = api
        .get_json(
            &format!("/api/lives/{}", body["live_id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(live["category"], "tech");
}

#[tokio::test]
async fn search_finds_korean_titles_by_substring_live_first() {
    let api = start(&[]).await;
    let tag = unique("");
    let streamer = api.user().await;
    api.call(Method::PATCH, &format!("/api/channels/{}", streamer.channel_id), Some(&streamer), Some(json!({"stream_title": format!("오늘은 라면{tag} 먹방"), "name": format!("Ramen{tag} Club")}))).await;
    let live_id = api.publish(&api.stream_key(&streamer).await).await;
    let idle = api.user().await;
    api.call(
        Method::PATCH,
        &format!("/api/channels/{}", idle.channel_id),
        Some(&idle),
        Some(json!({"name": format!("ramen{tag} archive")})),
    )
    .await;

    let hits = api
        .get_json(
            &format!("/api/search?q={}", urlencode(&format!("라면{tag}"))),
            None,
        )
        .await;
    let hits = hits.as_array().unwrap();
    assert!(
        hits.iter()
            .any(|h| h["type"] == "live" && h["id"] == live_id),
        "{hits:?}"
    );

    // Case-insensitive over channel names; the live channel ranks first.
    let hits = api
        .get_json(&format!("/api/search?q=RAMEN{tag}"), None)
        .await;
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(hits[0]["channel_id"], streamer.channel_id);
    assert_eq!(hits[0]["live"], true);
    assert_eq!(hits[1]["channel_id"], idle.channel_id);
    assert_eq!(hits[1]["live"], false);

    // A substring in the middle of a word.
    let hits = api
        .get_json(&format!("/api/search?q={}", &tag[2..8]), None)
        .await;
    assert!(hits.as_array().unwrap().len() >= 2);

    let (status, _) = status_of(api.call(Method::GET, "/api/search?q=", None, None).await).await;
    assert_eq!(status, 400);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn search_is_rate_limited_per_ip() {
    let api = start(&[("LAIT_SEARCH_LIMIT", "3/60")]).await;
    for _ in 0..3 {
        assert_eq!(
            api.call(Method::GET, "/api/search?q=abc", None, None)
                .await
                .status(),
            200
        );
    }
    let res = api.call(Method::GET, "/api/search?q=abc", None, None).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn follows_count_once_and_list_live_channels_first() {
    let api = start(&[]).await;
    let fan = api.user().await;
    let quiet = api.user().await;
    let busy = api.user().await;
    for ch in [&quiet, &busy] {
        for _ in 0..2 {
            let res = api
                .call(
                    Method::PUT,
                    &format!("/api/channels/{}/follow", ch.channel_id),
                    Some(&fan),
                    None,
                )
                .await;
            assert_eq!(res.status(), 204);
        }
    }
    assert_eq!(
        api.get_json(&format!("/api/channels/{}", quiet.channel_id), None)
            .await["follower_count"],
        1
    );
    assert_eq!(
        api.get_json(&format!("/api/channels/{}", quiet.channel_id), Some(&fan))
            .await["following"],
        true
    );
    api.publish(&api.stream_key(&busy).await).await;

    let list = api.get_json("/api/users/me/following", Some(&fan)).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], busy.channel_id);
    assert!(list[0]["live"].is_object());
    assert!(list[1]["live"].is_null());

    for _ in 0..2 {
        let res = api
            .call(
                Method::DELETE,
                &format!("/api/channels/{}/follow", quiet.channel_id),
                Some(&fan),
                None,
            )
            .await;
        assert_eq!(res.status(), 204);
    }
    assert_eq!(
        api.get_json(&format!("/api/channels/{}", quiet.channel_id), None)
            .await["follower_count"],
        0
    );
    let ghost = uuid::Uuid::now_v7();
    assert_eq!(
        api.call(
            Method::PUT,
            &format!("/api/channels/{ghost}/follow"),
            Some(&fan),
            None
        )
        .await
        .status(),
        404
    );
}

#[tokio::test]
async fn moderators_are_managed_by_the_owner() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let mod_user = api.user().await;
    let c = &owner.channel_id;
    let res = api
        .call(
            Method::PUT,
            &format!("/api/channels/{c}/moderators/{}", mod_user.id),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    // Moderators see the list; they cannot add others.
    let list = api
        .get_json(&format!("/api/channels/{c}/moderators"), Some(&mod_user))
        .await;
    assert_eq!(list[0]["id"], mod_user.id);
    assert_eq!(list[0]["nickname"], mod_user.nickname);
    let third = api.user().await;
    assert_eq!(
        api.call(
            Method::PUT,
            &format!("/api/channels/{c}/moderators/{}", third.id),
            Some(&mod_user),
            None
        )
        .await
        .status(),
        403
    );
    assert!(
        api.state
            .channels
            .store
            .is_moderator(&c.parse().unwrap(), &mod_user.id.parse().unwrap())
            .await
            .unwrap()
    );

    let res = api
        .call(
            Method::DELETE,
            &format!("/api/channels/{c}/moderators/{}", mod_user.id),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    assert!(
        api.get_json(&format!("/api/channels/{c}/moderators"), Some(&owner))
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    let ghost = uuid::Uuid::now_v7();
    assert_eq!(
        api.call(
            Method::PUT,
            &format!("/api/channels/{c}/moderators/{ghost}"),
            Some(&owner),
            None
        )
        .await
        .status(),
        404
    );
}

#[tokio::test]
async fn notices_paginate_newest_first() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let c = &owner.channel_id;
    for i in 0..5 {
        let res = api
            .call(Method::POST, &format!("/api/channels/{c}/notices"), Some(&owner), Some(json!({"title": format!("notice {i}"), "body": "본문", "comments": "followers"})))
            .await;
        assert_eq!(res.status(), 201);
    }
    let page1 = api
        .get_json(&format!("/api/channels/{c}/notices?limit=2"), None)
        .await;
    assert_eq!(page1["items"][0]["title"], "notice 4");
    assert_eq!(page1["items"][1]["title"], "notice 3");
    assert_eq!(page1["items"][0]["comments"], "followers");
    let next = page1["next"].as_str().unwrap();
    let page2 = api
        .get_json(
            &format!("/api/channels/{c}/notices?limit=2&cursor={next}"),
            None,
        )
        .await;
    assert_eq!(page2["items"][0]["title"], "notice 2");
    // A cursor of another channel is refused.
    let other = api.user().await;
    let (status, _) = status_of(
        api.call(
            Method::GET,
            &format!("/api/channels/{}/notices?cursor={next}", other.channel_id),
            None,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);

    let (status, body) = status_of(
        api.call(
            Method::POST,
            &format!("/api/channels/{c}/notices"),
            Some(&owner),
            Some(json!({"title": "x".repeat(101), "body": ""})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);

    let nid = page1["items"][0]["id"].as_str().unwrap();
    let res = api
        .call(
            Method::PATCH,
            &format!("/api/channels/{c}/notices/{nid}"),
            Some(&owner),
            Some(json!({"body": "고침"})),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["body"], "고침");
    assert_eq!(
        api.get_json(&format!("/api/channels/{c}/notices/{nid}"), None)
            .await["body"],
        "고침"
    );
    // A notice is addressed through its own channel only.
    let (status, _) = status_of(
        api.call(
            Method::GET,
            &format!("/api/channels/{}/notices/{nid}", other.channel_id),
            None,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn lives_paginate_and_reject_bad_cursors() {
    let api = start(&[]).await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        let u = api.user().await;
        mine.push(api.publish(&api.stream_key(&u).await).await);
    }
    let mut seen: Vec<Value> = Vec::new();
    let mut path = "/api/lives?limit=2".to_owned();
    loop {
        let page = api.get_json(&path, None).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["id"].clone()),
        );
        match page["next"].as_str() {
            Some(n) => path = format!("/api/lives?limit=2&cursor={n}"),
            None => break,
        }
    }
    // Pages of two cover every live once: no repeats, none of these three skipped (other
    // tests' lives may be listed too).
    let mut unique = seen.clone();
    unique.sort_by_key(|v| v.to_string());
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a live listed twice: {seen:?}");
    for id in &mine {
        assert_eq!(
            seen.iter().filter(|v| v.as_str() == Some(id)).count(),
            1,
            "{id} not on any page"
        );
    }
    for bad in [
        "/api/lives?cursor=zzz",
        "/api/lives?limit=0",
        "/api/lives?limit=101",
    ] {
        let (status, _) = status_of(api.call(Method::GET, bad, None, None).await).await;
        assert_eq!(status, 400, "{bad}");
    }
}
