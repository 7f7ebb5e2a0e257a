//! The media node's signed hooks: publish authorization, one live per channel, heartbeats, key
//! rotation, the reaper, unpublish and VODs.

mod common;

use common::*;
use lait_shared::{
    clock::Timestamp,
    signing,
    stores::dynamo::{key, n},
};
use serde_json::{Value, json};

const PUBLISH: &str = "/internal/media/publish";
const HEARTBEAT: &str = "/internal/media/heartbeat";
const UNPUBLISH: &str = "/internal/media/unpublish";

/// The live's entry in a directory page.
fn listed<'a>(list: &'a Value, live_id: &str) -> Option<&'a Value> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == live_id)
}

fn in_list(list: &Value, live_id: &str) -> bool {
    listed(list, live_id).is_some()
}

/// Stores `body` under each of `names` in `prefix` of the media bucket, as a node uploads.
async fn put_objects(api: &Api, prefix: &str, names: &[&str], body: &[u8]) {
    let deps = &api.state.deps;
    for name in names {
        deps.s3
            .put_object()
            .bucket(&deps.stores.media_bucket)
            .key(format!("{prefix}/{name}"))
            .body(body.to_vec().into())
            .send()
            .await
            .unwrap();
    }
}

/// A media-node request made by hand: `body` POSTed to `path` with exactly `headers`; the status.
async fn post_raw(api: &Api, path: &str, headers: &[(&str, String)], body: &[u8]) -> u16 {
    let mut req = api
        .http
        .post(api.url(path))
        .header("content-type", "application/json");
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let res = req.body(body.to_vec()).send().await.unwrap();
    res.status().as_u16()
}

#[tokio::test]
async fn a_valid_key_starts_a_live_that_is_listed() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let key = api.stream_key(&owner).await;
    let publish = json!({"stream_key": key, "node_id": "n1", "client_addr": "1.2.3.4"});
    let (status, body) = api.hook(PUBLISH, publish).await;
    assert_eq!(status, 200);
    assert_eq!(body["channel_id"], owner.channel_id);
    assert_eq!(body["ladder"]["segment_seconds"], 1.0);
    assert_eq!(body["ladder"]["renditions"].as_array().unwrap().len(), 3);
    let live_id = body["live_id"].as_str().unwrap();

    // Listed means playable: until the node reports its playlists in place, the live is not in
    // the directory and the channel does not show live (the studio sees `live_id`).
    let list = api.lives().await;
    assert!(!in_list(&list, live_id), "{list}");
    let channel = api.channel(&owner.channel_id).await;
    assert_eq!(channel["live"], false);
    assert_eq!(channel["live_id"], live_id);
    let live = api.live(live_id).await;
    assert_eq!(
        (live["status"].as_str(), live["ready"].as_bool()),
        (Some("live"), Some(false))
    );
    // A heartbeat that is not ready changes nothing.
    let hb = |health: Value| json!({"live_id": live_id, "health": health});
    assert_eq!(api.hook(HEARTBEAT, hb(json!({"fps": 30.0}))).await.0, 200);
    assert!(!in_list(&api.lives().await, live_id));
    // Playable before its first thumbnail: listed, with no thumbnail URL to 404 on.
    assert_eq!(api.hook(HEARTBEAT, hb(json!({"ready": true}))).await.0, 200);
    let list = api.lives().await;
    let entry = listed(&list, live_id).expect("listed");
    assert_eq!(entry["thumbnail_url"], Value::Null, "{list}");
    // The thumbnail arrives; a later heartbeat without the flag does not take it back.
    for health in [
        json!({"ready": true, "thumbnail": true}),
        json!({"bitrate_kbps": 1.0}),
    ] {
        assert_eq!(api.hook(HEARTBEAT, hb(health)).await.0, 200);
    }

    let list = api.lives().await;
    assert!(in_list(&list, live_id), "{list}");
    let mine = listed(&list, live_id).unwrap();
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

    let channel = api.channel(&owner.channel_id).await;
    assert_eq!(channel["live"], true);
    assert_eq!(channel["live_id"], live_id);
    let live = api.live(live_id).await;
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
    assert_eq!(api.hook(PUBLISH, publish("lait_wrong")).await.0, 403);
    // Unsigned.
    let body = serde_json::to_vec(&publish(&key)).unwrap();
    assert_eq!(post_raw(&api, PUBLISH, &[], &body).await, 403);
    // Stale (and future) timestamps.
    for skew in [-60, 60] {
        let res = api
            .signed(PUBLISH, &publish(&key), Some(secs_from_now(skew)))
            .await;
        assert_eq!(res.status(), 403, "skew {skew}");
    }
    // Signed with another secret.
    let ts = Timestamp::now();
    let forged = signing::headers(b"not-the-secret", ts, "POST", PUBLISH, &body);
    assert_eq!(post_raw(&api, PUBLISH, &forged, &body).await, 403);
    // A valid signature without its nonce.
    let secret = std::env::var("LAIT_MEDIA_SECRET").unwrap();
    let [t, s, _] = signing::headers(secret.as_bytes(), ts, "POST", PUBLISH, &body);
    assert_eq!(post_raw(&api, PUBLISH, &[t, s], &body).await, 403);
    // Replayed: the first copy of a signed request passes, the same bytes again do not.
    let hb = serde_json::to_vec(&json!({"live_id": uuid::Uuid::now_v7(), "health": {}})).unwrap();
    let signed = signing::headers(secret.as_bytes(), ts, "POST", HEARTBEAT, &hb);
    assert_eq!(post_raw(&api, HEARTBEAT, &signed, &hb).await, 200);
    assert_eq!(post_raw(&api, HEARTBEAT, &signed, &hb).await, 403);
    // The internal routes are not under the public prefix.
    let (status, _) = api.hook("/api/internal/media/publish", publish(&key)).await;
    assert_eq!(status, 404);

    // Nothing went live.
    assert_eq!(api.channel(&owner.channel_id).await["live"], false);
}

