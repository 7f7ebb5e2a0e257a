//! Fan-out: batching, order, the archive before the ack, dead and out-of-time flushers.

use super::harness::*;

#[tokio::test]
async fn batches_deliver_every_message_once_in_order_under_load() {
    let s = Stack::new(&[("LAIT_CHAT_FLUSH_WINDOW_MS", "50")]).await;
    let (mut senders, mut readers) = s.busy_room(4, 5).await;
    // Senders fire without waiting for acks, all at once.
    let per = 25;
    let mut requests = Vec::new();
    for (i, c) in senders.iter_mut().enumerate() {
        let mut mine = Vec::new();
        for j in 0..per {
            let text = format!("{i}:{j}");
            mine.push((
                c.submit(json!({"action": "send", "text": text})).await,
                text,
            ));
        }
        requests.push(mine);
    }
    let total = per * senders.len();
    let mut reference = None;
    let mut id_of = std::collections::HashMap::new();
    for r in readers.iter_mut().chain(senders.iter_mut()) {
        let got = r.take("message", total).await;
        for e in &got {
            id_of.insert(e["text"].as_str().unwrap().to_owned(), e["id"].clone());
        }
        assert_in_order_once(&ids(&got), &mut reference);
        assert!(r.quiet(Duration::from_millis(200)).await);
        assert!(
            r.frames < total,
            "batched: {} frames for {total} messages",
            r.frames
        );
    }
    // Each send is acked exactly once, with the id its message was delivered under.
    for (c, mine) in senders.iter_mut().zip(&requests) {
        for (rid, text) in mine {
            let ack = c.reply_to(rid).await;
            assert_eq!(ack["type"], "ack", "{ack}");
            assert_eq!(ack["id"], id_of[text], "{text}");
        }
        assert!(c.quiet(Duration::from_millis(200)).await);
        assert!(c.replies.is_empty(), "no second ack: {:?}", c.replies);
    }
}

