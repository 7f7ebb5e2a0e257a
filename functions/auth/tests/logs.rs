//! No secret reaches the logs, at any level: every event of every crate is captured at TRACE while
//! the session flows run, then searched for the passwords, tokens and hashes they used.
//! (Its own test binary: the capturing subscriber is process-wide.)

mod common;

use common::*;
use lait_shared::auth::secret::sha256_hex;
use tracing_subscriber::EnvFilter;

#[tokio::test]
async fn no_secret_is_ever_logged() {
    let capture = lait_shared::telemetry::MemoryWriter::default();
    // Everything, as if an operator set RUST_LOG=trace; the project's own subscriber set-up.
    lait_shared::telemetry::init_with(EnvFilter::new("trace"), capture.clone(), false);

    let api = start(&[]).await;
    let email = format!("{}@example.com", unique("logs"));
    let password = "a very secret passphrase 42";
    assert_eq!(
        api.signup(&email, &unique("logs"), password).await.status(),
        201
    );
    assert_eq!(api.login(&email, "wrong passphrase 42").await.status(), 401);
    let s1 = api.session(&email, password).await;
    let (r1, a1) = (s1.refresh, s1.access);
    assert_eq!(api.me_status(&a1).await, 200);
    let s2 = api.refreshed(&r1).await;
    let (r2, a2) = (s2.refresh, s2.access);
    // Reuse (logged as a warning) and a request with the now-revoked token.
    assert_eq!(api.refresh(&r1).await.status(), 401);
    assert_eq!(api.me_status(&a2).await, 401);
    let r3 = api.session(&email, password).await.refresh;
    assert_eq!(api.logout(&r3).await.status(), 204);

    let logs = capture.contents();
    assert!(
        logs.contains("account created"),
        "the capture works and saw the flows"
    );
    assert!(
        logs.len() > 10_000,
        "TRACE from every crate was captured ({} bytes)",
        logs.len()
    );
    let secrets = [
        ("password", password.to_owned()),
        ("wrong password", "wrong passphrase 42".to_owned()),
        ("access token 1", a1.clone()),
        ("access token 2", a2.clone()),
        (
            "access token signature",
            a1.rsplit('.').next().unwrap().to_owned(),
        ),
        ("refresh token 1", r1.clone()),
        ("refresh token 2", r2.clone()),
        ("refresh token 3", r3.clone()),
        ("refresh token hash", sha256_hex(&r1)),
        ("password hash", "$argon2id$".to_owned()),
        ("jwt secret", std::env::var("LAIT_JWT_SECRET").unwrap()),
    ];
    let leaks: Vec<String> = secrets
        .iter()
        .filter_map(|(name, secret)| {
            let line = logs.lines().find(|l| l.contains(secret.as_str()))?;
            Some(format!("{name}: {}", &line[..line.len().min(300)]))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "secrets in the logs:\n{}",
        leaks.join("\n")
    );
}
