//! Public channel routes: ownership on every write, stream-key secrecy, follows, moderators,
//! notices, search, pagination.

mod common;

use common::*;
use lait_test_kit::{PASSWORD, invalid_fields, reqwest::Response};
use reqwest::Method;
use serde_json::{Value, json};

/// Posts a notice to `owner`'s channel.
async fn post_notice(api: &Api, owner: &User, notice: Value) -> Response {
    let path = format!("/api/channels/{}/notices", owner.channel_id);
    api.post(path).by(owner).json(notice).send().await
}

/// Patches `owner`'s channel; its view after.
async fn patch_channel(api: &Api, owner: &User, fields: Value) -> Value {
    let path = format!("/api/channels/{}", owner.channel_id);
    api.patch(path).by(owner).json(fields).expect(200).await
}

#[tokio::test]
async fn every_write_checks_ownership() {
    let api = start(&[]).await;
    let [owner, stranger] = api.users().await;
    let c = &owner.channel_id;
    let live_id = api.start_live(&owner).await;
    let notice = json!({"title": "hi", "body": "first"});
    let notice: Value = post_notice(&api, &owner, notice)
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
        let write = || api.req(m.clone(), path).body(body.clone());
        let (status, problem) = write().by(&stranger).answer().await;
        assert_eq!(status, 403, "{m} {path} as a stranger: {problem}");
        assert_eq!(write().status().await, 401, "{m} {path} anonymously");
    }
    // Missing things are 404, not 403.
    let ghost = uuid::Uuid::now_v7();
    for (path, body) in [
        (format!("/api/channels/{ghost}"), json!({"name": "x"})),
        (format!("/api/lives/{ghost}"), json!({"title": "x"})),
    ] {
        let patch = api.patch(&path).by(&stranger).json(body);
        assert_eq!(patch.status().await, 404, "{path}");
    }

    // Nothing changed; the owner can do it.
    assert_eq!(api.channel(c).await["description"], "");
    let live = json!({"title": "오늘의 방송", "category": "games"});
    let patch_live = api.patch(format!("/api/lives/{live_id}")).by(&owner);
    patch_live.json(live).expect(200).await;
    let fields = json!({"description": "hello", "category": "music"});
    let ch = patch_channel(&api, &owner, fields).await;
    assert_eq!(ch["description"], "hello");
    assert_eq!(ch["category"], "music");
    let notice = api.delete(format!("/api/channels/{c}/notices/{nid}"));
    assert_eq!(notice.by(&owner).status().await, 204);
}

#[tokio::test]
async fn the_stream_key_is_in_no_public_response() {
    let api = start(&[]).await;
    let [owner, viewer] = api.users().await;
    let key = api.stream_key(&owner).await;
    let c = &owner.channel_id;
    let live_id = api.publish(&key).await;
    api.follow(&viewer, c).await;
    post_notice(&api, &owner, json!({"title": "n", "body": "b"})).await;

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
        let res = api.get(&path).by(who).send().await;
        assert_eq!(res.status(), 200, "{path}");
        let text = res.text().await.unwrap();
        assert!(!text.contains(&key), "{path} leaks the stream key");
        assert!(
            !text.contains(&key[5..]),
            "{path} leaks the stream key's secret part"
        );
    }
    // Only the owner's own view carries it.
    let mine = api.get_json("/api/channels/mine", Some(&owner)).await;
    assert_eq!(mine["stream_key"], key);
    let theirs = api.get_json("/api/channels/mine", Some(&viewer)).await;
    assert_eq!(theirs["stream_key"].as_str().map(|k| k == key), Some(false));
    assert_eq!(mine["ingest_url"], "rtmp://127.0.0.1:1935/live");
}