/// Holds `ch`'s flush lock for `ms` as a flusher that took it and died.
async fn dead_flusher(redis: &mut redis::aio::MultiplexedConnection, ch: &str, ms: u64) {
    let _: () = redis::cmd("SET")
        .arg(format!("chat:{{{ch}}}:flush"))
        .arg("dead")
        .arg("PX")
        .arg(ms)
        .query_async(redis)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_dead_flusher_loses_nothing() {
    let (s, _redis, url) = Stack::on_own_redis(&[]).await;
    let (_, ch, mut o, mut anon) = s.room().await;
    // A flusher that took the lock and died: the lock stays until its TTL.
    let mut c = redis_at(&url).await;
    dead_flusher(&mut c, &ch, 800).await;
    let rid = o
        .submit(json!({"action": "send", "text": "stranded"}))
        .await;
    assert!(
        anon.quiet(Duration::from_millis(300)).await,
        "held by the dead lock"
    );
    // Not archived yet, so not acked yet either.
    assert!(o.replies.iter().all(|r| r["request_id"] != rid));
    tokio::time::sleep(Duration::from_millis(600)).await;

    // The periodic sweep (a schedule on AWS, a timer in lait-local) finds it.
    assert_eq!(s.sweep().await, 1);
    let got = anon.take("message", 1).await;
    let ack = o.reply_to(&rid).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(got[0]["id"], ack["id"]);
    assert_eq!(s.sweep().await, 0, "nothing left");

    // Or the next message does, carrying the stranded one with it.
    dead_flusher(&mut c, &ch, 300).await;
    let held = o.submit(json!({"action": "send", "text": "held"})).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let b = o.say_ok("carrier").await;
    let a = o.reply_to(&held).await["id"].as_str().unwrap().to_owned();
    let got = anon.take("message", 2).await;
    assert_eq!(ids(&got), [a, b]);
}

/// The flush window spaces a room's batches; it does not delay a quiet room's message.
#[tokio::test]
async fn a_quiet_room_sends_at_once_and_a_busy_one_in_batches() {
    let s = Stack::new(&[("LAIT_CHAT_FLUSH_WINDOW_MS", "600")]).await;
    let (_, _, mut o, mut anon) = s.room().await;

    let t0 = tokio::time::Instant::now();
    o.submit(json!({"action": "send", "text": "first"})).await;
    anon.take("message", 1).await;
    let first = t0.elapsed();
    assert!(
        first < Duration::from_millis(400),
        "quiet room waited {first:?}"
    );
    assert_eq!(anon.frames, 1);

    // Three more right away: they wait for the rest of the window and go out as one batch.
    for text in ["a", "b", "c"] {
        o.submit(json!({"action": "send", "text": text})).await;
    }
    let got = anon.take("message", 3).await;
    let second = t0.elapsed();
    assert_eq!(texts(&got), ["a", "b", "c"]);
    assert_eq!(anon.frames, 2, "one batch for the three");
    assert!(
        second >= Duration::from_millis(550),
        "the next round waited out the window: {second:?}"
    );
}

/// The archive is written before anyone sees or is acked a message: while DynamoDB fails, the
/// message waits in the stream; once it is back, the next flush stores, delivers and acks it.
#[tokio::test]
async fn messages_wait_for_the_archive_and_are_acked_once_stored() {
    let (_redis, redis_port) = own_redis().await;
    let (_moto, moto_port) = own_moto().await;
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let moto_url = format!("http://127.0.0.1:{moto_port}");
    let overrides = [
        ("REDIS_URL", redis_url.as_str()),
        ("AWS_ENDPOINT_URL", moto_url.as_str()),
    ];
    let s = Stack::new(&overrides).await;
    let (_, ch, mut o, mut anon) = s.room().await;
    let first = o.say_ok("stored").await;
    anon.take("message", 1).await;

    // The archive table goes away (an outage as the client sees it).
    let mut env = env_with(&overrides);
    let deps = lait_shared::runtime::Deps::load(&mut env).await;
    let table = deps.stores.table("chat");
    deps.dynamodb
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let rid = o.submit(json!({"action": "send", "text": "waiting"})).await;
    assert!(
        anon.quiet(Duration::from_millis(500)).await,
        "nothing is delivered unarchived"
    );
    assert!(
        o.replies.iter().all(|r| r["request_id"] != rid),
        "nothing is acked unarchived"
    );

    // Back: the sweep (or the next sender) picks the room up from the same cursor.
    init_stores(moto_port);
    assert_eq!(s.sweep().await, 1);
    let got = anon.take("message", 1).await;
    assert_eq!(got[0]["text"], "waiting");
    let ack = o.reply_to(&rid).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["id"], got[0]["id"]);
    assert!(id_key(&first) < id_key(ack["id"].as_str().unwrap()));

    // It is in the archive: with Redis gone, history still has it.
    flush_redis(&redis_url).await;
    let page = s.get(format!("/api/channels/{ch}/chat")).expect(200).await;
    assert_eq!(texts(page["messages"].as_array().unwrap()), ["waiting"]);
}

#[tokio::test]
async fn a_flusher_out_of_time_hands_over_without_losing_anything() {
    // Budget 0: every flusher sends one batch and hands the room over, as one near its Lambda
    // timeout does.
    let (s, _redis, _) = Stack::on_own_redis(&[("LAIT_CHAT_FLUSH_BUDGET_MS", "0")]).await;
    let (mut senders, mut readers) = s.busy_room(2, 2).await;
    async fn wave(senders: &mut [Client], from: usize) {
        for (i, c) in senders.iter_mut().enumerate() {
            for j in from..from + 10 {
                c.send_raw(&json!({"action": "send", "text": format!("{i}-{j}")}).to_string())
                    .await;
            }
        }
    }
    // The first wave goes out through the senders' own flushers: each sends one round and
    // hands the room over.
    wave(&mut senders, 0).await;
    let mut after_first = Vec::new();
    for r in readers.iter_mut() {
        let n = r.arrived("message", Duration::from_secs(2)).await;
        assert!(n > 0, "the first wave's first round went out");
        after_first.push(n);
    }
    // More of the room goes out only if the room was handed over: a flusher that kept the lock
    // (or dropped the room) would leave all of the second wave to the sweep.
    wave(&mut senders, 10).await;
    for (r, n) in readers.iter_mut().zip(after_first) {
        let m = r.arrived("message", Duration::from_secs(2)).await;
        assert!(
            m > n,
            "the second wave went out before the sweep ({n} then {m})"
        );
    }
    // Whatever arrived during the last batch is the sweep's (a schedule on AWS).
    s.sweep().await;
    let mut reference = None;
    for r in readers.iter_mut() {
        let got = ids(&r.take("message", 40).await);
        assert_in_order_once(&got, &mut reference);
        assert!(r.quiet(Duration::from_millis(200)).await);
    }
}

