//! `GET /health`: each dependency probed concurrently, with its latency; 503 when any is down.

use std::time::{Duration, Instant};

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use lait_shared::{runtime::Deps, stores::TABLES};
use serde::Serialize;

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

#[lait_shared::skip_serializing_none]
#[derive(Debug, Serialize)]
pub struct Probe {
    pub status: &'static str,
    pub latency_ms: f64,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub status: &'static str,
    pub dependencies: Dependencies,
}

#[derive(Debug, Serialize)]
pub struct Dependencies {
    pub redis: Probe,
    pub dynamodb: Probe,
    pub s3: Probe,
}

async fn probe<F>(check: F) -> Probe
where
    F: Future<Output = Result<(), String>>,
{
    let start = Instant::now();
    let result = match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
    };
    let latency_ms = (start.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    match result {
        Ok(()) => Probe {
            status: "up",
            latency_ms,
            error: None,
        },
        Err(e) => Probe {
            status: "down",
            latency_ms,
            error: Some(e),
        },
    }
}

async fn check_dynamodb(deps: &Deps) -> Result<(), String> {
    let out = deps
        .dynamodb
        .list_tables()
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
    let names = out.table_names();
    let missing: Vec<String> = TABLES
        .iter()
        .map(|t| deps.stores.table(t))
        .filter(|t| !names.contains(t))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("missing tables: {}", missing.join(", ")))
    }
}

async fn check_s3(deps: &Deps) -> Result<(), String> {
    deps.s3
        .head_bucket()
        .bucket(&deps.stores.media_bucket)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())
}

pub async fn report(deps: &Deps) -> Report {
    let (redis, dynamodb, s3) = tokio::join!(
        probe(async { deps.redis.ping().await.map_err(|e| e.to_string()) }),
        probe(check_dynamodb(deps)),
        probe(check_s3(deps)),
    );
    let all_up = [&redis, &dynamodb, &s3].iter().all(|p| p.status == "up");
    Report {
        status: if all_up { "ok" } else { "degraded" },
        dependencies: Dependencies {
            redis,
            dynamodb,
            s3,
        },
    }
}

pub async fn health(State(deps): State<Deps>) -> Response {
    let report = report(&deps).await;
    let status = if report.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(report)).into_response()
}
