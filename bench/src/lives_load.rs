//! `GET /api/lives` under load: seeds N live channels through the real API and the signed media
//! hook, then sends requests at a fixed rate (open loop: latency is measured from each request's
//! scheduled time, so a slow server cannot hide its queueing) and prints p50/p90/p99/max.
//!
//! Usage: lives-load --base http://127.0.0.1:PORT [--seed 200] [--rate 1000] [--seconds 30]
//! Needs LAIT_MEDIA_SECRET (the server's) to sign the publish calls.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// `GET /api/lives` under load, on seeded live channels.
#[derive(Parser)]
struct Args {
    /// lait-local's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// Live channels to seed.
    #[arg(long, default_value_t = 200)]
    seed: usize,
    /// Requests per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// How long to send them.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
}

async fn seed_one(
    http: &reqwest::Client,
    base: &str,
    secret: &[u8],
    i: usize,
) -> anyhow::Result<()> {
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let email = format!("bench{i}-{tag}@example.com");
    let res = http
        .post(format!("{base}/api/auth/signup"))
        .json(&json!({"email": email, "nickname": format!("bench{i}_{tag}"), "password": "benchmark password"}))
        .send()
        .await?;
    if res.status() != 201 {
        bail!("signup: {} {}", res.status(), res.text().await?);
    }
    let login: Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": email, "password": "benchmark password"}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["access_token"].as_str().context("no access token")?;
    let mine: Value = http
        .get(format!("{base}/api/channels/mine"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let key = mine["stream_key"].as_str().context("no stream key")?;
    let live: Value = signed(
        http,
        base,
        secret,
        "/internal/media/publish",
        &json!({"stream_key": key, "node_id": "bench"}),
    )
    .await?
    .json()
    .await?;
    // As a media node does once the playlists are up: only ready lives are listed.
    signed(
        http,
        base,
        secret,
        "/internal/media/heartbeat",
        &json!({"live_id": live["live_id"], "health": {"ready": true}}),
    )
    .await?;
    Ok(())
}

async fn signed(
    http: &reqwest::Client,
    base: &str,
    secret: &[u8],
    path: &str,
    body: &Value,
) -> anyhow::Result<reqwest::Response> {
    let body = serde_json::to_vec(body)?;
    let now = lait_shared::clock::Timestamp::now();
    let mut req = http
        .post(format!("{base}{path}"))
        .header("content-type", "application/json");
    for (name, value) in lait_shared::signing::headers(secret, now, "POST", path, &body) {
        req = req.header(name, value);
    }
    let res = req.body(body).send().await?;
    if !res.status().is_success() {
        bail!("{path}: {}", res.status());
    }
    Ok(res)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let secret =
        std::env::var("LAIT_MEDIA_SECRET").context("LAIT_MEDIA_SECRET must be the server's")?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;

    let t = Instant::now();
    let mut seeded = 0;
    // Seeding is set-up, not the measurement: a few at a time, retried on a transient error.
    for chunk in (0..a.seed).collect::<Vec<_>>().chunks(4) {
        let (http, base, secret) = (&http, &a.base, secret.as_bytes());
        let results = futures::future::join_all(chunk.iter().map(|i| async move {
            let mut last = None;
            for _ in 0..3 {
                match seed_one(http, base, secret, *i).await {
                    Ok(()) => return Ok(()),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.expect("three attempts"))
        }))
        .await;
        for r in results {
            r?;
            seeded += 1;
        }
    }
    let listed: Value = http
        .get(format!("{}/api/lives?limit=100", a.base))
        .send()
        .await?
        .json()
        .await?;
    eprintln!(
        "seeded {seeded} live channels in {:.1} s; first page holds {}",
        t.elapsed().as_secs_f64(),
        listed["items"].as_array().map_or(0, Vec::len)
    );

    let total = a.rate * a.seconds;
    let interval = Duration::from_secs_f64(1.0 / a.rate as f64);
    let url = format!("{}/api/lives?limit=20", a.base);
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = start + interval * i as u32;
        let http = http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(scheduled).await;
            let ok = match http.get(&url).send().await {
                Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
                Err(_) => false,
            };
            (scheduled.elapsed(), ok)
        }));
    }
    let mut hist = Histogram::<u64>::new(3)?;
    let mut errors = 0;
    for t in tasks {
        let (latency, ok) = t.await?;
        if !ok {
            errors += 1;
        }
        hist.record(latency.as_micros().max(1) as u64)?;
    }
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "GET /api/lives ({} live channels): {} requests at {}/s for {} s: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms, errors {}",
        seeded,
        hist.len(),
        a.rate,
        a.seconds,
        ms(0.50),
        ms(0.90),
        ms(0.99),
        hist.max() as f64 / 1000.0,
        errors
    );
    Ok(())
}
