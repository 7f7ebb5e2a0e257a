//! Accounts, sessions and profiles against real Redis + moto.

mod common;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use common::*;
use lait_shared::stores::dynamo::key;
use lait_test_kit::{Session, invalid_fields};
use serde_json::{Value, json};

#[tokio::test]
async fn signup_returns_the_user_and_creates_the_channel() {
    let api = start(&[]).await;
    let email = format!("  {}@Example.COM ", unique("Mixed"));
    let nick = unique("라잇");
    let res = api.signup(&email, &nick, "correct horse battery").await;
    assert_eq!(res.status(), 201);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains("argon2") && !text.contains("password"),
        "{text}"
    );
    let user: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(user["email"], email.trim().to_lowercase());
    assert_eq!(user["nickname"], nick);
    let channel_id = user["channel_id"].as_str().unwrap();

    // The channel was written in the same transaction.
    let deps = &api.state.deps;
    let item = deps
        .dynamodb
        .get_item()
        .table_name(deps.stores.table("channels"))
        .set_key(Some(key(format!("CHANNEL#{channel_id}"), "META")))
        .send()
        .await
        .unwrap()
        .item
        .expect("channel item");
    assert_eq!(
        item["owner_id"].as_s().unwrap(),
        user["id"].as_str().unwrap()
    );
    assert_eq!(item["name"].as_s().unwrap(), &nick);
}

#[tokio::test]
async fn duplicate_email_and_nickname_are_409() {
    let api = start(&[]).await;
    let (email, _, user) = api.new_user().await;
    let nick = user["nickname"].as_str().unwrap();
    let other_email = format!("{}@example.com", unique("y"));
    for (field, email, nick) in [
        ("email", email.to_uppercase(), unique("x")),
        ("nickname", other_email, nick.to_uppercase()),
    ] {
        let res = api.signup(&email, &nick, "another good password").await;
        let (status, body) = problem(res).await;
        assert_eq!(status, 409, "{field}");
        assert_eq!(body["errors"][0]["field"], field);
    }
}

#[tokio::test]
async fn invalid_fields_are_400_and_named() {
    let api = start(&[]).await;
    let email = format!("{}@example.com", unique("w"));
    let (status, body) = problem(api.signup(&email, &unique("n"), "short").await).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "password");

    let password = email.to_uppercase();
    let (status, body) = problem(api.signup(&email, &unique("n"), &password).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "password");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("email"), "{message}");

    // Every bad field at once.
    let (status, body) = problem(api.signup("nope", "a", "short").await).await;
    assert_eq!(status, 400);
    assert_eq!(invalid_fields(&body), ["email", "nickname", "password"]);

    // Mistyped JSON is named too.
    let mistyped = json!({"email": 5, "nickname": "ab", "password": "x"});
    let (status, body) = api.post("/api/auth/signup").json(mistyped).problem().await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "email");
}

