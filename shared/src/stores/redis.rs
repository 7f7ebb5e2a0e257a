//! Redis through one multiplexed, auto-reconnecting connection per process.
//!
//! The connection is made on first use, not at start-up: a Lambda cold start or lait-local must not
//! fail because Redis is briefly away, and a failed attempt is retried by the next caller.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    manager: std::sync::Arc<OnceCell<ConnectionManager>>,
}

impl Redis {
    /// `redis://` or `rediss://` (TLS, certificates checked against the system's roots).
    pub fn new(url: &str) -> redis::RedisResult<Self> {
        Ok(Self::with_client(redis::Client::open(url)?))
    }

    pub fn with_client(client: redis::Client) -> Self {
        // The dependency tree enables two rustls back ends, so rustls wants one chosen before a
        // TLS connection is made; the AWS SDK's (aws-lc) it is. A second call is a no-op.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        Self {
            client,
            manager: Default::default(),
        }
    }

    /// A cheap clone of the shared connection.
    pub async fn conn(&self) -> redis::RedisResult<ConnectionManager> {
        let manager = self
            .manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(2)))
                    .set_number_of_retries(2);
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await?;
        Ok(manager.clone())
    }

    /// `PING`, for health checks.
    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
    }
}
