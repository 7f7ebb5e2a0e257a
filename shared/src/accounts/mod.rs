//! Accounts and sessions: sign-up, login, refresh-token rotation with reuse detection, logout,
//! external (OAuth) logins. Independent of HTTP: callers pass parsed values and get records or
//! [`ApiError`]s back.

pub mod oauth;
pub mod store;
pub mod user;

use std::time::Duration;

use self::{
    store::{ClaimError, ExternalIdentity, RefreshRecord, RotateError, UserRecord, UsersStore},
    user::{Email, Nickname, Password},
};
use crate::{
    auth::{Authenticator, password, secret},
    clock::Timestamp,
    config::Env,
    domain::ids::{FamilyId, UserId},
    error::{ApiError, FieldError},
    ratelimit::{self, Backoff, Limit},
    search::{Kind, SearchIndex},
    stores::redis::Redis,
};

#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// Failed logins one client IP may make in a window, whatever the accounts: a ceiling high
    /// enough that one guesser behind a shared address (campus NAT) does not lock everyone out.
    pub login_failures_per_ip: Limit,
    /// Backoff of one client IP guessing one account.
    pub login_backoff_per_ip_account: Backoff,
    /// Backoff of one account, from every address together (a distributed guess).
    pub login_backoff_per_account: Backoff,
    /// Sign-ups allowed per client IP in a window.
    pub signups_per_ip: Limit,
}

impl AccountsConfig {
    pub const DEFAULT_LOGIN_FAILURES_PER_IP: Limit = Limit::new(300, 15 * 60);
    pub const DEFAULT_LOGIN_BACKOFF_PER_IP_ACCOUNT: Backoff = Backoff::new(5, 15 * 60);
    pub const DEFAULT_LOGIN_BACKOFF_PER_ACCOUNT: Backoff = Backoff::new(20, 5 * 60);
    pub const DEFAULT_SIGNUPS_PER_IP: Limit = Limit::new(5, 3600);

    pub fn read(env: &mut Env) -> Self {
        Self {
            login_failures_per_ip: env
                .or("LAIT_LOGIN_IP_LIMIT", Self::DEFAULT_LOGIN_FAILURES_PER_IP),
            login_backoff_per_ip_account: env.or(
                "LAIT_LOGIN_BACKOFF",
                Self::DEFAULT_LOGIN_BACKOFF_PER_IP_ACCOUNT,
            ),
            login_backoff_per_account: env.or(
                "LAIT_LOGIN_ACCOUNT_BACKOFF",
                Self::DEFAULT_LOGIN_BACKOFF_PER_ACCOUNT,
            ),
            signups_per_ip: env.or("LAIT_SIGNUP_LIMIT", Self::DEFAULT_SIGNUPS_PER_IP),
        }
    }
}

/// What a successful login returns (OAuth2 token response shape, plus the refresh lifetime).
pub struct Session {
    pub user_id: UserId,
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
    pub refresh_expires_in: u64,
}

#[derive(Clone)]
pub struct Accounts {
    pub(crate) store: UsersStore,
    pub auth: Authenticator,
    redis: Redis,
    search: SearchIndex,
    config: AccountsConfig,
}

/// The answer for a failed unique claim (409 naming the field).
pub fn claim_error(e: ClaimError) -> ApiError {
    match e {
        ClaimError::EmailTaken => {
            let mut err = ApiError::conflict("this email address is already registered");
            err.errors = vec![FieldError::new("email", "is already registered")];
            err
        }
        ClaimError::NicknameTaken => {
            let mut err = ApiError::conflict("this nickname is taken");
            err.errors = vec![FieldError::new("nickname", "is taken")];
            err
        }
        ClaimError::IdentityTaken => ApiError::conflict("this external account is already linked"),
        ClaimError::Store(e) => ApiError::internal(e),
    }
}

/// The same answer for an unknown email and a wrong password.
fn bad_credentials() -> ApiError {
    ApiError::unauthorized("invalid email or password")
}

fn bad_refresh() -> ApiError {
    ApiError::unauthorized("the refresh token is invalid or has expired")
}

impl Accounts {
    pub fn new(
        store: UsersStore,
        auth: Authenticator,
        redis: Redis,
        config: AccountsConfig,
    ) -> Self {
        Self {
            store,
            auth,
            search: SearchIndex::new(redis.clone()),
            redis,
            config,
        }
    }

    /// A new channel is searchable by its name (best effort: the index is a cache).
    async fn index_channel(&self, user: &UserRecord) {
        let id = user.channel_id.to_string();
        if let Err(e) = self
            .search
            .put(Kind::Channel, &id, &id, &user.nickname)
            .await
        {
            tracing::warn!(error = %e, "search index update failed");
        }
    }

    fn refresh_ttl(&self) -> Duration {
        self.auth.tokens.config().refresh_ttl
    }

    /// A user's profile: 404 when there is none.
    pub async fn user(&self, id: &UserId) -> Result<UserRecord, ApiError> {
        self.store
            .get(id)
            .await?
            .ok_or_else(|| ApiError::not_found("no such user"))
    }