#[tokio::test]
async fn twenty_parallel_signups_with_one_email_create_one_account() {
    let api = start(&[]).await;
    let email = format!("{}@example.com", unique("race"));
    let attempts = (0..20).map(|i| {
        let api = &api;
        let email = email.clone();
        async move {
            // Distinct client addresses: the race is on the email, not the sign-up rate limit.
            api.http
                .post(api.url("/api/auth/signup"))
                .header("x-forwarded-for", random_ip())
                .json(&json!({"email": email, "nickname": unique(&format!("r{i}_")), "password": "correct horse battery"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn login_issues_tokens_and_a_strict_cookie() {
    let api = start(&[]).await;
    let (email, password, user) = api.new_user().await;
    let res = api
        .login(&format!(" {} ", email.to_uppercase()), &password)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let cookies = set_cookies(&res);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().unwrap() <= 900);
    let refresh = body["refresh_token"].as_str().unwrap();
    assert!(
        URL_SAFE_NO_PAD.decode(refresh).unwrap().len() >= 32,
        "≥ 256 bits"
    );
    let cookie = cookies
        .iter()
        .find(|c| c.starts_with("lait_refresh="))
        .expect("refresh cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/auth"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(cookie.contains(refresh));

    // The access token carries the claims the issue asks for.
    let access = body["access_token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    for c in ["sub", "exp", "iat", "jti", "iss", "aud"] {
        assert!(claims.get(c).is_some(), "missing claim {c}");
    }
    assert_eq!(claims["sub"], user["id"]);

    let (_, me) = api.get("/api/users/me").bearer(access).answer().await;
    assert_eq!(me["id"], user["id"]);
    assert_eq!(me["email"], email);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let api = start(&[]).await;
    let (email, _, _) = api.new_user().await;
    let wrong = api.login(&email, "not the password").await;
    assert_eq!(wrong.status(), 401);
    let wrong_body = wrong.text().await.unwrap();
    let unknown = api
        .login(
            &format!("{}@example.com", unique("ghost")),
            "not the password",
        )
        .await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(unknown.text().await.unwrap(), wrong_body);
    let malformed = api.login("not-an-email", "not the password").await;
    assert_eq!(malformed.status(), 401);
    assert_eq!(malformed.text().await.unwrap(), wrong_body);
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn guessing_one_account_from_one_address_backs_off_exponentially() {
    let api = start(&[("LAIT_LOGIN_BACKOFF", "3/900")]).await;
    let (email, password, _) = api.new_user().await;
    for i in 0..3 {
        let res = api.login(&email, "bad password!").await;
        assert_eq!(res.status(), 401, "free attempt {}", i + 1);
    }
    // The 4th failure costs 1 s, the 5th 2 s: every attempt meanwhile is refused, even the
    // right password.
    for wait in [1, 2] {
        assert_eq!(api.login(&email, "bad password!").await.status(), 401);
        let res = api.login(&email, &password).await;
        assert_eq!(res.status(), 429, "while waiting {wait} s");
        assert_eq!(retry_after(&res), wait);
        tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 100)).await;
    }
    // Once waited out, the right password works and clears the backoff.
    assert_eq!(api.login(&email, &password).await.status(), 200);
    for _ in 0..3 {
        assert_eq!(api.login(&email, "bad password!").await.status(), 401);
    }
}

#[tokio::test]
async fn a_guesser_behind_a_shared_address_locks_out_nobody_else() {
    // Defect: ten failed logins from one IP locked every account behind that IP for 15 minutes.
    let api = start(&[]).await;
    let (victim, _, _) = api.new_user().await;
    let (neighbour, neighbour_password, _) = api.new_user().await;
    for _ in 0..12 {
        let status = api.login(&victim, "bad password!").await.status();
        assert!(status == 401 || status == 429, "{status}");
    }
    // Same address, another account: fine.
    assert_eq!(
        api.login(&neighbour, &neighbour_password).await.status(),
        200
    );
    // Same account, another address: still below the account's own backoff.
    let mut elsewhere = start(&[]).await;
    elsewhere.ip = random_ip();
    assert_eq!(
        elsewhere.login(&victim, "bad password!").await.status(),
        401
    );
}

#[tokio::test]
async fn a_distributed_guess_backs_the_account_off_for_every_address() {
    let api = start(&[("LAIT_LOGIN_ACCOUNT_BACKOFF", "3/300")]).await;
    let (email, password, _) = api.new_user().await;
    let mut guesser = start(&[("LAIT_LOGIN_ACCOUNT_BACKOFF", "3/300")]).await;
    for _ in 0..4 {
        guesser.ip = random_ip();
        assert_eq!(guesser.login(&email, "bad password!").await.status(), 401);
    }
    // A fresh address gets 429 for this account: it waits like everyone else.
    guesser.ip = random_ip();
    let res = guesser.login(&email, &password).await;
    assert_eq!(res.status(), 429);
    assert!((1..=300).contains(&retry_after(&res)));
}

#[tokio::test]
async fn failed_logins_are_limited_per_ip_across_emails() {
    let api = start(&[("LAIT_LOGIN_IP_LIMIT", "10/900")]).await;
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let email = format!("{}@example.com", unique("spray"));
        let res = api.login(&email, "bad password!").await;
        statuses.push((res.status().as_u16(), res));
    }
    assert!(statuses[..10].iter().all(|(s, _)| *s == 401));
    let (status, last) = &statuses[10];
    assert_eq!(*status, 429);
    assert!((1..=900).contains(&retry_after(last)));
}

#[tokio::test]
async fn signups_are_limited_per_ip() {
    let api = start(&[("LAIT_SIGNUP_LIMIT", "3/3600")]).await;
    for _ in 0..3 {
        api.new_user().await;
    }
    let res = api
        .signup(
            &format!("{}@example.com", unique("s")),
            &unique("s"),
            "correct horse battery",
        )
        .await;
    let (status, _) = problem(res).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let api = start(&[]).await;
    let (email, password, _) = api.new_user().await;
    let first = api.session(&email, &password).await;
    let second = api.refreshed(&first.refresh).await;
    assert_ne!(first.refresh, second.refresh);
    assert_eq!(api.me_status(&second.access).await, 200);

    // The first token again: reuse. The whole family dies, including the second and its access
    // token.
    for reused in [&first.refresh, &second.refresh] {
        assert_eq!(problem(api.refresh(reused).await).await.0, 401);
    }
    let res = api.get("/api/users/me").bearer(&second.access).send().await;
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");

    // Other sessions of the same user are untouched.
    let other = api.session(&email, &password).await;
    assert_eq!(api.refresh(&other.refresh).await.status(), 200);
}

#[tokio::test]
async fn refresh_works_from_the_cookie_and_needs_a_token() {
    let api = start(&[]).await;
    let (email, password, _) = api.new_user().await;
    let s = api.session(&email, &password).await;
    let cookie = format!("lait_refresh={}", s.refresh);
    let res = api
        .post("/api/auth/refresh")
        .header("cookie", cookie)
        .send()
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        set_cookies(&res)
            .iter()
            .any(|c| c.starts_with("lait_refresh=") && !c.contains("Max-Age=0"))
    );

    assert_eq!(api.post("/api/auth/refresh").problem().await.0, 401);
    assert_eq!(problem(api.refresh("made-up").await).await.0, 401);
}

/// Neither of the session's tokens works any more.
async fn assert_ended(api: &Api, session: &Session) {
    assert_eq!(api.refresh(&session.refresh).await.status(), 401);
    assert_eq!(api.me_status(&session.access).await, 401);
}

#[tokio::test]
async fn logout_and_logout_all_end_sessions() {
    let api = start(&[]).await;
    let (email, password, _) = api.new_user().await;
    let s1 = api.session(&email, &password).await;
    let s2 = api.session(&email, &password).await;
    let s3 = api.session(&email, &password).await;

    // Logout by refresh token ends that session only.
    let res = api.logout(&s1.refresh).await;
    assert_eq!(res.status(), 204);
    assert!(set_cookies(&res).iter().any(|c| c.contains("Max-Age=0")));
    assert_ended(&api, &s1).await;
    assert_eq!(api.me_status(&s2.access).await, 200);

    // Logout by access token.
    let logout = api.post("/api/auth/logout").bearer(&s2.access);
    assert_eq!(logout.status().await, 204);
    assert_eq!(api.refresh(&s2.refresh).await.status(), 401);

    // Logout-all ends the rest.
    let logout_all = api.post("/api/auth/logout-all").bearer(&s3.access);
    assert_eq!(logout_all.status().await, 204);
    assert_ended(&api, &s3).await;
    // A new login still works.
    api.session(&email, &password).await;

    let (status, _) = problem(api.post("/api/auth/logout").json(json!({})).send().await).await;
    assert_eq!(status, 401);
}

fn sign(claims: &Value, secret: &[u8], alg: jsonwebtoken::Algorithm) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test]
async fn bad_access_tokens_are_401() {
    let api = start(&[]).await;
    let (email, password, user) = api.new_user().await;
    let s = api.session(&email, &password).await;
    let good = s.access.as_str();
    let secret = std::env::var("LAIT_JWT_SECRET").unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();

    let now = claims["iat"].as_i64().unwrap();
    let mut expired = claims.clone();
    expired["iat"] = json!(now - 2000);
    expired["exp"] = json!(now - 1000);
    let other_key = sign(
        &claims,
        b"some-other-key-some-other-key-0000",
        jsonwebtoken::Algorithm::HS256,
    );
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    claims["sub"] = json!(uuid::Uuid::now_v7());
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );

    for (name, token) in [
        (
            "expired",
            sign(&expired, secret.as_bytes(), jsonwebtoken::Algorithm::HS256),
        ),
        ("other key", other_key),
        ("alg none", none),
        ("tampered", tampered),
        ("garbage", "abc.def.ghi".to_owned()),
    ] {
        let res = api.get("/api/users/me").bearer(&token).send().await;
        assert_eq!(res.status(), 401, "{name}");
        let challenge = res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.starts_with("Bearer"), "{name}: {challenge}");
        assert_eq!(problem(res).await.1["status"], 401);
    }
    let res = api.get("/api/users/me").send().await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(api.me_status(good).await, 200);
    let _ = user;
}

#[tokio::test]
async fn public_profile_never_shows_email_or_hash() {
    let api = start(&[]).await;
    let (email, _, user) = api.new_user().await;
    let res = api
        .get(format!("/api/users/{}", user["id"].as_str().unwrap()))
        .send()
        .await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains(&email)
            && !text.contains("argon2")
            && !text.contains("email")
            && !text.contains("password"),
        "{text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "avatar_url",
            "bio",
            "channel_id",
            "created_at",
            "id",
            "nickname"
        ]
    );

    let ghost = format!("/api/users/{}", uuid::Uuid::now_v7());
    for path in ["/api/users/not-a-uuid", &ghost] {
        assert_eq!(api.get(path).problem().await.0, 404, "{path}");
    }
}