#[tokio::test]
async fn channel_fields_are_validated() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let path = format!("/api/channels/{}", owner.channel_id);
    let bad = json!({"name": "x".repeat(41), "category": "nope", "description": "d".repeat(501)});
    let (status, body) = api.patch(&path).by(&owner).json(bad).answer().await;
    assert_eq!(status, 400);
    assert_eq!(invalid_fields(&body), ["name", "description", "category"]);
    // `null` clears an optional field.
    let next = json!({"category": "art", "stream_title": "다음 방송"});
    api.patch(&path).by(&owner).json(next).send().await;
    let cleared = api.patch(&path).by(&owner).json(json!({"category": null}));
    let ch: Value = cleared.send().await.json().await.unwrap();
    assert!(ch["category"].is_null());
    assert_eq!(ch["stream_title"], "다음 방송");
}

/// [hardening] defect 1: channel names and notice titles took zero-width-only, filler-only and
/// bidi-override values; names are unique by how they look.
#[tokio::test]
async fn names_and_titles_follow_the_text_policy() {
    let api = start(&[]).await;
    let [a, b] = api.users().await;
    let rename = |u: &User, name: &str| {
        api.patch(format!("/api/channels/{}", u.channel_id))
            .by(u)
            .json(json!({ "name": name }))
            .answer()
    };
    for bad in ["\u{200B}\u{200B}", "\u{3164}", "abc\u{202E}gnp.exe", "!!!"] {
        let (status, body) = rename(&a, bad).await;
        assert_eq!(
            (status, invalid_fields(&body)),
            (400, vec!["name"]),
            "{bad:?}"
        );
    }
    let name = format!("Lait Official {}", unique("x"));
    assert_eq!(rename(&a, &name).await.0, 200);
    // Another channel cannot take a look-alike: case, spacing, a digit for a letter, Cyrillic.
    let copies = [
        name.to_uppercase(),
        name.replace(' ', ""),
        name.replacen("Of", "0f", 1),
        name.replacen('a', "\u{0430}", 1),
    ];
    for copy in &copies {
        let (status, body) = rename(&b, copy).await;
        assert_eq!(status, 409, "{copy:?}: {body}");
    }
    // The owner may change the case of its own name; a new name frees the old one.
    assert_eq!(rename(&a, &name.to_lowercase()).await.0, 200);
    assert_eq!(rename(&a, &unique("other")).await.0, 200);
    assert_eq!(rename(&b, &copies[0]).await.0, 200);
    // A channel name claims its look for nicknames too.
    let taken = unique("chan");
    assert_eq!(rename(&b, &taken).await.0, 200);
    let res = api
        .signup(
            &format!("{}@example.com", unique("s")),
            &taken.to_uppercase(),
            PASSWORD,
        )
        .await;
    assert_eq!(res.status(), 409);

    for bad in ["\u{200B}\u{200B}", "\u{3164}"] {
        let res = post_notice(&api, &a, json!({"title": bad, "body": "b"})).await;
        assert_eq!(res.status(), 400, "{bad:?}");
    }
    let ch = patch_channel(&api, &a, json!({"stream_title": "abc\u{202E}gnp.exe"})).await;
    assert_eq!(ch["stream_title"], "abcgnp.exe");
}

#[tokio::test]
async fn next_stream_defaults_apply_to_the_live() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let defaults =
        json!({"stream_title": "밤샘 코딩", "stream_category": "tech", "low_latency": true});
    patch_channel(&api, &owner, defaults).await;
    let publish = json!({"stream_key": api.stream_key(&owner).await, "node_id": "n"});
    let (_, body) = api.hook("/internal/media/publish", publish).await;
    assert_eq!(body["title"], "밤샘 코딩");
    assert_eq!(body["ladder"]["low_latency"], true);
    assert_eq!(body["ladder"]["segment_seconds"], 0.5);
    let live = api.live(body["live_id"].as_str().unwrap()).await;
    assert_eq!(live["category"], "tech");
}

/// Two channels for the search tests, named after `name` plus a unique tag: one live with the
/// title `오늘은 <title_word><tag>` ("<Name><tag> Club"), one idle ("<name><tag> archive").
struct Searchable {
    tag: String,
    streamer: User,
    idle: User,
    live_id: String,
}

