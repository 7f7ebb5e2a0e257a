//! OAuth2 authorization-code login with PKCE against a configured provider (Kakao in production;
//! any OAuth2/OIDC provider with the same endpoints works, which is how the tests run it against a
//! provider of their own on loopback).
//!
//! `state` is 256 random bits, kept in Redis for 10 minutes (single use) together with the PKCE
//! verifier, and also bound to the browser by a short-lived cookie: a callback whose `state` is
//! unknown, reused, or not the one of this browser is refused with 400.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::store::ExternalIdentity;
use crate::{
    accounts::ExternalProfile,
    auth::secret,
    config::Env,
    error::{ApiError, Kind},
    stores::redis::Redis,
};

pub const STATE_TTL: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub authorize_url: String,
    pub token_url: String,
    pub userinfo_url: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub redirect_uri: String,
    pub scope: Option<String>,
}

impl ProviderConfig {
    /// Reads `<PREFIX>_AUTHORIZE_URL`, `_TOKEN_URL`, `_USERINFO_URL`, `_CLIENT_ID`,
    /// `_CLIENT_SECRET` (optional), `_REDIRECT_URI`, `_SCOPE` (optional). `None` when none of the
    /// required ones is set (login with this provider disabled); a partial set is a config error.
    pub fn read(env: &mut Env, name: &str, prefix: &str) -> Option<Self> {
        let var = |s: &str| format!("{prefix}_{s}");
        let required = [
            "AUTHORIZE_URL",
            "TOKEN_URL",
            "USERINFO_URL",
            "CLIENT_ID",
            "REDIRECT_URI",
        ];
        let values: Vec<Option<String>> = required.iter().map(|r| env.optional(&var(r))).collect();
        if values.iter().all(Option::is_none) {
            return None;
        }
        for (r, v) in required.iter().zip(&values) {
            if v.is_none() {
                env.problem(
                    &var(r),
                    format!("is required when {name} login is configured"),
                );
            }
        }
        for (r, v) in required.iter().zip(&values) {
            if *r != "CLIENT_ID"
                && let Some(v) = v
                && reqwest::Url::parse(v).is_err()
            {
                env.problem(&var(r), "must be an absolute URL");
            }
        }
        let get = |i: usize| values[i].clone().unwrap_or_default();
        Some(Self {
            name: name.to_owned(),
            authorize_url: get(0),
            token_url: get(1),
            userinfo_url: get(2),
            client_id: get(3),
            client_secret: env.optional(&var("CLIENT_SECRET")),
            redirect_uri: get(4),
            scope: env.optional(&var("SCOPE")),
        })
    }
}

/// A login in progress: where to send the browser, and the state to bind to it.
pub struct Authorization {
    pub redirect_to: String,
    pub state: String,
}

#[derive(Clone)]
pub struct Provider {
    config: ProviderConfig,
    http: reqwest::Client,
    redis: Redis,
}

fn state_key(provider: &str, state: &str) -> String {
    // The state is a bearer secret for 10 minutes; store it hashed.
    format!("oauth:state:{provider}:{}", secret::sha256_hex(state))
}

fn upstream(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "oauth provider call failed");
    ApiError::new(Kind::BadGateway).with_detail("the login provider could not be reached")
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

