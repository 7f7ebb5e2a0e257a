//! The [`Outbox`] over API Gateway's `@connections` management API.
//!
//! Fan-out is one `PostToConnection` per connection per batch, thousands a second from one
//! flusher. The SDK's orchestrator (interceptors, config bag, retry and identity layers) costs
//! more CPU per call than the request itself, so posts are SigV4-signed with `aws-sigv4` and
//! sent over a pooled hyper client; rare calls (`DeleteConnection`) keep the stock SDK client.

use std::{
    sync::Mutex,
    time::{Duration, SystemTime},
};

use aws_credential_types::{
    Credentials,
    provider::{ProvideCredentials, SharedCredentialsProvider},
};
use aws_sdk_apigatewaymanagement::{Client as ManagementClient, error::DisplayErrorContext};
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SigningSettings, sign},
    sign::v4,
};
use aws_smithy_runtime_api::client::identity::Identity;
use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use futures::{FutureExt, future::BoxFuture};
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use lait_shared::{
    chat::{Outbox, Payload, PostError},
    domain::ids::ConnectionId,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters of a connection id sent as they are in the path (RFC 3986 unreserved).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A post that takes longer than this is abandoned (the SDK has no such limit by default, but a
/// stuck post would hold the room's flush past its lock).
const POST_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts for throttling, 5xx and transport errors, like the SDK's standard retry mode.
const ATTEMPTS: u32 = 3;
/// Credentials are fetched again this long before they expire, and at least this often.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(300);

pub struct ApiOutbox {
    /// `https://{domain}/{stage}` (or lait-local's URL), without a trailing slash.
    endpoint: String,
    region: String,
    credentials: Option<SharedCredentialsProvider>,
    cached: Mutex<Option<(Identity, SystemTime)>>,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    sdk: ManagementClient,
}

impl ApiOutbox {
    pub fn new(sdk_config: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let conf = aws_sdk_apigatewaymanagement::config::Builder::from(sdk_config)
            .endpoint_url(endpoint)
            .build();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(3)));
        connector.enforce_http(false);
        // Both rustls backends are linked (the SDK brings aws-lc), so name one.
        let https = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .expect("ring supports rustls' default TLS versions")
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            region: sdk_config
                .region()
                .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string()),
            credentials: sdk_config.credentials_provider(),
            cached: Mutex::default(),
            http: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(60))
                .build(https),
            sdk: ManagementClient::from_conf(conf),
        }
    }

    /// Current credentials, fetched once and again shortly before they expire.
    async fn identity(&self) -> Result<Identity, PostError> {
        let now = SystemTime::now();
        if let Some((id, refresh_at)) = &*self.cached.lock().unwrap_or_else(|p| p.into_inner())
            && now < *refresh_at
        {
            return Ok(id.clone());
        }
        let provider = self.credentials.as_ref().ok_or_else(|| {
            PostError::Other(anyhow::anyhow!(
                "no AWS credentials to sign @connections calls"
            ))
        })?;
        let creds: Credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| PostError::Other(anyhow::anyhow!("AWS credentials: {e}")))?;
        let refresh_at = creds
            .expiry()
            .and_then(|e| e.checked_sub(CREDENTIALS_MARGIN))
            .unwrap_or(now + CREDENTIALS_MARGIN)
            .min(now + CREDENTIALS_MARGIN);
        let id = Identity::from(creds);
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some((id.clone(), refresh_at));
        Ok(id)
    }

    /// `POST {endpoint}/@connections/{id}` with `data` as the body, SigV4-signed for
    /// `execute-api`.
    fn signed_post(
        &self,
        identity: &Identity,
        connection: &str,
        frame: &Payload,
    ) -> Result<Request<Full<Bytes>>, PostError> {
        let data = frame.data();
        let fail = |e: &dyn std::fmt::Display| PostError::Other(anyhow::anyhow!("signing: {e}"));
        let uri = format!(
            "{}/@connections/{}",
            self.endpoint,
            utf8_percent_encode(connection, PATH_SEGMENT)
        );
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(&uri)
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )
            .header(header::CONTENT_LENGTH, data.len())
            .body(Full::new(data.clone()))
            .map_err(|e| fail(&e))?;
        let authority = req.uri().authority().map(|a| a.as_str().to_owned());
        if let Some(host) = authority.and_then(|a| HeaderValue::from_str(&a).ok()) {
            req.headers_mut().insert(header::HOST, host);
        }
        let params = v4::SigningParams::builder()
            .identity(identity)
            .region(&self.region)
            .name("execute-api")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| fail(&e))?
            .into();
        let headers = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        // The batch's hash is computed once for all its posts.
        let body = SignableBody::Precomputed(frame.sha256_hex().to_owned());
        let signable = SignableRequest::new("POST", &uri, headers, body).map_err(|e| fail(&e))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| fail(&e))?.into_parts();
        instructions.apply_to_request_http1x(&mut req);
        Ok(req)
    }

    async fn post_once(&self, connection: &ConnectionId, frame: &Payload) -> Result<(), Attempt> {
        let identity = self.identity().await.map_err(Attempt::Final)?;
        let req = self
            .signed_post(&identity, connection.as_str(), frame)
            .map_err(Attempt::Final)?;
        let res = match tokio::time::timeout(POST_TIMEOUT, self.http.request(req)).await {
            Err(_) => {
                return Err(Attempt::Retry(anyhow::anyhow!(
                    "no answer in {POST_TIMEOUT:?}"
                )));
            }
            Ok(Err(e)) => return Err(Attempt::Retry(anyhow::anyhow!("transport: {e}"))),
            Ok(Ok(res)) => res,
        };
        let status = res.status();
        // Read the (tiny) body so the connection goes back to the pool.
        let body = res.into_body().collect().await.map(|b| b.to_bytes());
        if status.is_success() {
            return Ok(());
        }
        if status == StatusCode::GONE {
            return Err(Attempt::Final(PostError::Gone));
        }
        let text = body
            .as_deref()
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned())
            .unwrap_or_default();
        let err = anyhow::anyhow!("@connections answered {status}: {text}");
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Err(Attempt::Retry(err))
        } else {
            Err(Attempt::Final(PostError::Other(err)))
        }
    }
}