/// A node that is full (or stopping) turns a publisher away before any live starts and tells
/// channels, which checks the key like a publish: the owner's studio shows why; a stranger's key
/// records nothing; the next live that starts clears it.
#[tokio::test]
async fn a_node_refusal_reaches_the_owners_studio_and_only_with_the_right_key() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let key = api.stream_key(&owner).await;
    let refused = |k: &str, reason: &str| json!({"stream_key": k, "node_id": "node-a", "client_addr": "1.2.3.4", "refused": reason});
    let mine = || api.get_json("/api/channels/mine", Some(&owner));
    assert!(mine().await["ingest_refusal"].is_null());

    // A wrong key: refused as any publish, nothing recorded anywhere.
    assert_eq!(
        api.hook(PUBLISH, refused("lait_wrong", "node_full"))
            .await
            .0,
        403
    );
    assert!(mine().await["ingest_refusal"].is_null());

    let (status, body) = api.hook(PUBLISH, refused(&key, "node_full")).await;
    assert_eq!(status, 503, "{body}");
    let shown = mine().await["ingest_refusal"].clone();
    assert_eq!(shown["reason"], "node_full");
    assert_eq!(shown["node_id"], "node-a");
    let age = Timestamp::now().unix_secs() - shown["at"].as_i64().unwrap();
    assert!((0..30).contains(&age), "{shown}");
    assert_eq!(
        api.channel(&owner.channel_id).await["live"],
        false,
        "no live started"
    );

    let (status, _) = api.hook(PUBLISH, refused(&key, "node_draining")).await;
    assert_eq!(status, 503);
    assert_eq!(mine().await["ingest_refusal"]["reason"], "node_draining");
    // An unknown reason is a malformed call, not a refusal.
    assert_eq!(api.hook(PUBLISH, refused(&key, "bored")).await.0, 400);

    // The stream then reaches a node with room: the live starts and the notice is gone.
    api.publish(&key).await;
    assert!(mine().await["ingest_refusal"].is_null());
}

