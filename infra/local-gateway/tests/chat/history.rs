//! History: resuming after a cut, the archive behind Redis, VOD replay and chat settings.

use super::harness::*;

#[tokio::test]
async fn reconnect_with_the_last_id_replays_exactly_the_missed_messages() {
    let s = Stack::new(&[]).await;
    let [owner, viewer] = s.users().await;
    let ch = owner.channel_id.clone();
    let [mut o, mut v] = s.joined([&owner, &viewer], &ch).await;
    o.say_ok("seen 1").await;
    o.say_ok("seen 2").await;
    let seen = v.take("message", 2).await;
    let last = seen[1]["id"].as_str().unwrap().to_owned();
    drop(v);

    let mut missed = Vec::new();
    for i in 0..3 {
        missed.push(o.say_ok(&format!("missed {i}")).await);
    }
    let mut v = s.join(&viewer, &ch).await;
    let h = v.request(json!({"action": "history", "after": last})).await;
    assert_eq!(h["type"], "history", "{h}");
    assert_eq!(ids(h["messages"].as_array().unwrap()), missed);
    assert_eq!(h["more"], false);
    // With a limit, `more` says there is another page.
    let h = v
        .request(json!({"action": "history", "after": last, "limit": 2}))
        .await;
    assert_eq!(ids(h["messages"].as_array().unwrap()), missed[..2]);
    assert_eq!(h["more"], true);
}

#[tokio::test]
async fn history_survives_a_redis_flush_through_the_archive() {
    let (s, _redis, url) = Stack::on_own_redis(&[]).await;
    let owner = s.user().await;
    let ch = owner.channel_id.clone();
    let mut o = s.join(&owner, &ch).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(o.say_ok(&format!("durable {i}")).await);
    }
    o.take("message", 5).await;
    flush_redis(&url).await;

    let chat = format!("/api/channels/{ch}/chat");
    let page = s.get(format!("{chat}?limit=3")).expect(200).await;
    assert_eq!(ids(page["messages"].as_array().unwrap()), sent[2..]);
    let before = page["next_before"].as_str().unwrap();
    assert_eq!(before, sent[2]);
    let (_, older) = s
        .get(format!("{chat}?before={before}&limit=3"))
        .answer()
        .await;
    assert_eq!(ids(older["messages"].as_array().unwrap()), sent[..2]);
    assert!(older.get("next_before").is_none());

    // The old connection's registration went with Redis: it is told to reconnect and closed.
    let r = o.say("still there?").await;
    assert_eq!(r["code"], "reconnect", "{r}");
    assert!(o.closed().await);

    // The resume path too, and new messages keep ids after the old ones.
    let mut o = s.join(&owner, &ch).await;
    let h = o
        .request(json!({"action": "history", "after": sent[1]}))
        .await;
    assert_eq!(ids(h["messages"].as_array().unwrap()), sent[2..]);
    let next = o.say_ok("after the flush").await;
    assert!(id_key(&next) > id_key(&sent[4]));
    let got = o.take("message", 1).await;
    assert_eq!(
        got[0]["id"], next,
        "only the new message is delivered, not old history"
    );

    assert_eq!(s.get(format!("{chat}?before=zzz")).status().await, 400);
}

/// Redis down: a chat action is answered `unavailable` (retry later), a REST read 503, never
/// `internal` / 500 (tests/e2e/chat_faults.py does this under 200 clients, and restarts it).
#[tokio::test]
async fn while_redis_is_down_actions_are_unavailable_and_reads_503() {
    let (s, mut redis, _) = Stack::on_own_redis(&[]).await;
    let (_, ch, mut o, _) = s.room().await;
    o.say_ok("before").await;
    redis.kill();
    let r = o.say("during").await;
    assert_eq!(r["type"], "error", "{r}");
    assert_eq!(r["code"], "unavailable", "{r}");
    assert_eq!(r["retry_after_ms"], 2000);
    let (status, body) = s.get(format!("/api/channels/{ch}/chat")).answer().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], "urn:lait:problem:unavailable");
}

#[tokio::test]
async fn replay_of_a_live_and_chat_settings() {
    let s = Stack::new(&[]).await;
    let [owner, viewer] = s.users().await;
    let ch = owner.channel_id.clone();
    let path = format!("/api/channels/{ch}/chat/settings");
    let body = s.get(&path).by(&owner).expect(200).await;
    assert_eq!(
        body,
        json!({"slow_seconds": 0, "messages_per_second": 1.0, "burst": 5, "filter_action": "mask"})
    );
    let invalid = json!({"burst": 0, "messages_per_second": 99});
    let body = s.patch(&path).by(&owner).json(invalid).expect(400).await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");
    let by_a_viewer = s.patch(&path).by(&viewer).json(json!({"burst": 2}));
    assert_eq!(by_a_viewer.status().await, 403);
    assert_eq!(s.get(&path).status().await, 401);

    // Word list CRUD.
    let words = format!("/api/channels/{ch}/chat/words");
    let add = |word: &str| s.post(&words).by(&owner).json(json!({"word": word}));
    let body = add("Spoiler").expect(201).await;
    assert_eq!(body["words"], json!(["spoiler"]));
    assert_eq!(add("!!").status().await, 400);
    // Removed once; then there is nothing to remove.
    for status in [204, 404] {
        let remove = s.delete(format!("{words}/spoiler")).by(&owner);
        assert_eq!(remove.status().await, status);
    }

    // Chat during a live is archived in the live's partition and replayed in order.
    let mut o = s.join(&owner, &ch).await;
    o.say_ok("before the live").await;
    let live_id = s.go_live(&owner).await;
    let mut during = Vec::new();
    for i in 0..3 {
        during.push(o.say_ok(&format!("live {i}")).await);
    }
    let ended = json!({"live_id": live_id, "duration_secs": 5.0});
    assert_eq!(s.hook("/internal/media/unpublish", ended).await.0, 204);
    o.say_ok("after the live").await;
    let replay = format!("/api/lives/{live_id}/chat");
    let page = s.get(format!("{replay}?limit=2")).expect(200).await;
    assert_eq!(page["channel_id"], ch);
    assert_eq!(ids(page["messages"].as_array().unwrap()), during[..2]);
    let next = page["next_after"].as_str().unwrap();
    let (_, rest) = s
        .get(format!("{replay}?after={next}&limit=2"))
        .answer()
        .await;
    assert_eq!(ids(rest["messages"].as_array().unwrap()), during[2..]);
    assert!(rest.get("next_after").is_none());

    // Replay of a live that does not exist.
    let ghost = format!("/api/lives/{}/chat", uuid::Uuid::now_v7());
    assert_eq!(s.get(ghost).status().await, 404);
}

/// Found by schemathesis: `?before=0` (the id 0-0) was a 500, Redis refusing an exclusive range
/// that ends there; resuming after the last id there can be was the same on the WebSocket.
#[tokio::test]
async fn history_at_the_ends_of_the_id_space_is_empty() {
    let s = Stack::new(&[]).await;
    let owner = s.user().await;
    let ch = owner.channel_id.clone();
    let mut o = s.join(&owner, &ch).await;
    o.say_ok("in the middle").await;
    for before in ["0", "0-0"] {
        let page = s
            .get(format!("/api/channels/{ch}/chat?before={before}"))
            .expect(200)
            .await;
        assert_eq!(page["messages"], json!([]), "{before}: {page}");
    }
    let last = "18446744073709551615-18446744073709551615";
    let h = o.request(json!({"action": "history", "after": last})).await;
    assert_eq!(h["type"], "history", "{h}");
    assert_eq!(h["messages"], json!([]));
}