    /// Changes nickname and/or bio; a taken nickname is a 409.
    pub async fn update_profile(
        &self,
        id: &UserId,
        nickname: Option<&Nickname>,
        bio: Option<&user::Bio>,
    ) -> Result<UserRecord, ApiError> {
        let current = self.user(id).await?;
        self.store
            .update_profile(&current, nickname, bio)
            .await
            .map_err(claim_error)
    }

    /// Points the profile at an uploaded (and confirmed) avatar.
    pub async fn set_avatar(&self, id: &UserId, key: &str) -> Result<UserRecord, ApiError> {
        self.store.set_avatar(id, key).await?;
        self.user(id).await
    }

    /// Creates an account (and its channel). Every invalid field is reported at once.
    pub async fn signup(
        &self,
        client_ip: &str,
        email: &str,
        nickname: &str,
        password: &str,
    ) -> Result<UserRecord, ApiError> {
        ratelimit::hit(
            &self.redis,
            &format!("rl:signup:ip:{client_ip}"),
            self.config.signups_per_ip,
        )
        .await?;
        let email = Email::parse(email);
        let nickname = Nickname::parse(nickname);
        let password = Password::parse(password, email.as_ref().ok().map(Email::as_str));
        let (email, nickname, password) = match (email, nickname, password) {
            (Ok(e), Ok(n), Ok(p)) => (e, n, p),
            (e, n, p) => {
                let errors = [e.err(), n.err(), p.err()].into_iter().flatten().collect();
                return Err(ApiError::validation(errors));
            }
        };
        let hash = password::hash(password.expose().to_owned()).await?;
        let user = UserRecord::new(Some(&email), &nickname, Some(hash));
        if let Err(e) = self.store.create(&user, None).await {
            if let ClaimError::Store(cause) = &e {
                self.search.after_failed_write(cause).await;
            }
            return Err(claim_error(e));
        }
        self.index_channel(&user).await;
        tracing::info!(user_id = %user.id, "account created");
        Ok(user)
    }

    /// Email + password login. Failures back off exponentially per (client IP, account) and per
    /// account, under a high per-IP ceiling; a success clears the account's backoffs.
    pub async fn login(
        &self,
        client_ip: &str,
        email: &str,
        password: &str,
    ) -> Result<Session, ApiError> {
        let config = &self.config;
        // Keyed by hashes: addresses and emails have no business in Redis keys.
        let account = secret::sha256_hex(email.trim().to_lowercase());
        let ip = secret::sha256_hex(client_ip);
        let ip_key = format!("rl:login:ip:{ip}");
        let pair_key = format!("rl:login:pair:{ip}:{account}");
        let account_key = format!("rl:login:account:{account}");
        ratelimit::check(&self.redis, &ip_key, config.login_failures_per_ip).await?;
        ratelimit::backoff_check(&self.redis, &pair_key).await?;
        ratelimit::backoff_check(&self.redis, &account_key).await?;

        let user = match Email::parse(email) {
            Ok(email) => match self.store.id_by_email(&email).await? {
                Some(id) => self.store.get(&id).await?,
                None => None,
            },
            Err(_) => None,
        };
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        // Always runs argon2, against a dummy hash when there is no account.
        let ok = password::verify(password.to_owned(), hash).await;
        let Some(user) = user.filter(|_| ok) else {
            ratelimit::record(&self.redis, &ip_key, config.login_failures_per_ip).await?;
            ratelimit::backoff_fail(&self.redis, &pair_key, config.login_backoff_per_ip_account)
                .await?;
            ratelimit::backoff_fail(&self.redis, &account_key, config.login_backoff_per_account)
                .await?;
            return Err(bad_credentials());
        };
        ratelimit::backoff_clear(&self.redis, &pair_key).await?;
        ratelimit::backoff_clear(&self.redis, &account_key).await?;
        self.start_session(user.id).await
    }

    /// A new session for `user`: first refresh token of a new family, and an access token.
    pub async fn start_session(&self, user: UserId) -> Result<Session, ApiError> {
        let family = FamilyId::new();
        let (refresh_token, record) = self.new_refresh(user, family);
        self.store.start_session(&record).await?;
        self.session(user, family, refresh_token)
    }

    fn new_refresh(&self, user: UserId, family: FamilyId) -> (String, RefreshRecord) {
        let token = secret::random(32);
        let record = RefreshRecord {
            token_hash: secret::sha256_hex(&token),
            family_id: family,
            user_id: user,
            expires_at: Timestamp::now() + self.refresh_ttl(),
            used_at: None,
        };
        (token, record)
    }

    fn session(
        &self,
        user: UserId,
        family: FamilyId,
        refresh_token: String,
    ) -> Result<Session, ApiError> {
        let (access_token, expires_in) = self.auth.tokens.issue(user, family)?;
        Ok(Session {
            user_id: user,
            access_token,
            expires_in,
            refresh_token,
            refresh_expires_in: self.refresh_ttl().as_secs(),
        })
    }