#[tokio::test]
async fn a_round_slowed_past_the_lock_ttl_is_delivered_once_and_whole() {
    // Each post takes 150 ms and a flusher has 4 in flight (one per delivery lane), so a round
    // to the room's 8 connections takes ~300 ms: past the 200 ms lock. A flusher that let the lock lapse mid-round would be
    // followed by another sender's, which would send the same batch again from the unmoved
    // cursor. The lock is renewed while the round runs: every reader gets every message once.
    let (s, _redis, _) = Stack::on_own_redis(&[
        ("LAIT_CHAT_LOCK_TTL_MS", "200"),
        ("LAIT_WS_POST_LATENCY_MS", "150"),
        ("LAIT_CHAT_FANOUT_CONCURRENCY", "1"),
    ])
    .await;
    let (mut senders, mut readers) = s.busy_room(3, 5).await;
    for round in 0..4 {
        for (i, c) in senders.iter_mut().enumerate() {
            c.send_raw(&json!({"action": "send", "text": format!("{round}-{i}")}).to_string())
                .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut reference = None;
    for r in readers.iter_mut() {
        let got = ids(&r.take("message", 12).await);
        assert_in_order_once(&got, &mut reference);
        // Nothing more: a second copy of a batch would arrive after the first.
        assert!(
            r.quiet(Duration::from_millis(1500)).await,
            "a batch arrived twice"
        );
    }
}

/// Every frame is a billed API Gateway message: a big room's rounds are 250 ms apart, so each
/// viewer gets at most 4 frames a second however fast the room talks; a small room keeps
/// sending each message at once.
#[tokio::test]
async fn a_big_rooms_viewers_get_at_most_four_frames_a_second() {
    async fn frames_per_reader(big_room: &str) -> (Vec<usize>, f64) {
        let s = Stack::new(&[
            ("LAIT_CHAT_FLUSH_WINDOW_MS", "50"),
            ("LAIT_CHAT_BIG_ROOM", big_room),
        ])
        .await;
        let (mut senders, mut readers) = s.busy_room(2, 4).await;
        let t0 = tokio::time::Instant::now();
        // 20 messages a second for 2 s.
        for i in 0..20 {
            for (j, c) in senders.iter_mut().enumerate() {
                c.send_raw(&json!({"action": "send", "text": format!("{i}-{j}")}).to_string())
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut frames = Vec::new();
        let mut reference = None;
        for r in readers.iter_mut() {
            let got = ids(&r.take("message", 40).await);
            assert_in_order_once(&got, &mut reference);
            frames.push(r.frames);
        }
        (frames, t0.elapsed().as_secs_f64())
    }
    // 6 connections: a big room when big rooms start at 4.
    let (big, secs) = frames_per_reader("4").await;
    for f in &big {
        assert!(
            *f as f64 <= 4.0 * secs + 1.0,
            "{f} frames in {secs:.1} s: over 4 a second"
        );
    }
    let (small, _) = frames_per_reader("1000").await;
    let (b, s) = (big.iter().sum::<usize>(), small.iter().sum::<usize>());
    assert!(
        s >= 2 * b,
        "a small room sends more often: {s} frames against the big room's {b}"
    );
}
