//! Configuration from the process environment.
//!
//! Every function reads its settings through an [`Env`] reader that keeps going after the first
//! problem, so a misconfigured deployment fails once, at start-up, with one error that lists every
//! missing or invalid variable instead of one per restart.

use std::{collections::HashMap, fmt, str::FromStr, time::Duration};

/// One problem with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarProblem {
    pub name: String,
    pub problem: String,
}

/// Start-up error listing every bad variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<VarProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problem(s)):",
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  - {}: {}", p.name, p.problem)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Collects variables and their problems; call [`Env::finish`] once everything has been read.
pub struct Env {
    vars: HashMap<String, String>,
    problems: Vec<VarProblem>,
}

impl Env {
    /// Reads the real process environment.
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars())
    }

    /// A reader over explicit pairs (tests, or layering overrides).
    pub fn from_pairs<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            problems: Vec::new(),
        }
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn parse<T>(&mut self, name: &str, raw: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match raw.parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(name, format!("invalid value {raw:?}: {e}"));
                None
            }
        }
    }

    /// Records a problem found by a caller's own check (e.g. a cross-field rule).
    pub fn problem(&mut self, name: &str, problem: impl Into<String>) {
        self.problems.push(VarProblem {
            name: name.to_owned(),
            problem: problem.into(),
        });
    }

    /// A variable that must be set. Returns `T::default()` as a placeholder when it is not; the
    /// problem is reported by [`Env::finish`], so the placeholder is never used.
    pub fn required<T>(&mut self, name: &str) -> T
    where
        T: FromStr + Default,
        T::Err: fmt::Display,
    {
        match self.raw(name).map(str::to_owned) {
            Some(raw) => self.parse(name, &raw).unwrap_or_default(),
            None => {
                self.problem(name, "is required but not set");
                T::default()
            }
        }
    }

    /// A variable with a default.
    pub fn or<T>(&mut self, name: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.raw(name).map(str::to_owned) {
            Some(raw) => self.parse(name, &raw).unwrap_or(default),
            None => default,
        }
    }

    /// An optional variable.
    pub fn optional<T>(&mut self, name: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let raw = self.raw(name)?.to_owned();
        self.parse(name, &raw)
    }

    /// A duration in whole seconds.
    pub fn secs_or(&mut self, name: &str, default: Duration) -> Duration {
        Duration::from_secs(self.or(name, default.as_secs()))
    }

    /// A comma-separated list (empty items dropped).
    pub fn list_or(&mut self, name: &str, default: &[&str]) -> Vec<String> {
        match self.raw(name) {
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            None => default.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Ends reading: `Err` with every problem seen, or `Ok(value)`.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }
}

/// Settings every HTTP function shares.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest accepted request body; larger bodies get 413.
    pub body_limit: usize,
    /// Take the client IP from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
}

impl HttpConfig {
    pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

    pub fn read(env: &mut Env) -> Self {
        Self {
            body_limit: env.or("LAIT_BODY_LIMIT_BYTES", Self::DEFAULT_BODY_LIMIT),
            trust_forwarded_for: env.or("LAIT_TRUST_FORWARDED_FOR", false),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: Self::DEFAULT_BODY_LIMIT,
            trust_forwarded_for: false,
        }
    }
}

/// Names of the stores. The tables and buckets themselves are created by `localstack/` locally and
/// by `template.yaml` on AWS.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub redis_url: String,
    pub table_prefix: String,
    pub media_bucket: String,
    /// Seals pagination cursors; derived from `LAIT_JWT_SECRET`, which every API function
    /// shares (jobs without it get a key of their own: they hand out no cursors).
    pub cursors: crate::stores::cursor::Cursors,
}

impl StoreConfig {
    pub fn read(env: &mut Env) -> Self {
        let redis_url: String = env.required("REDIS_URL");
        let scheme_ok = ["redis://", "rediss://"]
            .iter()
            .any(|s| redis_url.starts_with(s));
        if !redis_url.is_empty() && !scheme_ok {
            env.problem("REDIS_URL", "must start with redis:// or rediss://");
        }
        let cursors = match env.optional::<String>("LAIT_JWT_SECRET") {
            Some(secret) => crate::stores::cursor::Cursors::from_secret(secret.as_bytes()),
            None => crate::stores::cursor::Cursors::random(),
        };
        Self {
            redis_url,
            table_prefix: env.or("LAIT_TABLE_PREFIX", "lait-".to_owned()),
            media_bucket: env.required("LAIT_MEDIA_BUCKET"),
            cursors,
        }
    }

    /// Full name of one logical table (`users`, `channels`, `chat`).
    pub fn table(&self, name: &str) -> String {
        format!("{}{}", self.table_prefix, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_problem_at_once() {
        let mut env = Env::from_pairs([
            ("REDIS_URL", "http://nope"),
            ("LAIT_BODY_LIMIT_BYTES", "big"),
        ]);
        let _ = HttpConfig::read(&mut env);
        let _ = StoreConfig::read(&mut env);
        let err = env.finish(()).unwrap_err();
        let names: Vec<_> = err.problems.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["LAIT_BODY_LIMIT_BYTES", "REDIS_URL", "LAIT_MEDIA_BUCKET"]
        );
        let text = err.to_string();
        assert!(text.contains("3 problem(s)"), "{text}");
        assert!(
            text.contains("LAIT_MEDIA_BUCKET: is required but not set"),
            "{text}"
        );
    }

    #[test]
    fn defaults_and_values() {
        let mut env = Env::from_pairs([
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("LAIT_MEDIA_BUCKET", "media"),
            ("LAIT_TABLE_PREFIX", "t-"),
        ]);
        let http = HttpConfig::read(&mut env);
        let stores = StoreConfig::read(&mut env);
        env.finish(()).unwrap();
        assert_eq!(http.body_limit, 64 * 1024);
        assert_eq!(stores.table("users"), "t-users");
    }

    #[test]
    fn blank_counts_as_unset() {
        let mut env = Env::from_pairs([("A", "  ")]);
        assert_eq!(env.or("A", 7u32), 7);
        assert_eq!(env.optional::<u32>("A"), None);
        assert!(env.finish(()).is_ok());
    }

    #[test]
    fn lists() {
        let mut env = Env::from_pairs([("L", "a, b,,c ")]);
        assert_eq!(env.list_or("L", &[]), ["a", "b", "c"]);
        assert_eq!(env.list_or("M", &["x"]), ["x"]);
    }
}