async fn searchable(api: &Api, title_word: &str, name: &str) -> Searchable {
    let tag = unique("");
    let [streamer, idle] = api.users().await;
    let streaming = json!({
        "stream_title": format!("오늘은 {title_word}{tag}"),
        "name": format!("{name}{tag} Club"),
    });
    patch_channel(api, &streamer, streaming).await;
    let live_id = api.start_live(&streamer).await;
    let archive = format!("{}{tag} archive", name.to_lowercase());
    patch_channel(api, &idle, json!({ "name": archive })).await;
    Searchable {
        tag,
        streamer,
        idle,
        live_id,
    }
}

#[tokio::test]
async fn search_finds_korean_titles_by_substring_live_first() {
    let api = start(&[]).await;
    let Searchable {
        tag,
        streamer,
        idle,
        live_id,
    } = searchable(&api, "라면", "Ramen").await;
    let search = async |q: &str| api.get_json(&format!("/api/search?q={q}"), None).await;
    let hits = search(&urlencode(&format!("라면{tag}"))).await;
    let hits = hits.as_array().unwrap();
    assert!(
        hits.iter()
            .any(|h| h["type"] == "live" && h["id"] == live_id),
        "{hits:?}"
    );

    // Case-insensitive over channel names; the live channel ranks first.
    let hits = search(&format!("RAMEN{tag}")).await;
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(hits[0]["channel_id"], streamer.channel_id);
    assert_eq!(hits[0]["live"], true);
    assert_eq!(hits[1]["channel_id"], idle.channel_id);
    assert_eq!(hits[1]["live"], false);

    // A substring in the middle of a word.
    let hits = search(&tag[2..8]).await;
    assert!(hits.as_array().unwrap().len() >= 2);

    assert_eq!(api.get("/api/search?q=").status().await, 400);
}

/// The index lives in Redis only: a Redis that lost its data (restarted without persistence)
/// left search empty for good. The reaper's run rebuilds it from the table, once.
#[tokio::test]
async fn a_search_index_lost_with_redis_is_rebuilt_from_the_table() {
    let (_redis, port) = lait_test_kit::own_redis().await;
    let url = format!("redis://127.0.0.1:{port}");
    let api = start(&[("REDIS_URL", &url)]).await;
    let Searchable {
        tag,
        streamer,
        live_id,
        ..
    } = searchable(&api, "짜장", "Noodle").await;
    let search = async |q: &str| api.get_json(&format!("/api/search?q={q}"), None).await;
    let reaper = api.state.reaper();
    // The first run after start-up finds no marker and indexes what the table holds.
    lait_channels::reindex(&reaper).await.unwrap();
    assert_eq!(lait_channels::reindex(&reaper).await.unwrap(), 0, "whole");
    assert_eq!(
        search(&format!("noodle{tag}"))
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let mut c = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();
    assert_eq!(search(&format!("noodle{tag}")).await, json!([]));

    assert!(lait_channels::reindex(&reaper).await.unwrap() >= 2);
    let hits = search(&format!("NOODLE{tag}")).await;
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(hits[0]["channel_id"], streamer.channel_id);
    assert_eq!(hits[0]["live"], true, "{hits:?}");
    let hits = search(&urlencode(&format!("짜장{tag}"))).await;
    assert!(
        hits.as_array().unwrap().iter().any(|h| h["id"] == live_id),
        "{hits:?}"
    );
    assert_eq!(lait_channels::reindex(&reaper).await.unwrap(), 0, "once");

    // A write whose outcome is unknown (the store did not answer: it may have happened) marks
    // the index stale as well.
    let no_answer = std::io::Error::from(std::io::ErrorKind::TimedOut);
    let search = &api.state.channels.search;
    search
        .after_failed_write(&redis::RedisError::from(no_answer).into())
        .await;
    assert!(lait_channels::reindex(&reaper).await.unwrap() >= 2);
    let refused = (
        redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError),
        "a refused write",
    );
    search
        .after_failed_write(&redis::RedisError::from(refused).into())
        .await;
    assert_eq!(lait_channels::reindex(&reaper).await.unwrap(), 0);
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
        assert_eq!(api.get("/api/search?q=abc").status().await, 200);
    }
    let res = api.get("/api/search?q=abc").send().await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn follows_count_once_and_list_live_channels_first() {
    let api = start(&[]).await;
    let [fan, quiet, busy] = api.users().await;
    for ch in [&quiet, &busy] {
        for _ in 0..2 {
            assert_eq!(api.follow(&fan, &ch.channel_id).await.status(), 204);
        }
    }
    let quiet_path = format!("/api/channels/{}", quiet.channel_id);
    assert_eq!(api.channel(&quiet.channel_id).await["follower_count"], 1);
    assert_eq!(
        api.get_json(&quiet_path, Some(&fan)).await["following"],
        true
    );
    api.start_live(&busy).await;

    let list = api.get_json("/api/users/me/following", Some(&fan)).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], busy.channel_id);
    assert!(list[0]["live"].is_object());
    assert!(list[1]["live"].is_null());

    for _ in 0..2 {
        assert_eq!(api.unfollow(&fan, &quiet.channel_id).await.status(), 204);
    }
    assert_eq!(api.channel(&quiet.channel_id).await["follower_count"], 0);
    let ghost = uuid::Uuid::now_v7().to_string();
    assert_eq!(api.follow(&fan, &ghost).await.status(), 404);
}

