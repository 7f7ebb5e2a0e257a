//! Chat fan-out under load: N WebSocket receivers and M senders in one room of lait-local; the
//! senders send R messages/s in total (open loop, on a fixed schedule) for S seconds. Every
//! message carries its scheduled and its actual send time; each receiver records latency from
//! both (a sender that falls behind its schedule shows in the first) and checks ids for loss,
//! duplicates and order. Every send carries a request id, so acks are counted per send: exactly
//! once, never, or more than once. Loss is counted against every send the server did not refuse,
//! acked or not. Prints latency p50/p99/max, deliveries/s, frames/s (= successful
//! PostToConnection calls), and the CPU seconds of the given processes.
//!
//! Usage: chat-load --base http://127.0.0.1:PORT [--clients 1000] [--senders 10] [--rate 20]
//!        [--seconds 30] [--pids name=pid,name=pid]

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;
use futures::{SinkExt, StreamExt, stream};
use hdrhistogram::Histogram;
use lait_bench::{Api, connect_admitted, parse_id};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Chat fan-out under load: receivers and senders in one room of lait-local.
#[derive(Parser)]
struct Args {
    /// lait-local's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// WebSocket receivers (N).
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Senders (M), sharing the rate.
    #[arg(long, default_value_t = 10)]
    senders: usize,
    /// Messages per second, all senders together (R).
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// How long the senders send (S).
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Processes whose CPU seconds to print, as name=pid,name=pid.
    #[arg(long, value_delimiter = ',', value_parser = name_pid)]
    pids: Vec<(String, u32)>,
}

fn args() -> anyhow::Result<Args> {
    let a = Args::parse();
    if a.senders == 0 || a.rate <= 0.0 {
        bail!("--senders and --rate must be positive");
    }
    Ok(a)
}

fn name_pid(pair: &str) -> anyhow::Result<(String, u32)> {
    let (name, pid) = pair.split_once('=').context("--pids name=pid,…")?;
    Ok((name.to_owned(), pid.parse()?))
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU seconds so far of each given process, and of this one.
fn cpu_snapshot(pids: &[(String, u32)]) -> (Vec<Option<f64>>, Option<f64>) {
    let each = pids.iter().map(|(_, p)| cpu_secs(&p.to_string())).collect();
    (each, cpu_secs("self"))
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    messages: Vec<Event<'a>>,
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow)]
    id: &'a str,
    #[serde(default, borrow)]
    text: std::borrow::Cow<'a, str>,
}

/// What one receiver saw.
struct Seen {
    /// From the moment the schedule said to send.
    scheduled: Histogram<u64>,
    /// From the moment the sender actually sent.
    latency: Histogram<u64>,
    unique: u64,
    duplicated: u64,
    reordered: u64,
    frames: u64,
}

#[derive(Default)]
struct Sent {
    /// Acks (or errors) seen per request id.
    replies: std::sync::Mutex<HashMap<String, u32>>,
    acked: AtomicU64,
    refused: AtomicU64,
}