/// A media secret rotation: while `LAIT_MEDIA_SECRET_PREVIOUS` is set, nodes still signing with
/// the old key are served; without it (the rotation finished, or never begun) they are refused.
#[tokio::test]
async fn during_a_rotation_the_previous_media_secret_is_accepted_and_only_then() {
    let old = "the media secret being rotated out, 32+ bytes";
    let current = std::env::var("LAIT_MEDIA_SECRET").unwrap();
    let other = "a third key that was never the media secret";

    let rotating = start(&[("LAIT_MEDIA_SECRET_PREVIOUS", old)]).await;
    assert_eq!(
        heartbeat_signed_with(&rotating, old).await,
        200,
        "old key during the rotation"
    );
    assert_eq!(
        heartbeat_signed_with(&rotating, &current).await,
        200,
        "new key"
    );
    assert_eq!(
        heartbeat_signed_with(&rotating, other).await,
        403,
        "any other key"
    );

    let done = start(&[]).await;
    assert_eq!(
        heartbeat_signed_with(&done, old).await,
        403,
        "old key after the rotation"
    );
    assert_eq!(heartbeat_signed_with(&done, &current).await, 200);
}

/// A heartbeat of a fresh live id signed with `key`: its status.
async fn heartbeat_signed_with(api: &Api, key: &str) -> u16 {
    let body = serde_json::to_vec(&json!({"live_id": uuid::Uuid::now_v7(), "health": {}})).unwrap();
    let headers = signing::headers(key.as_bytes(), Timestamp::now(), "POST", HEARTBEAT, &body);
    post_raw(api, HEARTBEAT, &headers, &body).await
}

#[tokio::test]
async fn two_publishers_on_one_channel_make_one_live() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let key = api.stream_key(&owner).await;
    let attempt = async |i: usize| {
        let publish = json!({"stream_key": key, "node_id": format!("n{i}")});
        api.hook(PUBLISH, publish).await.0
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
    let channel = api.channel(&owner.channel_id).await;
    api.ready(channel["live_id"].as_str().unwrap()).await;
    let lives = api.lives().await;
    let count = lives["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["channel"]["id"] == owner.channel_id)
        .count();
    assert_eq!(count, 1);
}

/// A node whose publish call timed out asks again with the live id it chose: it gets the live
/// its first call started, not "already live" (the publisher would be refused, and the channel
/// held by a live nobody streams until the reaper ends it). Anyone else still gets 409.
#[tokio::test]
async fn a_publish_asked_again_with_its_live_id_gets_the_same_live() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let key = api.stream_key(&owner).await;
    let live_id = lait_shared::domain::ids::LiveId::new().to_string();
    let publish =
        |node: &str, live: &str| json!({"stream_key": key, "node_id": node, "live_id": live});
    let (status, first) = api.hook(PUBLISH, publish("n1", &live_id)).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["live_id"], live_id, "the node's id is the live's");
    let (status, again) = api.hook(PUBLISH, publish("n1", &live_id)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first);
    assert_eq!(api.channel(&owner.channel_id).await["live_id"], live_id);

    // Not a replay: another id, or the same id from another node, while the channel is live.
    let other = lait_shared::domain::ids::LiveId::new().to_string();
    assert_eq!(api.hook(PUBLISH, publish("n1", &other)).await.0, 409);
    assert_eq!(api.hook(PUBLISH, publish("n2", &live_id)).await.0, 409);
    // Once the live has ended, its id starts nothing again.
    let (status, _) = api
        .hook(
            UNPUBLISH,
            json!({"live_id": live_id, "vod_playlist_key": null}),
        )
        .await;
    assert!(status < 300, "{status}");
    assert_eq!(api.hook(PUBLISH, publish("n1", &live_id)).await.0, 409);
    assert_eq!(api.channel(&owner.channel_id).await["live"], false);
}