    /// Rotates a refresh token. Presenting one that was already rotated revokes its whole family.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session, ApiError> {
        let hash = secret::sha256_hex(refresh_token.trim());
        let Some(old) = self.store.refresh_record(&hash).await? else {
            return Err(bad_refresh());
        };
        if old.expires_at <= Timestamp::now() {
            return Err(bad_refresh());
        }
        let (token, next) = self.new_refresh(old.user_id, old.family_id);
        match self.store.rotate(&old, &next).await {
            Ok(()) => self.session(old.user_id, old.family_id, token),
            Err(RotateError::Reused) => {
                tracing::warn!(user_id = %old.user_id, family_id = %old.family_id, "refresh token reuse: session revoked");
                self.end_session(&old.family_id).await?;
                Err(bad_refresh())
            }
            Err(RotateError::Revoked) => Err(bad_refresh()),
            Err(RotateError::Store(e)) => Err(ApiError::internal(e)),
        }
    }

    /// The session a refresh token belongs to, if the token is known.
    pub async fn family_of(&self, refresh_token: &str) -> Result<Option<FamilyId>, ApiError> {
        let hash = secret::sha256_hex(refresh_token.trim());
        Ok(self.store.refresh_record(&hash).await?.map(|r| r.family_id))
    }

    /// Ends one session: refresh tokens and access tokens of it stop working.
    pub async fn end_session(&self, family: &FamilyId) -> Result<(), ApiError> {
        self.store.revoke_family(family).await?;
        self.auth.revoke_family(family).await?;
        Ok(())
    }

    /// Ends every session of a user.
    pub async fn end_all_sessions(&self, user: &UserId) -> Result<(), ApiError> {
        for family in self.store.families(user).await? {
            self.store.revoke_family(&family).await?;
        }
        self.auth.revoke_user(user).await?;
        Ok(())
    }

    /// Logs in with an external identity: the linked account, else the account with the same
    /// verified email (linked now), else a new account with its channel.
    pub async fn external_login(&self, profile: &ExternalProfile) -> Result<Session, ApiError> {
        let identity = &profile.identity;
        if let Some(id) = self.store.id_by_identity(identity).await? {
            return self.start_session(id).await;
        }
        let verified_email = profile
            .email
            .as_deref()
            .filter(|_| profile.email_verified)
            .and_then(|e| Email::parse(e).ok());
        if let Some(email) = &verified_email
            && let Some(id) = self.store.id_by_email(email).await?
        {
            match self.store.link_identity(&id, identity).await {
                Ok(()) | Err(ClaimError::IdentityTaken) => {}
                Err(e) => return Err(claim_error(e)),
            }
            return self.start_session(id).await;
        }
        let user = self
            .create_external(profile, verified_email.as_ref())
            .await?;
        self.start_session(user).await
    }

    /// Creates an account for an external identity; a taken nickname gets a numeric suffix.
    async fn create_external(
        &self,
        profile: &ExternalProfile,
        email: Option<&Email>,
    ) -> Result<UserId, ApiError> {
        let base: String = profile
            .nickname
            .as_deref()
            .unwrap_or("")
            .chars()
            .filter(|c| Nickname::allowed_char(*c))
            .take(Nickname::MAX - 5)
            .collect();
        let base = if base.chars().count() < Nickname::MIN {
            "viewer".to_owned()
        } else {
            base
        };
        for attempt in 0..5 {
            let candidate = if attempt == 0 {
                base.clone()
            } else {
                format!("{base}_{:04}", rand::random_range(0..10_000))
            };
            let Ok(nickname) = Nickname::parse(&candidate) else {
                continue;
            };
            let user = UserRecord::new(email, &nickname, None);
            match self.store.create(&user, Some(&profile.identity)).await {
                Ok(()) => {
                    self.index_channel(&user).await;
                    tracing::info!(user_id = %user.id, provider = %profile.identity.provider, "account created from external login");
                    return Ok(user.id);
                }
                Err(ClaimError::NicknameTaken) => continue,
                // Lost a race with a concurrent first login of the same person.
                Err(ClaimError::IdentityTaken) => {
                    if let Some(id) = self.store.id_by_identity(&profile.identity).await? {
                        return Ok(id);
                    }
                }
                Err(ClaimError::EmailTaken) => return Err(claim_error(ClaimError::EmailTaken)),
                Err(e) => {
                    if let ClaimError::Store(cause) = &e {
                        self.search.after_failed_write(cause).await;
                    }
                    return Err(claim_error(e));
                }
            }
        }
        Err(ApiError::conflict(
            "could not find a free nickname; try again",
        ))
    }
}

/// What an external provider told us about the user.
#[derive(Debug, Clone)]
pub struct ExternalProfile {
    pub identity: ExternalIdentity,
    pub email: Option<String>,
    pub email_verified: bool,
    pub nickname: Option<String>,
}
