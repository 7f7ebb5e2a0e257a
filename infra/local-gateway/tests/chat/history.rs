//! History: resuming after a cut, the archive behind Redis, VOD replay and chat settings.

use super::harness::*;

#[tokio::test]
async fn reconnect_with_the_last_id_replays_exactly_the_missed_messages() {
    let s = Stack::new(&[]).await;
    let owner = s.user().await;
    let viewer = s.user().await;
    let ch = owner.channel_id.clone();
    let mut o = s.join(&owner, &ch).await;
    let mut v = s.join(&viewer, &ch).await;
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
    let (_redis, port) = own_redis().await;
    let url = format!("redis://127.0.0.1:{port}");
    let s = Stack::new(&[("REDIS_URL", &url)]).await;
    let owner = s.user().await;
    let ch = owner.channel_id.clone();
    let mut o = s.join(&owner, &ch).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(o.say_ok(&format!("durable {i}")).await);
    }
    o.take("message", 5).await;

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();

    let (status, page) = s
        .call(
            Method::GET,
            &format!("/api/channels/{ch}/chat?limit=3"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(page["messages"].as_array().unwrap()), sent[2..]);
    let before = page["next_before"].as_str().unwrap();
    assert_eq!(before, sent[2]);
    let (_, older) = s
        .call(
            Method::GET,
            &format!("/api/channels/{ch}/chat?before={before}&limit=3"),
            None,
            None,
        )
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

    let (status, _) = s
        .call(
            Method::GET,
            &format!("/api/channels/{ch}/chat?before=zzz"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn replay_of_a_live_and_chat_settings() {
    let s = Stack::new(&[]).await;
    let owner = s.user().await;
    let viewer = s.user().await;
    let ch = owner.channel_id.clone();
    let path = format!("/api/channels/{ch}/chat/settings");
    let (status, body) = s.call(Method::GET, &path, Some(&owner), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"slow_seconds": 0, "messages_per_second": 1.0, "burst": 5, "filter_action": "mask"})
    );
    let (status, body) = s
        .call(
            Method::PATCH,
            &path,
            Some(&owner),
            Some(json!({"burst": 0, "messages_per_second": 99})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");
    let (status, _) = s
        .call(
            Method::PATCH,
            &path,
            Some(&viewer),
            Some(json!({"burst": 2})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = s.call(Method::GET, &path, None, None).await;
    assert_eq!(status, 401);

    // Word list CRUD.
    let words = format!("/api/channels/{ch}/chat/words");
    let (status, body) = s
        .call(
            Method::POST,
            &words,
            Some(&owner),
            Some(json!({"word": "Spoiler"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["words"], json!(["spoiler"]));
    let (status, _) = s
        .call(
            Method::POST,
            &words,
            Some(&owner),
            Some(json!({"word": "!!"})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("{words}/spoiler"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("{words}/spoiler"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Chat during a live is archived in the live's partition and replayed in order.
    let mut o = s.join(&owner, &ch).await;
    o.say_ok("before the live").await;
    let live_id = s.go_live(&owner).await;
    let mut during = Vec::new();
    for i in 0..3 {
        during.push(o.say_ok(&format!("live {i}")).await);
    }
    let (status, _) = s
        .signed(
            "/internal/media/unpublish",
            json!({"live_id": live_id, "duration_secs": 5.0}),
        )
        .await;
    assert_eq!(status, 204);
    o.say_ok("after the live").await;
    let (status, page) = s
        .call(
            Method::GET,
            &format!("/api/lives/{live_id}/chat?limit=2"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["channel_id"], ch);
    assert_eq!(ids(page["messages"].as_array().unwrap()), during[..2]);
    let next = page["next_after"].as_str().unwrap();
    let (_, rest) = s
        .call(
            Method::GET,
            &format!("/api/lives/{live_id}/chat?after={next}&limit=2"),
            None,
            None,
        )
        .await;
    assert_eq!(ids(rest["messages"].as_array().unwrap()), during[2..]);
    assert!(rest.get("next_after").is_none());

    // Replay of a live that does not exist.
    let (status, _) = s
        .call(
            Method::GET,
            &format!("/api/lives/{}/chat", uuid::Uuid::now_v7()),
            None,
            None,
        )
        .await;
    assert_eq!(status, 404);
}