/// The watch page polls the anonymous channel and live, which the CDN shares among all viewers:
/// public with `s-maxage`, without personal fields; a signed-in request is `no-store` and carries
/// them; whether you follow comes from its own small call.
#[tokio::test]
async fn public_reads_are_shared_only_when_anonymous_and_following_has_its_own_call() {
    let api = start(&[]).await;
    let [fan, streamer] = api.users().await;
    let channel = format!("/api/channels/{}", streamer.channel_id);
    let follow = format!("{channel}/follow");
    assert_eq!(api.follow(&fan, &streamer.channel_id).await.status(), 204);
    let live_id = api.start_live(&streamer).await;

    let cache_control = |res: Response| {
        let policy = res
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned());
        (policy, res)
    };
    for path in [
        channel.clone(),
        format!("/api/lives/{live_id}"),
        "/api/lives".to_owned(),
        format!("{channel}/vods"),
        format!("{channel}/notices"),
    ] {
        let (anonymous, res) = cache_control(api.get(&path).send().await);
        assert_eq!(res.status(), 200, "{path}");
        let secs = if path == "/api/lives" { 2 } else { 5 };
        let shared = format!("public, max-age=0, s-maxage={secs}");
        assert_eq!(anonymous.as_deref(), Some(shared.as_str()), "{path}");
        let (signed_in, _) = cache_control(api.get(&path).by(&fan).send().await);
        assert_eq!(
            signed_in.as_deref(),
            Some("no-store"),
            "{path} with a token"
        );
    }
    assert!(api.get_json(&channel, None).await["following"].is_null());
    assert_eq!(api.get_json(&channel, Some(&fan)).await["following"], true);

    assert_eq!(
        api.get_json(&follow, Some(&fan)).await,
        json!({"following": true})
    );
    assert_eq!(
        api.get_json(&follow, Some(&streamer)).await,
        json!({"following": false})
    );
    let (policy, res) = cache_control(api.get(&follow).by(&fan).send().await);
    assert_eq!(
        (res.status().as_u16(), policy.as_deref()),
        (200, Some("no-store"))
    );
    assert_eq!(api.get(&follow).status().await, 401);
    let ghost = format!("/api/channels/{}/follow", uuid::Uuid::now_v7());
    assert_eq!(api.get(&ghost).by(&fan).status().await, 404);
}