#[tokio::test]
async fn heartbeats_continue_and_rotation_stops_the_old_key() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let key1 = api.stream_key(&owner).await;
    let live_id = api.publish(&key1).await;

    let hb = json!({"live_id": live_id, "health": {"bitrate_kbps": 3000.0, "fps": 30.0, "keyframe_interval": 1.0, "dropped_frames": 0, "upload_lag_ms": 120}});
    let (status, body) = api.hook(HEARTBEAT, hb.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(body["action"], "continue");

    // The studio reads the reported health; only the owner may.
    let health_path = format!("/api/lives/{live_id}/health");
    let health = api.get_json(&health_path, Some(&owner)).await;
    assert_eq!(health["health"]["bitrate_kbps"], 3000.0);
    assert_eq!(health["health"]["upload_lag_ms"], 120);
    assert_eq!(health["status"], "live");
    let stranger = api.user().await;
    assert_eq!(api.get(&health_path).by(&stranger).status().await, 403);
    assert_eq!(api.get(&health_path).status().await, 401);

    let key2 = api.rotate_key(&owner).await;
    assert_ne!(key1, key2);
    assert!(key2.starts_with("lait_") && key2.len() >= 48);

    // The running live is stopped at its next heartbeat...
    let (_, body) = api.hook(HEARTBEAT, hb).await;
    assert_eq!(body["action"], "stop");
    assert_eq!(api.live(&live_id).await["status"], "ended");
    // ...the old key no longer publishes, the new one does.
    let old_key = json!({"stream_key": key1, "node_id": "n"});
    assert_eq!(api.hook(PUBLISH, old_key).await.0, 403);
    api.publish(&key2).await;
}

