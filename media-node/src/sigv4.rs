//! SigV4 for the hook calls on AWS: the HTTP API's `/internal/media/*` routes are IAM-authorized,
//! so a node signs each call with its task role (on top of the shared-secret HMAC, which the
//! channels function checks). Off locally, where lait-local is the API.

use std::time::SystemTime;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SigningSettings, sign},
    sign::v4,
};

/// The node's AWS identity and region, as the SDK found them (task role on ECS).
#[derive(Clone, Debug)]
pub struct SigV4 {
    credentials: SharedCredentialsProvider,
    region: String,
}

impl SigV4 {
    /// `None` when the SDK found no credentials or region (then signing cannot be turned on).
    pub fn from_sdk(sdk: &aws_config::SdkConfig) -> Option<Self> {
        Some(Self {
            credentials: sdk.credentials_provider()?,
            region: sdk.region()?.to_string(),
        })
    }

    /// The headers to add so API Gateway accepts the request: `authorization`, `x-amz-date` and,
    /// with temporary credentials, `x-amz-security-token`. `headers` are every other header the
    /// request will carry (they are signed too).
    pub async fn headers(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        at: SystemTime,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let identity = self.credentials.provide_credentials().await?.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("execute-api")
            .time(at)
            .settings(SigningSettings::default())
            .build()?
            .into();
        let request = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )?;
        let (instructions, _) = sign(request, &params)?.into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_credential_types::Credentials;

    use super::*;

    fn signer(token: Option<&str>) -> SigV4 {
        SigV4 {
            credentials: SharedCredentialsProvider::new(Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                token.map(str::to_owned),
                None,
                "test",
            )),
            region: "ap-northeast-2".into(),
        }
    }

    async fn sign_at(s: &SigV4, body: &[u8]) -> Vec<(String, String)> {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let headers = [("content-type".to_owned(), "application/json".to_owned())];
        s.headers(
            "POST",
            "https://abc.execute-api.ap-northeast-2.amazonaws.com/internal/media/publish",
            &headers,
            body,
            at,
        )
        .await
        .unwrap()
    }

    fn get<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
        h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    #[tokio::test]
    async fn signs_for_execute_api_in_the_region_over_the_body() {
        let s = signer(None);
        let a = sign_at(&s, b"{\"a\":1}").await;
        let auth = get(&a, "authorization").expect("an authorization header");
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20270115/ap-northeast-2/execute-api/aws4_request, "
            ),
            "{auth}"
        );
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date"),
            "{auth}"
        );
        assert_eq!(get(&a, "x-amz-date"), Some("20270115T080000Z"));
        assert_eq!(get(&a, "x-amz-security-token"), None);
        // Same input, same signature; another body, another signature.
        assert_eq!(a, sign_at(&s, b"{\"a\":1}").await);
        let b = sign_at(&s, b"{\"a\":2}").await;
        assert_ne!(get(&a, "authorization"), get(&b, "authorization"));
    }

    #[tokio::test]
    async fn a_task_roles_session_token_is_sent() {
        let a = sign_at(&signer(Some("session-token")), b"{}").await;
        assert_eq!(get(&a, "x-amz-security-token"), Some("session-token"));
    }
}