#[tokio::test]
async fn moderators_are_managed_by_the_owner() {
    let api = start(&[]).await;
    let [owner, mod_user, third] = api.users().await;
    let c = &owner.channel_id;
    let moderators = format!("/api/channels/{c}/moderators");
    let moderator = |user_id: &str| format!("{moderators}/{user_id}");
    api.put(moderator(&mod_user.id))
        .by(&owner)
        .expect(204)
        .await;
    // Moderators see the list; they cannot add others.
    let list = api.get_json(&moderators, Some(&mod_user)).await;
    assert_eq!(list[0]["id"], mod_user.id);
    assert_eq!(list[0]["nickname"], mod_user.nickname);
    let by_a_moderator = api.put(moderator(&third.id)).by(&mod_user);
    assert_eq!(by_a_moderator.status().await, 403);
    assert!(
        api.state
            .channels
            .store
            .is_moderator(&c.parse().unwrap(), &mod_user.id.parse().unwrap())
            .await
            .unwrap()
    );

    api.delete(moderator(&mod_user.id))
        .by(&owner)
        .expect(204)
        .await;
    let list = api.get_json(&moderators, Some(&owner)).await;
    assert!(list.as_array().unwrap().is_empty());
    let ghost = moderator(&uuid::Uuid::now_v7().to_string());
    assert_eq!(api.put(ghost).by(&owner).status().await, 404);
}

#[tokio::test]
async fn notices_paginate_newest_first() {
    let api = start(&[]).await;
    let [owner, other] = api.users().await;
    let c = &owner.channel_id;
    for i in 0..5 {
        let notice =
            json!({"title": format!("notice {i}"), "body": "본문", "comments": "followers"});
        assert_eq!(post_notice(&api, &owner, notice).await.status(), 201);
    }
    let notices = format!("/api/channels/{c}/notices");
    let page1 = api.get_json(&format!("{notices}?limit=2"), None).await;
    assert_eq!(page1["items"][0]["title"], "notice 4");
    assert_eq!(page1["items"][1]["title"], "notice 3");
    assert_eq!(page1["items"][0]["comments"], "followers");
    let next = page1["next"].as_str().unwrap();
    let page2 = api
        .get_json(&format!("{notices}?limit=2&cursor={next}"), None)
        .await;
    assert_eq!(page2["items"][0]["title"], "notice 2");
    // A cursor of another channel is refused.
    let elsewhere = format!("/api/channels/{}/notices", other.channel_id);
    let foreign_cursor = api.get(format!("{elsewhere}?cursor={next}"));
    assert_eq!(foreign_cursor.status().await, 400);
    // Defect: a cursor forged from the key layout (base64 of {"pk":"CHANNEL#<id>"}, no sort
    // key) was a 500. Cursors are sealed: forged, tampered or oversized ones are 400, and the
    // real one does not show the table's keys.
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
    let raw = B64.decode(next).unwrap();
    assert!(
        !String::from_utf8_lossy(&raw).contains("CHANNEL"),
        "{raw:?}"
    );
    for forged in [
        B64.encode(format!(r#"{{"pk":"CHANNEL#{c}"}}"#)),
        B64.encode(format!(r#"{{"pk":"CHANNEL#{c}","sk":"NOTICE#~"}}"#)),
        format!("{next}A"),
        "A".repeat(3000),
    ] {
        let res = api.get(format!("{notices}?cursor={forged}"));
        assert_eq!(res.status().await, 400, "{forged}");
    }

    let too_long = json!({"title": "x".repeat(101), "body": ""});
    let (status, body) = status_of(post_notice(&api, &owner, too_long).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);

    let nid = page1["items"][0]["id"].as_str().unwrap();
    let notice = format!("{notices}/{nid}");
    let edit = api.patch(&notice).by(&owner).json(json!({"body": "고침"}));
    assert_eq!(
        edit.send().await.json::<Value>().await.unwrap()["body"],
        "고침"
    );
    assert_eq!(api.get_json(&notice, None).await["body"], "고침");
    // A notice is addressed through its own channel only.
    assert_eq!(api.get(format!("{elsewhere}/{nid}")).status().await, 404);
}

#[tokio::test]
async fn lives_paginate_and_reject_bad_cursors() {
    let api = start(&[]).await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        let u = api.user().await;
        mine.push(api.start_live(&u).await);
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
        assert_eq!(api.get(bad).status().await, 400, "{bad}");
    }
}