#[tokio::test]
async fn profile_updates_move_the_nickname_claim() {
    let api = start(&[]).await;
    let [a, b] = api.users().await;
    let (ta, tb, old_a) = (&a.token, &b.token, a.nickname.clone());
    let update = |token: &str, body: Value| api.patch("/api/users/me").bearer(token).json(body);

    // B cannot take A's nickname, in any case.
    let taken = json!({"nickname": old_a.to_uppercase()});
    let (status, body) = update(tb, taken).problem().await;
    assert_eq!(status, 409);
    assert_eq!(body["errors"][0]["field"], "nickname");

    let new_a = unique("renamed");
    let renamed = json!({"nickname": new_a, "bio": "hello\u{7} there"});
    let me = update(ta, renamed).expect(200).await;
    assert_eq!(me["nickname"], new_a);
    assert_eq!(me["bio"], "hello there");

    // A's old nickname is free now.
    update(tb, json!({"nickname": old_a})).expect(200).await;

    let res = update(ta, json!({"bio": "x".repeat(301)})).send().await;
    assert_eq!(problem(res).await.1["errors"][0]["field"], "bio");
}

/// [hardening] defect 1: `<someone's nickname>\u{3164}` made a second account that looked exactly
/// like the first, and `\u{3164}\u{3164}` a blank one.
#[tokio::test]
async fn nicknames_cannot_copy_another_by_invisible_or_look_alike_characters() {
    let api = start(&[]).await;
    let [a, b] = api.users().await;
    let nick_a = &a.nickname;
    let update = |body: Value| api.patch("/api/users/me").bearer(&b.token).json(body);
    for invisible in [
        format!("{nick_a}\u{3164}"),
        format!("{nick_a}\u{115F}"),
        format!("{nick_a}\u{FFA0}"),
        "\u{3164}\u{3164}".to_owned(),
    ] {
        let (status, body) = update(json!({ "nickname": invisible })).problem().await;
        assert_eq!(status, 400, "{invisible:?}");
        assert_eq!(body["errors"][0]["field"], "nickname");
    }
    // Drawn alike: `0` for `o`, `rn` for `m`, capital `I` for `l` — one skeleton, so taken.
    let base = unique("mol");
    update(json!({ "nickname": base })).expect(200).await;
    let look_alike = base.replacen("mol", "rn0I", 1);
    let c = api.user().await;
    let (status, body) = api
        .patch("/api/users/me")
        .bearer(&c.token)
        .json(json!({ "nickname": look_alike }))
        .problem()
        .await;
    assert_eq!(status, 409, "{look_alike} vs {base}");
    assert_eq!(body["errors"][0]["field"], "nickname");
    let res = api
        .signup(
            &format!("{}@example.com", unique("s")),
            &look_alike,
            "correct horse battery",
        )
        .await;
    assert_eq!(res.status(), 409);
}

