//! Start-up shared by every entry point (Lambda `main`s and lait-local).

use crate::{
    auth::{Authenticator, TokenConfig, TokenService},
    config::{ConfigError, Env, HttpConfig, StoreConfig},
    stores::{self, redis::Redis},
};

/// Clients and settings every function needs. Cheap to clone (clients are handles).
#[derive(Clone)]
pub struct Deps {
    pub sdk: aws_config::SdkConfig,
    pub http: HttpConfig,
    pub stores: StoreConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub redis: Redis,
    /// Verifies access tokens; every function authenticates callers.
    pub auth: Authenticator,
}

/// The store clients alone: what scheduled jobs (the reaper, the chat sweep) need, without the
/// token or HTTP settings every API function reads.
#[derive(Clone)]
pub struct Clients {
    pub sdk: aws_config::SdkConfig,
    pub stores: StoreConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub redis: Redis,
}

impl Clients {
    /// Reads store settings from `env` (problems are reported by `env.finish`) and builds clients.
    pub async fn load(env: &mut Env) -> Self {
        let stores = StoreConfig::read(env);
        let redis = match Redis::new(&stores.redis_url) {
            Ok(r) => r,
            Err(e) => {
                if !stores.redis_url.is_empty() {
                    env.problem("REDIS_URL", e.to_string());
                }
                // Placeholder so start-up can go on collecting problems; never used because
                // `env.finish` fails.
                Redis::new("redis://127.0.0.1:1").expect("static URL parses")
            }
        };
        let endpoint: Option<String> = env.optional("AWS_ENDPOINT_URL");
        let sdk = stores::aws::sdk_config(endpoint.as_deref()).await;
        Self {
            stores,
            dynamodb: stores::aws::dynamodb(&sdk),
            s3: stores::aws::s3(&sdk),
            redis,
            sdk,
        }
    }
}

impl Deps {
    /// [`Clients::load`] plus the HTTP and token settings.
    pub async fn load(env: &mut Env) -> Self {
        let http = HttpConfig::read(env);
        let c = Clients::load(env).await;
        let tokens = TokenService::new(TokenConfig::read(env));
        Self::from_clients(c, http, tokens)
    }

    fn from_clients(c: Clients, http: HttpConfig, tokens: TokenService) -> Self {
        Self {
            http,
            auth: Authenticator::new(tokens, c.redis.clone()),
            stores: c.stores,
            dynamodb: c.dynamodb,
            s3: c.s3,
            redis: c.redis,
            sdk: c.sdk,
        }
    }

    /// The media bucket.
    pub fn media(&self) -> stores::media::MediaBucket {
        stores::media::MediaBucket::new(self.s3.clone(), &self.stores.media_bucket)
    }

    /// The store clients of these dependencies.
    pub fn clients(&self) -> Clients {
        Clients {
            sdk: self.sdk.clone(),
            stores: self.stores.clone(),
            dynamodb: self.dynamodb.clone(),
            s3: self.s3.clone(),
            redis: self.redis.clone(),
        }
    }
}

/// Initialises tracing, reads the environment, loads [`Deps`] and builds a function's state with
/// `build`, which reads its own variables from the same `Env`. Fails with every configuration
/// problem at once.
pub async fn boot<S>(build: impl FnOnce(&mut Env, Deps) -> S) -> Result<S, ConfigError> {
    start(Deps::load, build).await
}

/// Like [`boot`] for scheduled jobs: only the store clients ([`Clients`]).
pub async fn boot_job<S>(build: impl FnOnce(&mut Env, Clients) -> S) -> Result<S, ConfigError> {
    start(Clients::load, build).await
}

/// Like [`boot`] for processes that need only the AWS configuration (the media node).
pub async fn boot_with<S>(
    build: impl FnOnce(&mut Env, &aws_config::SdkConfig) -> S,
) -> Result<S, ConfigError> {
    let sdk = async |env: &mut Env| {
        let endpoint: Option<String> = env.optional("AWS_ENDPOINT_URL");
        stores::aws::sdk_config(endpoint.as_deref()).await
    };
    start(sdk, |env, sdk| build(env, &sdk)).await
}

/// The start-up of every `boot`: tracing, the environment, what `load` reads from it, then the
/// state `build` makes of that; every configuration problem is reported at once.
async fn start<D, S>(
    load: impl AsyncFnOnce(&mut Env) -> D,
    build: impl FnOnce(&mut Env, D) -> S,
) -> Result<S, ConfigError> {
    crate::telemetry::init();
    let mut env = Env::from_process();
    let loaded = load(&mut env).await;
    let state = build(&mut env, loaded);
    env.finish(state).inspect_err(|e| tracing::error!("{e}"))
}

/// A scheduled job on AWS (an EventBridge schedule invokes it): boots its state with
/// [`boot_job`], then answers every event with the JSON summary `run` makes of one run; an error
/// fails the invocation.
pub async fn run_job<S, E: std::fmt::Display>(
    build: impl FnOnce(&mut Env, Clients) -> S,
    run: impl AsyncFn(&S) -> Result<serde_json::Value, E>,
) -> Result<(), lambda_http::Error> {
    let state = boot_job(build).await?;
    let (state, run) = (&state, &run);
    lambda_http::lambda_runtime::run(lambda_http::service_fn(
        move |_: lambda_http::LambdaEvent<serde_json::Value>| async move {
            // Boxed: nested whole in the runtime's futures, a job's future is deeper than the
            // compiler's layout computation goes (the reaper's is).
            Box::pin(run(state))
                .await
                .map_err(|e| lambda_http::Error::from(e.to_string()))
        },
    ))
    .await
}
