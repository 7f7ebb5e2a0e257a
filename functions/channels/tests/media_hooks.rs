//! The media node's signed hooks: publish authorization, one live per channel, heartbeats, key
//! rotation, the reaper, unpublish and VODs.

mod common;

use common::*;
use lait_shared::{
    clock::now_secs,
    stores::dynamo::{key, n},
};
use reqwest::Method;
use serde_json::{Value, json};

fn in_list(list: &Value, live_id: &str) -> bool {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["id"] == live_id)
}

#[tokio::test]
async fn a_valid_key_starts_a_live_that_is_listed() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let key = api.stream_key(&owner).await;
    let res = api
        .signed(
            "/internal/media/publish",
            &json!({"stream_key": key, "node_id": "n1", "client_addr": "1.2.3.4"}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["channel_id"], owner.channel_id);
    assert_eq!(body["ladder"]["segment_seconds"], 1.0);
    assert_eq!(body["ladder"]["renditions"].as_array().unwrap().len(), 3);
    let live_id = body["live_id"].as_str().unwrap();

    // Listed means playable: until the node reports its playlists in place, the live is not in
    // the directory and the channel does not show live (the studio sees `live_id`).
    let list = api.get_json("/api/lives?limit=100", None).await;
    assert!(!in_list(&list, live_id), "{list}");
    let channel = api
        .get_json(&format!("/api/channels/{}", owner.channel_id), None)
        .await;
    assert_eq!(channel["live"], false);
    assert_eq!(channel["live_id"], live_id);
    let live = api.get_json(&format!("/api/lives/{live_id}"), None).await;
    assert_eq!(
        (live["status"].as_str(), live["ready"].as_bool()),
        (Some("live"), Some(false))
    );
    // A heartbeat that is not ready changes nothing.
    let res = api
        .signed(
            "/internal/media/heartbeat",
            &json!({"live_id": live_id, "health": {"fps": 30.0}}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(!in_list(
        &api.get_json("/api/lives?limit=100", None).await,
        live_id
    ));
    // Playable before its first thumbnail: listed, with no thumbnail URL to 404 on.
    let hb = |health: Value| json!({"live_id": live_id, "health": health});
    let res = api
        .signed(
            "/internal/media/heartbeat",
            &hb(json!({"ready": true})),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let list = api.get_json("/api/lives?limit=100", None).await;
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == live_id);
    assert_eq!(
        listed.expect("listed")["thumbnail_url"],
        Value::Null,
        "{list}"
    );
    // The thumbnail arrives; a later heartbeat without the flag does not take it back.
    for health in [
        json!({"ready": true, "thumbnail": true}),
        json!({"bitrate_kbps": 1.0}),
    ] {
        let res = api
            .signed("/internal/media/heartbeat", &hb(health), None)
            .await;
        assert_eq!(res.status(), 200);
    }

    let list = api.get_json("/api/lives?limit=100", None).await;
    assert!(in_list(&list, live_id), "{list}");
    let mine = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == live_id)
        .unwrap();
    assert_eq!(mine["channel"]["id"], owner.channel_id);
    assert_eq!(mine["viewer_count"], 0);
    assert_eq!(
        mine["playlist_url"],
        format!("/media/live/{}/{live_id}/master.m3u8", owner.channel_id)
    );
    assert_eq!(
        mine["thumbnail_url"],
        format!("/media/thumbs/{}/latest.jpg", owner.channel_id)
    );

    let channel = api
        .get_json(&format!("/api/channels/{}", owner.channel_id), None)
        .await;
    assert_eq!(channel["live"], true);
    assert_eq!(channel["live_id"], live_id);
    let live = api.get_json(&format!("/api/lives/{live_id}"), None).await;
    assert_eq!(live["status"], "live");
    assert_eq!(live["ready"], true);
}

#[tokio::test]
async fn bad_keys_and_bad_signatures_are_refused() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let key = api.stream_key(&owner).await;
    let publish = |k: &str| json!({"stream_key": k, "node_id": "n1", "client_addr": "1.2.3.4"});

    // Unknown key.
    let (status, _) = status_of(
        api.signed("/internal/media/publish", &publish("lait_wrong"), None)
            .await,
    )
    .await;
    assert_eq!(status, 403);
    // Unsigned.
    let res = api
        .http
        .post(api.url("/internal/media/publish"))
        .json(&publish(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // Stale (and future) timestamps.
    for skew in [-60, 60] {
        let res = api
            .signed(
                "/internal/media/publish",
                &publish(&key),
                Some(now_secs() + skew),
            )
            .await;
        assert_eq!(res.status(), 403, "skew {skew}");
    }
    // Signed with another secret.
    let body = serde_json::to_vec(&publish(&key)).unwrap();
    let ts = now_secs();
    let mut req = api
        .http
        .post(api.url("/internal/media/publish"))
        .header("content-type", "application/json");
    for (name, value) in lait_shared::signing::headers(
        b"not-the-secret",
        ts,
        "POST",
        "/internal/media/publish",
        &body,
    ) {
        req = req.header(name, value);
    }
    assert_eq!(req.body(body.clone()).send().await.unwrap().status(), 403);
    // A valid signature without its nonce.
    let secret = std::env::var("LAIT_MEDIA_SECRET").unwrap();
    let [(t, tv), (s, sv), _] = lait_shared::signing::headers(
        secret.as_bytes(),
        ts,
        "POST",
        "/internal/media/publish",
        &body,
    );
    let res = api
        .http
        .post(api.url("/internal/media/publish"))
        .header("content-type", "application/json")
        .header(t, tv)
        .header(s, sv)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // Replayed: the first copy of a signed request passes, the same bytes again do not.
    let hb = serde_json::to_vec(&json!({"live_id": uuid::Uuid::now_v7(), "health": {}})).unwrap();
    let signed = lait_shared::signing::headers(
        secret.as_bytes(),
        ts,
        "POST",
        "/internal/media/heartbeat",
        &hb,
    );
    let send = || {
        let mut req = api
            .http
            .post(api.url("/internal/media/heartbeat"))
            .header("content-type", "application/json");
        for (name, value) in &signed {
            req = req.header(*name, value);
        }
        req.body(hb.clone()).send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    assert_eq!(send().await.unwrap().status(), 403);
    // The internal routes are not under the public prefix.
    let res = api
        .signed("/api/internal/media/publish", &publish(&key), None)
        .await;
    assert_eq!(res.status(), 404);

    // Nothing went live.
    let channel = api
        .get_json(&format!("/api/channels/{}", owner.channel_id), None)
        .await;
    assert_eq!(channel["live"], false);
}

#[tokio::test]
async fn two_publishers_on_one_channel_make_one_live() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let key = api.stream_key(&owner).await;
    let attempt = |i: usize| {
        let key = key.clone();
        let api = &api;
        async move {
            api.signed(
                "/internal/media/publish",
                &json!({"stream_key": key, "node_id": format!("n{i}")}),
                None,
            )
            .await
            .status()
            .as_u16()
        }
    };
    let statuses = futures::future::join_all((0..4).map(attempt)).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    let channel = api
        .get_json(&format!("/api/channels/{}", owner.channel_id), None)
        .await;
    api.ready(channel["live_id"].as_str().unwrap()).await;
    let lives = api.get_json("/api/lives?limit=100", None).await;
    let count = lives["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["channel"]["id"] == owner.channel_id)
        .count();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn heartbeats_continue_and_rotation_stops_the_old_key() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let key1 = api.stream_key(&owner).await;
    let live_id = api.publish(&key1).await;

    let hb = json!({"live_id": live_id, "health": {"bitrate_kbps": 3000.0, "fps": 30.0, "keyframe_interval": 1.0, "dropped_frames": 0, "upload_lag_ms": 120}});
    let (status, body) = status_of(api.signed("/internal/media/heartbeat", &hb, None).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["action"], "continue");

    // The studio reads the reported health; only the owner may.
    let health_path = format!("/api/lives/{live_id}/health");
    let health = api.get_json(&health_path, Some(&owner)).await;
    assert_eq!(health["health"]["bitrate_kbps"], 3000.0);
    assert_eq!(health["health"]["upload_lag_ms"], 120);
    assert_eq!(health["status"], "live");
    let stranger = api.user().await;
    let res = api
        .call(Method::GET, &health_path, Some(&stranger), None)
        .await;
    assert_eq!(res.status(), 403);
    let res = api.call(Method::GET, &health_path, None, None).await;
    assert_eq!(res.status(), 401);

    let rotated = api
        .call(
            Method::POST,
            "/api/channels/mine/stream-key",
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(rotated.status(), 200);
    let key2 = rotated.json::<Value>().await.unwrap()["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(key1, key2);
    assert!(key2.starts_with("lait_") && key2.len() >= 48);

    // The running live is stopped at its next heartbeat...
    let (_, body) = status_of(api.signed("/internal/media/heartbeat", &hb, None).await).await;
    assert_eq!(body["action"], "stop");
    let live = api.get_json(&format!("/api/lives/{live_id}"), None).await;
    assert_eq!(live["status"], "ended");
    // ...the old key no longer publishes, the new one does.
    let (status, _) = status_of(
        api.signed(
            "/internal/media/publish",
            &json!({"stream_key": key1, "node_id": "n"}),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);
    api.publish(&key2).await;
}

#[tokio::test]
async fn the_reaper_ends_lives_without_heartbeats() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let live_id = api.publish(&api.stream_key(&owner).await).await;
    let fresh = api.user().await;
    let fresh_live = api.publish(&api.stream_key(&fresh).await).await;

    // Age this live's last heartbeat past the 30 s timeout.
    api.state
        .deps
        .dynamodb
        .update_item()
        .table_name(api.state.deps.stores.table("channels"))
        .set_key(Some(key(format!("LIVE#{live_id}"), "META")))
        .update_expression("SET last_heartbeat = :old")
        .expression_attribute_values(":old", n(now_secs() - 31))
        .send()
        .await
        .unwrap();
    // Its node died with the spool; what it uploaded is in S3 (names carry the durations).
    let prefix = format!("live/{}/{live_id}", owner.channel_id);
    for name in [
        "720p/seg_00001_1000ms.ts",
        "720p/seg_00002_967ms.ts",
        "720p/seg_00004_1000ms_d.ts",
        "720p/index.m3u8",
        "480p/seg_00001_1000ms.ts",
    ] {
        api.state
            .deps
            .s3
            .put_object()
            .bucket(&api.state.deps.stores.media_bucket)
            .key(format!("{prefix}/{name}"))
            .body(b"ts".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let ended = lait_channels::reap(&api.state.reaper()).await.unwrap();
    assert!(ended.iter().any(|l| l.to_string() == live_id), "{ended:?}");
    assert!(!ended.iter().any(|l| l.to_string() == fresh_live));

    let live = api.get_json(&format!("/api/lives/{live_id}"), None).await;
    assert_eq!(live["status"], "ended");
    assert_eq!(live["end_reason"], "heartbeat timeout");
    // The reaper closed the recording: a VOD of every stored segment, in order.
    assert_eq!(live["playlist_url"], format!("/media/{prefix}/vod.m3u8"));
    assert!(
        (live["duration_secs"].as_f64().unwrap() - 2.967).abs() < 1e-6,
        "{live}"
    );
    let read = |key: String| {
        let s3 = api.state.deps.s3.clone();
        let bucket = api.state.deps.stores.media_bucket.clone();
        async move {
            let o = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            String::from_utf8(o.body.collect().await.unwrap().to_vec()).unwrap()
        }
    };
    let master = read(format!("{prefix}/vod.m3u8")).await;
    assert!(
        master.contains("720p/vod.m3u8")
            && master.contains("480p/vod.m3u8")
            && !master.contains("360p"),
        "{master}"
    );
    let vod = read(format!("{prefix}/720p/vod.m3u8")).await;
    let uris: Vec<&str> = vod.lines().filter(|l| l.starts_with("seg_")).collect();
    assert_eq!(
        uris,
        [
            "seg_00001_1000ms.ts",
            "seg_00002_967ms.ts",
            "seg_00004_1000ms_d.ts"
        ]
    );
    assert!(
        vod.contains("#EXT-X-DISCONTINUITY\n#EXTINF:1.000,\nseg_00004")
            && vod.ends_with("#EXT-X-ENDLIST\n"),
        "{vod}"
    );
    let list = api.get_json("/api/lives?limit=100", None).await;
    assert!(!in_list(&list, &live_id));
    assert!(in_list(&list, &fresh_live));
    let channel = api
        .get_json(&format!("/api/channels/{}", owner.channel_id), None)
        .await;
    assert_eq!(channel["live"], false);
    // The heartbeat of a reaped live is told to stop.
    let (_, body) = status_of(
        api.signed(
            "/internal/media/heartbeat",
            &json!({"live_id": live_id}),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(body["action"], "stop");
}

#[tokio::test]
async fn unpublish_records_a_vod_that_the_owner_can_delete() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let other = api.user().await;
    let live_id = api.publish(&api.stream_key(&owner).await).await;
    let prefix = format!("live/{}/{live_id}", owner.channel_id);

    // A VOD key outside this live's prefix is refused.
    let (status, _) = status_of(
        api.signed("/internal/media/unpublish", &json!({"live_id": live_id, "vod_playlist_key": format!("live/{}/other/vod.m3u8", other.channel_id), "duration_secs": 1.0}), None).await,
    )
    .await;
    assert_eq!(status, 400);

    let s3 = &api.state.deps.s3;
    let bucket = &api.state.deps.stores.media_bucket;
    for obj in ["vod.m3u8", "720p/vod.m3u8", "720p/seg_00001.ts"] {
        s3.put_object()
            .bucket(bucket)
            .key(format!("{prefix}/{obj}"))
            .body(b"x".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let res = api
        .signed("/internal/media/unpublish", &json!({"live_id": live_id, "vod_playlist_key": format!("{prefix}/vod.m3u8"), "duration_secs": 42.5}), None)
        .await;
    assert_eq!(res.status(), 204);

    let vods = api
        .get_json(&format!("/api/channels/{}/vods", owner.channel_id), None)
        .await;
    let vod = &vods["items"][0];
    assert_eq!(vod["id"], live_id);
    assert_eq!(vod["status"], "ended");
    assert_eq!(vod["duration_secs"], 42.5);
    assert_eq!(vod["playlist_url"], format!("/media/{prefix}/vod.m3u8"));
    assert_eq!(vod["thumbnail_url"], format!("/media/{prefix}/thumb.jpg"));
    assert!(!in_list(
        &api.get_json("/api/lives?limit=100", None).await,
        &live_id
    ));

    // Only the owner deletes it; then objects and listing are gone.
    assert_eq!(
        api.call(
            Method::DELETE,
            &format!("/api/vods/{live_id}"),
            Some(&other),
            None
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        api.call(Method::DELETE, &format!("/api/vods/{live_id}"), None, None)
            .await
            .status(),
        401
    );
    assert_eq!(
        api.call(
            Method::DELETE,
            &format!("/api/vods/{live_id}"),
            Some(&owner),
            None
        )
        .await
        .status(),
        204
    );
    let left = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&prefix)
        .send()
        .await
        .unwrap();
    assert_eq!(left.key_count(), Some(0));
    let vods = api
        .get_json(&format!("/api/channels/{}/vods", owner.channel_id), None)
        .await;
    assert!(vods["items"].as_array().unwrap().is_empty());
    assert_eq!(
        api.call(
            Method::DELETE,
            &format!("/api/vods/{live_id}"),
            Some(&owner),
            None
        )
        .await
        .status(),
        404
    );
}

#[tokio::test]
async fn a_live_ends_at_once_and_its_vod_follows() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let live_id = api.publish(&api.stream_key(&owner).await).await;
    let prefix = format!("live/{}/{live_id}", owner.channel_id);
    let unpublish = async |vod: Option<String>, secs: f64| {
        let body = json!({"live_id": live_id, "vod_playlist_key": vod, "duration_secs": secs});
        status_of(api.signed("/internal/media/unpublish", &body, None).await)
            .await
            .0
    };
    let live = async || api.get_json(&format!("/api/lives/{live_id}"), None).await;
    let vods = format!("/api/channels/{}/vods", owner.channel_id);
    let vod_key = format!("{prefix}/vod.m3u8");

    // The publisher left: the live ends now, without a recording yet.
    assert_eq!(unpublish(None, 0.0).await, 204);
    let l = live().await;
    assert_eq!(l["status"], "ended", "{l}");
    assert!(l["playlist_url"].is_null(), "{l}");
    assert_eq!(api.get_json(&vods, None).await["items"], json!([]));

    // The ladder has encoded the rest: the second call brings the VOD.
    assert_eq!(unpublish(Some(vod_key.clone()), 31.5).await, 204);
    let l = live().await;
    assert_eq!(l["playlist_url"], format!("/media/{vod_key}"), "{l}");
    assert_eq!(l["duration_secs"], 31.5);
    assert_eq!(l["end_reason"], "publisher left");
    let listed = api.get_json(&vods, None).await;
    assert_eq!(listed["items"][0]["id"], live_id, "{listed}");

    // A recording is recorded once: a later call does not replace it, nor one outside the prefix.
    assert_eq!(
        unpublish(Some(format!("{prefix}/other.m3u8")), 1.0).await,
        204
    );
    assert_eq!(unpublish(Some("live/x/y/vod.m3u8".into()), 1.0).await, 400);
    let l = live().await;
    assert_eq!(l["playlist_url"], format!("/media/{vod_key}"));
    assert_eq!(l["duration_secs"], 31.5);
}