impl Sent {
    fn reply(&self, v: &Value) {
        if let Some(rid) = v["request_id"].as_str() {
            let mut r = self.replies.lock().unwrap_or_else(|p| p.into_inner());
            *r.entry(rid.to_owned()).or_default() += 1;
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let api = Api::new(&a.base);
    let owner = api.user("chat", 0).await?;
    let ch = owner.channel_id.clone();
    // Each sender's share of R must pass the per-user token bucket.
    let per_sender = a.rate / a.senders as f64;
    let res = api
        .http
        .patch(format!("{}/api/channels/{ch}/chat/settings", a.base))
        .bearer_auth(&owner.token)
        .json(&json!({"messages_per_second": (per_sender * 2.0).clamp(1.0, 50.0), "burst": 100}))
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("chat settings: {} {}", res.status(), res.text().await?);
    }

    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    eprintln!("opening {} receivers", a.clients);
    let t0 = Instant::now();
    let url = api.ws(&ch, None);
    // Receivers connect before anything is sent; each runs as its own task.
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(a.clients.max(1));
    let mut receivers = Vec::with_capacity(a.clients);
    let opened: Vec<_> = stream::iter(0..a.clients)
        .map(|_| {
            let url = url.clone();
            async move { connect_admitted(&url).await.map(|(ws, _)| ws) }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    for ws in opened {
        let ws = ws.context("connect a receiver")?;
        let stop = stop.clone();
        let ready = ready_tx.clone();
        receivers.push(tokio::spawn(async move {
            let _ = ready.send(()).await;
            receive(ws, epoch, stop).await
        }));
    }
    for _ in 0..a.clients {
        ready_rx.recv().await;
    }
    eprintln!(
        "{} receivers open in {:.1} s",
        a.clients,
        t0.elapsed().as_secs_f64()
    );

    let mut senders = Vec::new();
    for i in 0..a.senders {
        let u = api.user("chat", i + 1).await?;
        let t = api.ticket(&u, &ch).await?;
        let (ws, _) = connect_admitted(&api.ws(&ch, Some(&t))).await?;
        senders.push(ws);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (cpu_before, self_before) = cpu_snapshot(&a.pids);
    let sent = Arc::new(Sent::default());
    let interval = Duration::from_secs_f64(1.0 / per_sender);
    let count = (per_sender * a.seconds as f64).round() as u64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, ws) in senders.into_iter().enumerate() {
        let sent = sent.clone();
        // Spread the senders over one interval so the total rate is even.
        let offset = interval.mul_f64(i as f64 / a.senders as f64);
        tasks.push(tokio::spawn(async move {
            let (mut tx, mut rx) = ws.split();
            let reader = {
                let sent = sent.clone();
                tokio::spawn(async move {
                    while let Some(Ok(Message::Text(t))) = rx.next().await {
                        let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                        match v["type"].as_str() {
                            Some("ack") => {
                                sent.acked.fetch_add(1, Ordering::Relaxed);
                                sent.reply(&v);
                            }
                            Some("error") => {
                                sent.refused.fetch_add(1, Ordering::Relaxed);
                                sent.reply(&v);
                                eprintln!("refused: {v}");
                            }
                            _ => {}
                        }
                    }
                })
            };
            let start = tokio::time::Instant::now() + offset;
            for seq in 0..count {
                let due = start + interval.mul_f64(seq as f64);
                tokio::time::sleep_until(due).await;
                let scheduled = (due.into_std() - epoch).as_micros() as u64;
                let now = epoch.elapsed().as_micros() as u64;
                let frame = json!({
                    "action": "send",
                    "request_id": format!("{i}:{seq}"),
                    "text": format!("{i}:{seq}:{scheduled}:{now}"),
                });
                if tx.send(Message::text(frame.to_string())).await.is_err() {
                    break;
                }
            }
            (tx, reader)
        }));
    }
    let mut keep = Vec::new();
    for t in tasks {
        keep.push(t.await?);
    }
    let send_secs = started.elapsed().as_secs_f64();
    // Let the last batches arrive.
    let total = a.senders as u64 * count;
    let drain = Instant::now();
    while sent.acked.load(Ordering::Relaxed) + sent.refused.load(Ordering::Relaxed) < total
        && drain.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let wall = started.elapsed().as_secs_f64();
    let (cpu_after, self_after) = cpu_snapshot(&a.pids);
    stop.store(true, Ordering::Relaxed);

    let mut latency = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let mut scheduled = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let (mut unique, mut duplicated, mut reordered, mut frames) = (0u64, 0u64, 0u64, 0u64);
    let mut failed = 0;
    for r in receivers {
        match r.await? {
            Ok(s) => {
                latency.add(&s.latency)?;
                scheduled.add(&s.scheduled)?;
                unique += s.unique;
                duplicated += s.duplicated;
                reordered += s.reordered;
                frames += s.frames;
            }
            Err(e) => {
                failed += 1;
                eprintln!("receiver failed: {e:#}");
            }
        }
    }
    drop(keep);
    let acked = sent.acked.load(Ordering::Relaxed);
    let refused = sent.refused.load(Ordering::Relaxed);
    let (once, repeated, answered) = {
        let r = sent.replies.lock().unwrap_or_else(|p| p.into_inner());
        let once = r.values().filter(|n| **n == 1).count() as u64;
        (once, r.len() as u64 - once, r.len() as u64)
    };
    let unanswered = total.saturating_sub(answered);
    // Every send the server did not refuse must reach every receiver, acked or not.
    let expected = total.saturating_sub(refused) * a.clients as u64;
    let lost = expected.saturating_sub(unique);
    let ms = |v: u64| v as f64 / 1000.0;

    println!(
        "chat-load: N={} receivers, M={} senders, R={} msg/s for {} s",
        a.clients, a.senders, a.rate, a.seconds
    );
    println!("  sent {total}, acked {acked}, refused {refused}; receivers failed: {failed}");
    println!("  replies per send: exactly one {once}, more than one {repeated}, none {unanswered}");
    for (what, h) in [
        ("from the actual send", &latency),
        ("from the schedule", &scheduled),
    ] {
        println!(
            "  delivery latency {what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
            h.len()
        );
    }
    println!(
        "  lost {lost}, duplicated {duplicated}, out of order {reordered} (of {expected} expected deliveries)"
    );
    println!(
        "  deliveries/s {:.0}, PostToConnection (batch frames)/s {:.0}, messages per frame {:.1}",
        unique as f64 / send_secs,
        frames as f64 / send_secs,
        unique as f64 / frames.max(1) as f64
    );
    let mut cpu = Vec::new();
    for ((name, _), (b, af)) in a.pids.iter().zip(cpu_before.iter().zip(&cpu_after)) {
        if let (Some(b), Some(af)) = (b, af) {
            cpu.push(format!("{name} {:.1} s", af - b));
        }
    }
    if let (Some(b), Some(af)) = (self_before, self_after) {
        cpu.push(format!("chat-load {:.1} s", af - b));
    }
    println!("  CPU over {wall:.1} s: {}", cpu.join(", "));
    Ok(())
}

/// Reads one receiver's frames until told to stop.
async fn receive<S>(mut ws: S, epoch: Instant, stop: Arc<AtomicBool>) -> anyhow::Result<Seen>
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut seen = Seen {
        scheduled: Histogram::new_with_bounds(1, 120_000_000, 3)?,
        latency: Histogram::new_with_bounds(1, 120_000_000, 3)?,
        unique: 0,
        duplicated: 0,
        reordered: 0,
        frames: 0,
    };
    let mut ids: HashSet<(u64, u64)> = HashSet::new();
    let mut last = (0, 0);
    // Stops after a quiet half second once told to. One timer for the whole run, not one per
    // frame (thousands of frames a second).
    let mut check = tokio::time::interval(Duration::from_millis(500));
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut quiet = true;
    loop {
        let msg = tokio::select! {
            m = ws.next() => m,
            _ = check.tick() => {
                if quiet && stop.load(Ordering::Relaxed) { break; }
                quiet = true;
                continue;
            }
        };
        quiet = false;
        let Some(Ok(msg)) = msg else { break };
        let Message::Text(text) = msg else { continue };
        let now = epoch.elapsed().as_micros() as u64;
        let frame: Frame = serde_json::from_str(&text)?;
        if frame.kind != "batch" {
            continue;
        }
        seen.frames += 1;
        for e in frame.messages.iter().filter(|e| e.kind == "message") {
            let id = parse_id(e.id).context("message id")?;
            if !ids.insert(id) {
                seen.duplicated += 1;
                continue;
            }
            if id < last {
                seen.reordered += 1;
            }
            last = last.max(id);
            seen.unique += 1;
            // `<sender>:<seq>:<scheduled µs>:<sent µs>`
            let mut times = e.text.rsplit(':').map(|s| s.parse::<u64>().ok());
            if let (Some(Some(sent)), Some(Some(due))) = (times.next(), times.next()) {
                seen.latency.record(now.saturating_sub(sent).max(1))?;
                seen.scheduled.record(now.saturating_sub(due).max(1))?;
            }
        }
    }
    Ok(seen)
}
