//! Joining and sending: tickets, who may send, every refusal's error event, frame limits.

use super::harness::*;

#[tokio::test]
async fn two_users_chat_in_order_and_anonymous_reads_only() {
    let s = Stack::new(&[]).await;
    let (owner, ch, mut a, mut anon) = s.room().await;
    let viewer = s.user().await;
    let mut b = s.join(&viewer, &ch).await;

    let mut sent = Vec::new();
    for i in 0..3 {
        sent.push(a.say_ok(&format!("from a {i}")).await);
        sent.push(b.say_ok(&format!("from b {i}")).await);
    }
    for c in [&mut a, &mut b, &mut anon] {
        let got = c.take("message", 6).await;
        assert_eq!(
            ids(&got),
            sent,
            "every client gets every message once, in id order"
        );
        assert_eq!(
            texts(&got),
            [
                "from a 0", "from b 0", "from a 1", "from b 1", "from a 2", "from b 2"
            ]
        );
        assert!(c.quiet(Duration::from_millis(300)).await, "no duplicates");
    }
    // The message shape.
    let m = {
        let id = b.say_ok("shape").await;
        let got = anon.take("message", 1).await.remove(0);
        assert_eq!(got["id"], id);
        got
    };
    assert_eq!(m["channel_id"], ch);
    assert_eq!(m["user"]["id"], viewer.id);
    assert!(m["user"]["nickname"].is_string());
    assert_eq!(m["user"]["badges"], json!([]));
    assert!(m["ts"].as_str().unwrap().ends_with('Z'));
    let owner_msg = {
        a.say_ok("by the owner").await;
        anon.take("message", 1).await.pop().unwrap()
    };
    assert_eq!(owner_msg["user"]["badges"], json!(["owner"]));

    // Anonymous: reads, cannot send or moderate.
    let r = anon.say("hello?").await;
    assert_eq!(r["type"], "error");
    assert_eq!(r["code"], "forbidden");
    assert_eq!(r["action"], "send");
    let r = anon.request(json!({"action": "clear"})).await;
    assert_eq!(r["code"], "forbidden");
    let h = anon.request(json!({"action": "history", "limit": 3})).await;
    assert_eq!(h["type"], "history");
    assert_eq!(
        texts(h["messages"].as_array().unwrap()),
        ["from b 2", "shape", "by the owner"]
    );

    // Viewer counts are distinct connections, cluster-wide in Redis, and the directory shows
    // them once the channel is live.
    let live_id = s.go_live(&owner).await;
    let ready = json!({"live_id": live_id, "health": {"ready": true}});
    assert_eq!(s.hook("/internal/media/heartbeat", ready).await.0, 200);
    let lives = s.lives().await;
    let listed = lives["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == live_id.as_str())
        .cloned();
    assert_eq!(
        listed.map(|l| l["viewer_count"].clone()),
        Some(json!(3)),
        "{lives}"
    );
    let viewers = redis_get(&format!("viewers:{ch}")).await;
    assert_eq!(viewers.as_deref(), Some("3"));
    drop(anon);
    let mut left = false;
    for _ in 0..50 {
        if redis_get(&format!("viewers:{ch}")).await.as_deref() == Some("2") {
            left = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(left, "a closed connection leaves the count");
}

#[tokio::test]
async fn tickets_are_single_use_short_lived_and_per_channel() {
    let s = Stack::new(&[("LAIT_CHAT_TICKET_SECS", "1")]).await;
    let [owner, viewer] = s.users().await;
    let ch = owner.channel_id.clone();

    let (status, body) = s.ticket(&viewer, &ch).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["expires_in"], 1);
    // What the ticket grants, for the client's badges and tools: a viewer sends, no more.
    assert_eq!(body["user"]["id"], viewer.id.as_str());
    assert_eq!(body["user"]["badges"], json!([]));
    assert_eq!(
        body["capabilities"],
        json!({"send": true, "moderate": false})
    );
    let (_, owners) = s.ticket(&owner, &ch).await;
    assert_eq!(owners["user"]["badges"], json!(["owner"]));
    assert_eq!(owners["capabilities"]["moderate"], true);
    let t = body["ticket"].as_str().unwrap();
    assert!(t.len() >= 40, "a long random secret");
    let first = s.connect(&ch, Some(t)).await;
    assert!(first.is_ok());
    assert_eq!(
        s.connect(&ch, Some(t)).await.err(),
        Some(403),
        "reuse refused"
    );

    let viewer_ticket = async || {
        let (_, body) = s.ticket(&viewer, &ch).await;
        body["ticket"].as_str().unwrap().to_owned()
    };
    let t = viewer_ticket().await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        s.connect(&ch, Some(&t)).await.err(),
        Some(403),
        "expired refused"
    );

    // A ticket is for one channel.
    let t = viewer_ticket().await;
    assert_eq!(
        s.connect(&viewer.channel_id, Some(&t)).await.err(),
        Some(403)
    );

    // Bad requests.
    assert_eq!(s.connect("nope", None).await.err(), Some(400));
    let ghost = uuid::Uuid::now_v7().to_string();
    assert_eq!(s.connect(&ghost, None).await.err(), Some(404));
    for (who, channel, status) in [
        (None, ch.as_str(), 401),
        (Some(&viewer), "x", 400),
        (Some(&viewer), ghost.as_str(), 404),
    ] {
        let body = json!({"channel_id": channel});
        s.post("/api/chat/tickets")
            .by(who)
            .json(body)
            .expect(status)
            .await;
    }
}

#[tokio::test]
async fn messages_without_letters_repeat_only_themselves() {
    // Defect: emoji and punctuation folded to the empty string, so `👍`, `!!!` and `???` after
    // any emoji were all "duplicate".
    let s = Stack::new(&[]).await;
    let [owner, viewer] = s.users().await;
    let [mut v] = s.joined([&viewer], &owner.channel_id).await;
    for text in ["😀🎉🚀", "👍", "!!!", "???"] {
        v.say_ok(text).await;
    }
    let r = v.say("!!!").await;
    assert_eq!(r["code"], "duplicate", "{r}");
}

#[tokio::test]
async fn each_refusal_has_its_error_event() {
    let s = Stack::new(&[]).await;
    let [owner, viewer, modr] = s.users().await;
    let ch = owner.channel_id.clone();
    s.add_moderator(&owner, &modr).await;
    let [mut o, mut v, mut md] = s.joined([&owner, &viewer, &modr], &ch).await;

    // Too long: 501 code points. Empty after cleaning: bad_request.
    let r = v.say(&"가".repeat(501)).await;
    assert_eq!(r["code"], "too_long", "{r}");
    let r = v.say(" \u{200B} ").await;
    assert_eq!(r["code"], "bad_request");

    // Duplicate text within 30 s (compared after folding).
    v.say_ok("same thing").await;
    let r = v.say("SAME  thing").await;
    assert_eq!(r["code"], "duplicate", "{r}");
    assert!(r["retry_after_ms"].as_u64().unwrap() > 0);

    // Token bucket: burst 5 (one already spent above), then rate_limited with a retry hint.
    let mut codes = Vec::new();
    for i in 0..6 {
        let r = v.say(&format!("burst {i}")).await;
        codes.push(
            r["code"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| "ok".into()),
        );
    }
    assert_eq!(codes[..4], ["ok", "ok", "ok", "ok"], "{codes:?}");
    assert!(codes[4..].iter().all(|c| c == "rate_limited"), "{codes:?}");
    let r = v.say("one more").await;
    assert_eq!(r["code"], "rate_limited");
    let retry = r["retry_after_ms"].as_u64().unwrap();
    assert!((1..=1000).contains(&retry), "{retry}");
    tokio::time::sleep(Duration::from_millis(retry + 50)).await;
    v.say_ok("after waiting").await;

    // Masked by default: the global list, through a fullwidth + spacing evasion.
    o.say_ok("what the ｆ ｕ ｃ ｋ").await;
    let got = v.take("message", 7).await;
    assert_eq!(got.last().unwrap()["text"], "what the * * * *");

    // A channel's own word and `reject`: refused with `filtered`, zero-width evasion included.
    let path = format!("/api/channels/{ch}/chat/words");
    let words = json!({"words": ["Badword"], "action": "reject"});
    let body = s.put(&path).by(&owner).json(words).expect(200).await;
    assert_eq!(body, json!({"words": ["badword"], "action": "reject"}));
    let mut o2 = s.join(&owner, &ch).await;
    for evasion in [
        "BADWORD",
        "b a d w o r d",
        "bad\u{200B}word",
        "ｂａｄｗｏｒｄ!",
    ] {
        let r = o2.say(evasion).await;
        assert_eq!(r["code"], "filtered", "{evasion}: {r}");
    }
    assert!(
        v.quiet(Duration::from_millis(300)).await,
        "refused messages go nowhere"
    );
    // Non-moderators cannot edit the list.
    let add_word = s.post(&path).by(&viewer).json(json!({"word": "x"}));
    assert_eq!(add_word.status().await, 403);

    // Slow mode: the owner turns it on; a viewer waits, the owner is exempt.
    let r = o.request(json!({"action": "slow", "seconds": 30})).await;
    assert_eq!(r["type"], "ack", "{r}");
    let ev = v.take("slow_mode", 1).await;
    assert_eq!(ev[0]["seconds"], 30);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    v.say_ok("slow 1").await;
    let r = v.say("slow 2").await;
    assert_eq!(r["code"], "slow_mode", "{r}");
    assert!(r["retry_after_ms"].as_u64().unwrap() > 25_000);
    o.say_ok("owner 1").await;
    o.say_ok("owner 2").await;
    md.say_ok("moderator 1").await;
    md.say_ok("moderator 2").await;
    let r = o.request(json!({"action": "slow", "seconds": 3601})).await;
    assert_eq!(r["code"], "bad_request");

    // Malformed frames: each answered, never a crash.
    v.send_raw("{not json").await;
    assert_eq!(v.reply().await["code"], "bad_request");
    v.send_raw(r#"{"action":"fly"}"#).await;
    let r = v.reply().await;
    assert_eq!(r["code"], "bad_request");
    assert!(r["message"].as_str().unwrap().contains("fly"));
    v.send_raw(r#"{"text":"no action"}"#).await;
    assert_eq!(v.reply().await["code"], "bad_request");
    v.send_raw("[1,2]").await;
    assert_eq!(v.reply().await["code"], "bad_request");
    let r = v.request(json!({"action": "send"})).await;
    assert_eq!(r["code"], "bad_request");
    assert!(r["message"].as_str().unwrap().contains("text"));
    let r = v.request(json!({"action": "send", "text": 5})).await;
    assert_eq!(r["code"], "bad_request");
    let r = v
        .request(json!({"action": "history", "after": "yesterday"}))
        .await;
    assert_eq!(r["code"], "bad_request");
    let r = v.request(json!({"action": "history", "limit": 0})).await;
    assert_eq!(r["code"], "bad_request");
    v.ws.send(Message::binary(vec![0u8, 159, 146, 150]))
        .await
        .unwrap();
    assert_eq!(v.reply().await["code"], "bad_request");
    let r = v.request(json!({"action": "ping"})).await;
    assert_eq!(r["type"], "pong");
}

#[tokio::test]
async fn oversized_frames_close_only_their_connection() {
    let s = Stack::new(&[]).await;
    let (_, ch, mut o, mut big) = s.room().await;
    let mut other = s.connect(&ch, None).await.unwrap();

    // 200 KB: over API Gateway's 128 KB message limit (and 32 KB frames), closed with 1009.
    let payload = json!({"action": "send", "text": "x".repeat(200 * 1024)}).to_string();
    let _ = big.ws.send(Message::text(payload)).await;
    let mut code = None;
    while let Ok(Some(msg)) = tokio::time::timeout(WAIT, big.ws.next()).await {
        match msg {
            Ok(Message::Close(Some(f))) => {
                code = Some(u16::from(f.code));
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(code, Some(1009));
    // Everyone else carries on.
    let id = o.say_ok("still here").await;
    assert_eq!(other.take("message", 1).await[0]["id"], id);
}
