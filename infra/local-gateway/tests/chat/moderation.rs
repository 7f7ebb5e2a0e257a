//! Moderation over the WebSocket: ban, timeout, delete, clear, and the audit log.

use super::harness::*;

#[tokio::test]
async fn moderation_ban_timeout_delete_clear_and_audit() {
    let s = Stack::new(&[]).await;
    let [owner, viewer, other, modr] = s.users().await;
    let ch = owner.channel_id.clone();
    s.add_moderator(&owner, &modr).await;
    let joining = [&owner, &viewer, &other, &modr];
    let [mut o, mut v, mut x, mut m] = s.joined(joining, &ch).await;

    // A non-moderator's moderation frames are refused before anything else is looked at.
    for frame in [
        json!({"action": "ban", "user_id": viewer.id}),
        json!({"action": "ban"}),
        json!({"action": "delete", "message_id": "nope"}),
        json!({"action": "timeout", "user_id": viewer.id, "seconds": 60}),
        json!({"action": "slow", "seconds": 5}),
        json!({"action": "clear"}),
        json!({"action": "unban", "user_id": viewer.id}),
    ] {
        let r = x.request(frame.clone()).await;
        assert_eq!(r["code"], "forbidden", "{frame}: {r}");
    }

    // Delete reaches every client and hides the message from history.
    let keep = v.say_ok("keep me").await;
    let gone = v.say_ok("delete me").await;
    for c in [&mut o, &mut v, &mut x] {
        c.take("message", 2).await;
    }
    let r = m
        .request(json!({"action": "delete", "message_id": gone}))
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    for c in [&mut o, &mut v, &mut x] {
        let d = c.take("deleted", 1).await;
        assert_eq!(d[0]["message_id"], gone);
    }
    let h = x.request(json!({"action": "history", "limit": 10})).await;
    assert_eq!(ids(h["messages"].as_array().unwrap()), vec![keep.clone()]);
    let history = format!("/api/channels/{ch}/chat");
    let (_, page) = s.get(&history).answer().await;
    assert_eq!(
        ids(page["messages"].as_array().unwrap()),
        vec![keep.clone()]
    );
    let r = m
        .request(json!({"action": "delete", "message_id": "1-0"}))
        .await;
    assert_eq!(r["code"], "not_found");

    // Nobody moderates the owner; a moderator does not moderate another moderator.
    let r = m
        .request(json!({"action": "ban", "user_id": owner.id}))
        .await;
    assert_eq!(r["code"], "forbidden");

    // Timeout: the user cannot send until it ends.
    let r = m
        .request(json!({"action": "timeout", "user_id": other.id, "seconds": 600}))
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    let t = o.take("user_timed_out", 1).await;
    assert_eq!(t[0]["user_id"], other.id);
    let r = x.say("can I?").await;
    assert_eq!(r["code"], "timed_out", "{r}");
    assert!(r["retry_after_ms"].as_u64().unwrap() > 590_000);

    // Ban: the banned user's sockets close, new tickets and reconnects are refused.
    let pre_ban_ticket = s.good_ticket(&viewer, &ch).await;
    let mut v2 = s.join(&viewer, &ch).await;
    let r = o
        .request(json!({"action": "ban", "user_id": viewer.id, "reason": "spam"}))
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    assert!(v.closed().await, "first socket closed");
    assert!(v2.closed().await, "second socket closed");
    assert_eq!(s.connect(&ch, Some(&pre_ban_ticket)).await.err(), Some(403));
    let (status, body) = s.ticket(&viewer, &ch).await;
    assert_eq!(status, 403, "{body}");
    let b = m.take("user_banned", 1).await;
    assert_eq!(b[0]["user_id"], viewer.id);
    // Still readable anonymously, like any viewer.
    assert!(s.connect(&ch, None).await.is_ok());

    let bans_path = format!("/api/channels/{ch}/chat/bans");
    let bans = s.get(&bans_path).by(&modr).expect(200).await;
    assert_eq!(bans["items"][0]["user_id"], viewer.id);
    assert_eq!(bans["items"][0]["reason"], "spam");
    assert_eq!(bans["items"][0]["by"], owner.id);
    assert_eq!(s.get(&bans_path).by(&other).status().await, 403);
    // Defect: a cursor forged from the key layout was a 500 here and on the audit log.
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
    let audit_path = format!("/api/channels/{ch}/chat/audit");
    for (path, pk) in [(&bans_path, "CHSET"), (&audit_path, "CHAUDIT")] {
        let forged = B64.encode(format!(r#"{{"pk":"{pk}#{ch}"}}"#));
        let res = s.get(format!("{path}?cursor={forged}")).by(&owner);
        assert_eq!(res.status().await, 400, "{path}");
    }

    // Unban lets them back in.
    let r = m
        .request(json!({"action": "unban", "user_id": viewer.id}))
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    let mut v3 = s.join(&viewer, &ch).await;
    v3.say_ok("back").await;

    // Clear hides everything before it.
    let r = o.request(json!({"action": "clear"})).await;
    assert_eq!(r["type"], "ack");
    x.take("cleared", 1).await;
    let h = x.request(json!({"action": "history", "limit": 50})).await;
    assert_eq!(h["messages"], json!([]));
    let (_, page) = s.get(&history).answer().await;
    assert_eq!(page["messages"], json!([]));

    // The audit log: the owner reads every action, a moderator may not.
    let audit = format!("/api/channels/{ch}/chat/audit");
    let log = s.get(&audit).by(&owner).expect(200).await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["clear", "unban", "ban", "timeout", "delete"]);
    assert_eq!(log["items"][2]["actor"], owner.id);
    assert_eq!(log["items"][2]["target_user"], viewer.id);
    assert_eq!(log["items"][4]["actor"], modr.id);
    assert_eq!(s.get(&audit).by(&modr).status().await, 403);
}