enum Attempt {
    Retry(anyhow::Error),
    Final(PostError),
}

impl Outbox for ApiOutbox {
    fn post<'a>(
        &'a self,
        connection: &'a ConnectionId,
        frame: &'a Payload,
    ) -> BoxFuture<'a, Result<(), PostError>> {
        async move {
            (|| self.post_once(connection, frame))
                .retry(
                    ExponentialBuilder::default()
                        .with_min_delay(Duration::from_millis(50))
                        .with_max_times(ATTEMPTS as usize - 1),
                )
                .when(|e| matches!(e, Attempt::Retry(_)))
                .await
                .map_err(|e| match e {
                    Attempt::Final(e) => e,
                    Attempt::Retry(e) => PostError::Other(e),
                })
        }
        .boxed()
    }

    fn close<'a>(&'a self, connection: &'a ConnectionId) -> BoxFuture<'a, Result<(), PostError>> {
        async move {
            match self
                .sdk
                .delete_connection()
                .connection_id(connection.as_str())
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_gone_exception()) => {
                    Err(PostError::Gone)
                }
                Err(e) => Err(PostError::Other(anyhow::anyhow!(
                    "{}",
                    DisplayErrorContext(&e)
                ))),
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use aws_config::{BehaviorVersion, Region, SdkConfig};
    use aws_credential_types::provider::future::ProvideCredentials as CredentialsFuture;
    use axum::{body::Bytes as Body, extract::State, http::HeaderMap, routing::post};
    use tokio::sync::mpsc;

    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    /// What the fake management API saw.
    struct Seen {
        path: String,
        headers: HeaderMap,
        body: Body,
    }

    /// Serves `POST /@connections/{id}`: 410 for `gone`, 500 for `broken`, 400 for `bad`, else 200.
    // A stand-in for API Gateway, not one of our HTTP APIs: no OpenAPI entry.
    #[allow(clippy::disallowed_methods)]
    async fn fake_api() -> (String, mpsc::UnboundedReceiver<Seen>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let app = axum::Router::new()
            .route(
                "/@connections/{id}",
                post(
                    |State(tx): State<mpsc::UnboundedSender<Seen>>,
                     uri: http::Uri,
                     headers: HeaderMap,
                     body: Body| async move {
                        let path = uri.path().to_owned();
                        let status = match path.rsplit('/').next() {
                            Some("gone") => StatusCode::GONE,
                            Some("broken") => StatusCode::INTERNAL_SERVER_ERROR,
                            Some("bad") => StatusCode::BAD_REQUEST,
                            _ => StatusCode::OK,
                        };
                        let _ = tx.send(Seen {
                            path,
                            headers,
                            body,
                        });
                        status
                    },
                ),
            )
            .with_state(tx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, rx)
    }

    fn sdk_config(provider: SharedCredentialsProvider) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-2"))
            .credentials_provider(provider)
            .build()
    }

    fn static_creds() -> SharedCredentialsProvider {
        SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            SECRET,
            Some("session-token".into()),
            None,
            "test",
        ))
    }

    /// Checks a request's SigV4 signature the way API Gateway does: recompute it from the
    /// signed headers, the path and the body with the caller's secret.
    fn signature_valid(seen: &Seen, secret: &str) -> bool {
        let auth = seen.headers["authorization"].to_str().unwrap();
        let field = |name: &str| {
            auth.split([' ', ','])
                .find_map(|p| p.strip_prefix(name))
                .unwrap()
                .to_owned()
        };
        let credential = field("Credential=");
        let scope: Vec<&str> = credential.split('/').collect();
        assert_eq!(scope[2..], ["eu-west-2", "execute-api", "aws4_request"]);
        let signed: Vec<String> = field("SignedHeaders=")
            .split(';')
            .map(str::to_owned)
            .collect();
        let amz_date = seen.headers["x-amz-date"].to_str().unwrap();
        let format =
            time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        let at = time::PrimitiveDateTime::parse(amz_date, &format)
            .unwrap()
            .assume_utc();
        let token = seen.headers["x-amz-security-token"].to_str().unwrap();
        let identity = Identity::from(Credentials::new(
            scope[0],
            secret,
            Some(token.into()),
            None,
            "check",
        ));
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(scope[2])
            .name(scope[3])
            .time(at.into())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        // The signer adds the date and token itself.
        let headers = signed
            .iter()
            .filter(|h| !matches!(h.as_str(), "x-amz-date" | "x-amz-security-token"))
            .map(|h| (h.as_str(), seen.headers[h.as_str()].to_str().unwrap()));
        let url = format!(
            "http://{}{}",
            seen.headers["host"].to_str().unwrap(),
            seen.path
        );
        let signable =
            SignableRequest::new("POST", &url, headers, SignableBody::Bytes(&seen.body)).unwrap();
        let expected = sign(signable, &params).unwrap().into_parts().1;
        field("Signature=") == expected
    }

    #[tokio::test]
    async fn posts_are_signed_like_the_sdk_signs_them() {
        let (url, mut seen) = fake_api().await;
        let conf = sdk_config(static_creds());
        let out = ApiOutbox::new(&conf, &url);
        // API Gateway connection ids are base64 and end in `=`.
        out.post(
            &ConnectionId::new("L0SM9cOFvHcCIhw="),
            &Payload::new(Bytes::from_static(b"{\"type\":\"batch\"}")),
        )
        .await
        .unwrap();
        let ours = seen.recv().await.unwrap();
        assert_eq!(ours.path, "/@connections/L0SM9cOFvHcCIhw%3D");
        assert_eq!(&ours.body[..], b"{\"type\":\"batch\"}");
        assert!(signature_valid(&ours, SECRET));
        assert!(!signature_valid(&ours, "another-secret"));

        // The stock client's request passes the same check and has the same path.
        let sdk = ManagementClient::from_conf(
            aws_sdk_apigatewaymanagement::config::Builder::from(&conf)
                .endpoint_url(&url)
                .build(),
        );
        sdk.post_to_connection()
            .connection_id("L0SM9cOFvHcCIhw=")
            .data(aws_sdk_apigatewaymanagement::primitives::Blob::new("x"))
            .send()
            .await
            .unwrap();
        let theirs = seen.recv().await.unwrap();
        assert_eq!(theirs.path, ours.path);
        assert!(signature_valid(&theirs, SECRET));
    }

    #[tokio::test]
    async fn status_codes_map_to_outcomes_and_server_errors_are_retried() {
        let (url, mut seen) = fake_api().await;
        let out = ApiOutbox::new(&sdk_config(static_creds()), &url);
        assert!(matches!(
            out.post(&ConnectionId::new("gone"), &Payload::new(Bytes::new()))
                .await,
            Err(PostError::Gone)
        ));
        assert!(matches!(
            out.post(&ConnectionId::new("bad"), &Payload::new(Bytes::new()))
                .await,
            Err(PostError::Other(_))
        ));
        let err = match out
            .post(&ConnectionId::new("broken"), &Payload::new(Bytes::new()))
            .await
        {
            Err(PostError::Other(e)) => e.to_string(),
            other => panic!("expected an error, got {other:?}"),
        };
        assert!(err.contains("500"), "{err}");
        let mut calls = Vec::new();
        while let Ok(s) = seen.try_recv() {
            calls.push(s.path);
        }
        assert_eq!(
            calls,
            [
                "/@connections/gone",
                "/@connections/bad",
                "/@connections/broken",
                "/@connections/broken",
                "/@connections/broken",
            ]
        );
    }

    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicUsize>,
        lifetime: Duration,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> CredentialsFuture<'a>
        where
            Self: 'a,
        {
            self.calls.fetch_add(1, Ordering::SeqCst);
            CredentialsFuture::ready(Ok(Credentials::new(
                "AKIDEXAMPLE",
                SECRET,
                Some("session-token".into()),
                Some(SystemTime::now() + self.lifetime),
                "counting",
            )))
        }
    }

    #[tokio::test]
    async fn credentials_are_cached_until_shortly_before_they_expire() {
        let (url, _seen) = fake_api().await;
        for (lifetime, fetches) in [(Duration::from_secs(3600), 1), (Duration::from_secs(60), 3)] {
            let calls = Arc::new(AtomicUsize::new(0));
            let provider = SharedCredentialsProvider::new(Counting {
                calls: calls.clone(),
                lifetime,
            });
            let out = ApiOutbox::new(&sdk_config(provider), &url);
            for _ in 0..3 {
                out.post(&ConnectionId::new("c"), &Payload::new(Bytes::new()))
                    .await
                    .unwrap();
            }
            assert_eq!(calls.load(Ordering::SeqCst), fetches, "{lifetime:?}");
        }
    }
}