impl Provider {
    pub fn new(config: ProviderConfig, redis: Redis) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client");
        Self {
            config,
            http,
            redis,
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Starts a login: a fresh state and PKCE pair, the verifier kept in Redis.
    pub async fn start(&self) -> Result<Authorization, ApiError> {
        let state = secret::random(32);
        let verifier = secret::random(32);
        let mut conn = self.redis.conn().await?;
        redis::cmd("SET")
            .arg(state_key(&self.config.name, &state))
            .arg(&verifier)
            .arg("EX")
            .arg(STATE_TTL.as_secs())
            .query_async::<()>(&mut conn)
            .await?;
        let mut url =
            reqwest::Url::parse(&self.config.authorize_url).map_err(ApiError::internal)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.config.client_id)
                .append_pair("redirect_uri", &self.config.redirect_uri)
                .append_pair("state", &state)
                .append_pair("code_challenge", &secret::pkce_challenge(&verifier))
                .append_pair("code_challenge_method", "S256");
            if let Some(scope) = &self.config.scope {
                q.append_pair("scope", scope);
            }
        }
        Ok(Authorization {
            redirect_to: url.into(),
            state,
        })
    }

    /// Finishes a login: checks `state` against the browser's cookie and consumes it, exchanges
    /// the code (with the PKCE verifier) and reads the user's profile.
    pub async fn finish(
        &self,
        state: &str,
        cookie_state: Option<&str>,
        code: &str,
    ) -> Result<ExternalProfile, ApiError> {
        let forged = || {
            ApiError::bad_request(
                "the login state is invalid or has expired; start the login again",
            )
        };
        if !cookie_state.is_some_and(|c| secret::same(c, state)) {
            return Err(forged());
        }
        let mut conn = self.redis.conn().await?;
        let verifier: Option<String> = redis::cmd("GETDEL")
            .arg(state_key(&self.config.name, state))
            .query_async(&mut conn)
            .await?;
        let verifier = verifier.ok_or_else(forged)?;

        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.config.redirect_uri.as_str()),
            ("client_id", self.config.client_id.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        if let Some(secret) = &self.config.client_secret {
            form.push(("client_secret", secret.as_str()));
        }
        let res = self
            .http
            .post(&self.config.token_url)
            .form(&form)
            .send()
            .await
            .map_err(upstream)?;
        if res.status().is_client_error() {
            return Err(ApiError::bad_request(
                "the login provider rejected the authorization code",
            ));
        }
        if !res.status().is_success() {
            return Err(upstream(format!(
                "token endpoint answered {}",
                res.status()
            )));
        }
        let token: TokenResponse = res.json().await.map_err(upstream)?;

        let res = self
            .http
            .get(&self.config.userinfo_url)
            .bearer_auth(&token.access_token)
            .send()
            .await
            .map_err(upstream)?;
        if !res.status().is_success() {
            return Err(upstream(format!(
                "userinfo endpoint answered {}",
                res.status()
            )));
        }
        let info: Value = res.json().await.map_err(upstream)?;
        parse_profile(&self.config.name, &info).ok_or_else(|| upstream("userinfo has no subject"))
    }
}

/// Reads a profile from Kakao's `/v2/user/me` shape or an OIDC userinfo shape.
pub fn parse_profile(provider: &str, v: &Value) -> Option<ExternalProfile> {
    let subject = match (v.get("sub"), v.get("id")) {
        (Some(Value::String(s)), _) => s.clone(),
        (_, Some(Value::Number(n))) => n.to_string(),
        (_, Some(Value::String(s))) => s.clone(),
        _ => return None,
    };
    if subject.is_empty() {
        return None;
    }
    let account = v.get("kakao_account");
    let str_at = |path: &[&str]| -> Option<String> {
        let mut cur = v;
        for p in path {
            cur = cur.get(p)?;
        }
        cur.as_str().map(str::to_owned)
    };
    let email = str_at(&["email"]).or_else(|| str_at(&["kakao_account", "email"]));
    let email_verified = v
        .get("email_verified")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || account.is_some_and(|a| {
            a.get("is_email_verified").and_then(Value::as_bool) == Some(true)
                && a.get("is_email_valid").and_then(Value::as_bool) != Some(false)
        });
    let nickname = str_at(&["nickname"])
        .or_else(|| str_at(&["preferred_username"]))
        .or_else(|| str_at(&["name"]))
        .or_else(|| str_at(&["kakao_account", "profile", "nickname"]))
        .or_else(|| str_at(&["properties", "nickname"]));
    Some(ExternalProfile {
        identity: ExternalIdentity {
            provider: provider.to_owned(),
            subject,
        },
        email,
        email_verified,
        nickname,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kakao_and_oidc_profiles() {
        let kakao = json!({"id": 1234, "kakao_account": {"email": "a@b.kr", "is_email_verified": true, "is_email_valid": true, "profile": {"nickname": "라잇"}}});
        let p = parse_profile("kakao", &kakao).unwrap();
        assert_eq!(p.identity.subject, "1234");
        assert_eq!(p.email.as_deref(), Some("a@b.kr"));
        assert!(p.email_verified);
        assert_eq!(p.nickname.as_deref(), Some("라잇"));

        let oidc = json!({"sub": "abc", "email": "x@y.com", "email_verified": false, "name": "X"});
        let p = parse_profile("oidc", &oidc).unwrap();
        assert_eq!(p.identity.subject, "abc");
        assert!(!p.email_verified);

        assert!(parse_profile("x", &json!({"email": "a@b.c"})).is_none());
    }

    #[test]
    fn partial_config_is_an_error_and_none_disables() {
        let mut env = Env::from_pairs([("LAIT_KAKAO_CLIENT_ID", "id")]);
        assert!(ProviderConfig::read(&mut env, "kakao", "LAIT_KAKAO").is_some());
        let err = env.finish(()).unwrap_err();
        assert_eq!(err.problems.len(), 4);
        let mut env = Env::from_pairs(Vec::<(String, String)>::new());
        assert!(ProviderConfig::read(&mut env, "kakao", "LAIT_KAKAO").is_none());
        assert!(env.finish(()).is_ok());
    }
}