const PNG_1X1: &[u8] = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\x0d\x49\x44\x41\x54\x78\xda\x63\x64\xf8\xcf\x50\x0f\x00\x03\x86\x01\x80\x5a\x34\x7d\x6b\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

#[tokio::test]
async fn avatar_upload_is_presigned_checked_and_confirmed() {
    let api = start(&[]).await;
    let (email, password, user) = api.new_user().await;
    let token = api.session(&email, &password).await.access;
    let upload = |content_type: &str, content_length: usize| {
        let body = json!({"content_type": content_type, "content_length": content_length});
        api.post("/api/users/me/avatar").bearer(&token).json(body)
    };

    let (status, body) = upload("image/gif", 100).problem().await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "content_type");
    let (_, body) = upload("image/png", 3_000_000).problem().await;
    assert_eq!(body["errors"][0]["field"], "content_length");

    // The browser's PUT, to the presigned URL (moto here), of `bytes` declared image/png.
    let put = async |bytes: Vec<u8>| {
        let up = upload("image/png", bytes.len()).expect(200).await;
        let put = Client::new()
            .put(up["upload_url"].as_str().unwrap())
            .header("content-type", "image/png")
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "{}", put.text().await.unwrap());
        up["key"].as_str().unwrap().to_owned()
    };
    let confirm = |token: &str, key: &str| {
        api.put("/api/users/me/avatar")
            .bearer(token)
            .json(json!({"key": key}))
    };

    // Defect: an upload declared image/png whose bytes are HTML was accepted and served as
    // stored. Its bytes are checked now: refused, and the object is gone.
    let html = put(b"<!doctype html><script>alert(document.cookie)</script>".to_vec()).await;
    let (status, body) = confirm(&token, &html).problem().await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "key");
    let again = confirm(&token, &html).problem().await;
    assert_eq!(
        again.1["errors"][0]["message"],
        "nothing was uploaded there"
    );

    // A real (1×1) PNG.
    let key = &put(PNG_1X1.to_vec()).await;
    assert!(key.starts_with(&format!("avatars/{}/", user["id"].as_str().unwrap())));
    let me = confirm(&token, key).expect(200).await;
    assert_eq!(me["avatar_url"], format!("/media/{key}"));

    // Someone else's key, or nothing uploaded: refused.
    let (e2, p2, _) = api.new_user().await;
    let t2 = api.session(&e2, &p2).await.access;
    assert_eq!(confirm(&t2, key).problem().await.0, 400);
}