#[tokio::test]
async fn the_reaper_ends_lives_without_heartbeats() {
    let api = start(&[]).await;
    let [owner, fresh] = api.users().await;
    let live_id = api.start_live(&owner).await;
    let fresh_live = api.start_live(&fresh).await;

    // Age this live's last heartbeat past the 30 s timeout.
    let deps = &api.state.deps;
    deps.dynamodb
        .update_item()
        .table_name(deps.stores.table("channels"))
        .set_key(Some(key(format!("LIVE#{live_id}"), "META")))
        .update_expression("SET last_heartbeat = :old")
        .expression_attribute_values(":old", n(secs_from_now(-31).unix_secs()))
        .send()
        .await
        .unwrap();
    // Its node died with the spool; what it uploaded is in S3 (names carry the durations).
    let prefix = format!("live/{}/{live_id}", owner.channel_id);
    let uploaded = [
        "720p/seg_00001_1000ms.ts",
        "720p/seg_00002_967ms.ts",
        "720p/seg_00004_1000ms_d.ts",
        "720p/index.m3u8",
        "480p/seg_00001_1000ms.ts",
    ];
    put_objects(&api, &prefix, &uploaded, b"ts").await;
    let ended = lait_channels::reap(&api.state.reaper()).await.unwrap();
    assert!(ended.iter().any(|l| l.to_string() == live_id), "{ended:?}");
    assert!(!ended.iter().any(|l| l.to_string() == fresh_live));

    let live = api.live(&live_id).await;
    assert_eq!(live["status"], "ended");
    assert_eq!(live["end_reason"], "heartbeat timeout");
    // The reaper closed the recording: a VOD of every stored segment, in order.
    assert_eq!(live["playlist_url"], format!("/media/{prefix}/vod.m3u8"));
    assert!(
        (live["duration_secs"].as_f64().unwrap() - 2.967).abs() < 1e-6,
        "{live}"
    );
    let read = async |key: String| {
        let bucket = &deps.stores.media_bucket;
        let o = deps.s3.get_object().bucket(bucket).key(key);
        let o = o.send().await.unwrap();
        String::from_utf8(o.body.collect().await.unwrap().to_vec()).unwrap()
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
    let list = api.lives().await;
    assert!(!in_list(&list, &live_id));
    assert!(in_list(&list, &fresh_live));
    assert_eq!(api.channel(&owner.channel_id).await["live"], false);
    // The heartbeat of a reaped live is told to stop.
    let (_, body) = api.hook(HEARTBEAT, json!({"live_id": live_id})).await;
    assert_eq!(body["action"], "stop");
}

#[tokio::test]
async fn unpublish_records_a_vod_that_the_owner_can_delete() {
    let api = start(&[]).await;
    let [owner, other] = api.users().await;
    let live_id = api.start_live(&owner).await;
    let prefix = format!("live/{}/{live_id}", owner.channel_id);
    let unpublish = |vod: String, secs: f64| json!({"live_id": live_id, "vod_playlist_key": vod, "duration_secs": secs});

    // A VOD key outside this live's prefix is refused.
    let elsewhere = format!("live/{}/other/vod.m3u8", other.channel_id);
    assert_eq!(api.hook(UNPUBLISH, unpublish(elsewhere, 1.0)).await.0, 400);

    let objects = ["vod.m3u8", "720p/vod.m3u8", "720p/seg_00001.ts"];
    put_objects(&api, &prefix, &objects, b"x").await;
    let recorded = unpublish(format!("{prefix}/vod.m3u8"), 42.5);
    assert_eq!(api.hook(UNPUBLISH, recorded).await.0, 204);

    let vods_path = format!("/api/channels/{}/vods", owner.channel_id);
    let vods = api.get_json(&vods_path, None).await;
    let vod = &vods["items"][0];
    assert_eq!(vod["id"], live_id);
    assert_eq!(vod["status"], "ended");
    assert_eq!(vod["duration_secs"], 42.5);
    assert_eq!(vod["playlist_url"], format!("/media/{prefix}/vod.m3u8"));
    assert_eq!(vod["thumbnail_url"], format!("/media/{prefix}/thumb.jpg"));
    assert!(!in_list(&api.lives().await, &live_id));

    // Only the owner deletes it; then objects and listing are gone.
    let vod_path = format!("/api/vods/{live_id}");
    for (who, status) in [(Some(&other), 403), (None, 401), (Some(&owner), 204)] {
        assert_eq!(api.delete(&vod_path).by(who).status().await, status);
    }
    let (s3, bucket) = (&api.state.deps.s3, &api.state.deps.stores.media_bucket);
    let left = s3.list_objects_v2().bucket(bucket).prefix(&prefix);
    assert_eq!(left.send().await.unwrap().key_count(), Some(0));
    let vods = api.get_json(&vods_path, None).await;
    assert!(vods["items"].as_array().unwrap().is_empty());
    assert_eq!(api.delete(&vod_path).by(&owner).status().await, 404);
}

#[tokio::test]
async fn a_live_ends_at_once_and_its_vod_follows() {
    let api = start(&[]).await;
    let owner = api.user().await;
    let live_id = api.start_live(&owner).await;
    let prefix = format!("live/{}/{live_id}", owner.channel_id);
    let unpublish = async |vod: Option<String>, secs: f64| {
        let body = json!({"live_id": live_id, "vod_playlist_key": vod, "duration_secs": secs});
        api.hook(UNPUBLISH, body).await.0
    };
    let vods = format!("/api/channels/{}/vods", owner.channel_id);
    let vod_key = format!("{prefix}/vod.m3u8");

    // The publisher left: the live ends now, without a recording yet.
    assert_eq!(unpublish(None, 0.0).await, 204);
    let l = api.live(&live_id).await;
    assert_eq!(l["status"], "ended", "{l}");
    assert!(l["playlist_url"].is_null(), "{l}");
    assert_eq!(api.get_json(&vods, None).await["items"], json!([]));

    // The ladder has encoded the rest: the second call brings the VOD.
    assert_eq!(unpublish(Some(vod_key.clone()), 31.5).await, 204);
    let l = api.live(&live_id).await;
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
    let l = api.live(&live_id).await;
    assert_eq!(l["playlist_url"], format!("/media/{vod_key}"));
    assert_eq!(l["duration_secs"], 31.5);
}

fn secs_from_now(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(Timestamp::now().unix_secs() + secs)
}
