//! Configuration from the environment (README.md has the table).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use mawid_http::auth::MIN_SECRET_BYTES;
use mawid_notify::{Mailer, WorkerSettings};

pub struct Config {
    pub dev_mode: bool,
    pub database_url: String,
    pub bind: String,
    pub jwt_secret: Vec<u8>,
    pub smtp_url: Option<String>,
    pub mail_dir: PathBuf,
    pub mail_from: String,
    pub mail_workers: usize,
    pub mail_max_attempts: i32,
    pub bootstrap_admin: Option<(String, String)>,
    pub log_json: bool,
    /// Behind a reverse proxy only: count `/track` lookups by `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `MAWID_BIND`, the listen address.
pub fn bind_from_env() -> String {
    var("MAWID_BIND").unwrap_or_else(|| "127.0.0.1:8080".into())
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let dev_mode = var("MAWID_ENV").is_some_and(|v| v == "dev");
        let database_url = var("DATABASE_URL").context("DATABASE_URL is not set")?;
        let jwt_secret = match var("MAWID_JWT_SECRET") {
            Some(s) if s.len() >= MIN_SECRET_BYTES => s.into_bytes(),
            Some(_) => bail!("MAWID_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"),
            // Dev only: a fresh secret per start, so tokens do not survive a restart.
            None if dev_mode => rand::random::<[u8; 32]>().to_vec(),
            None => bail!("MAWID_JWT_SECRET is not set (at least {MIN_SECRET_BYTES} bytes; MAWID_ENV=dev generates one)"),
        };
        let bootstrap_admin = match (var("MAWID_BOOTSTRAP_ADMIN_EMAIL"), var("MAWID_BOOTSTRAP_ADMIN_PASSWORD")) {
            (Some(e), Some(p)) => Some((e, p)),
            (None, None) => None,
            _ => bail!("set both MAWID_BOOTSTRAP_ADMIN_EMAIL and MAWID_BOOTSTRAP_ADMIN_PASSWORD, or neither"),
        };
        let mail_workers = match var("MAWID_MAIL_WORKERS") {
            None => 2,
            Some(v) => match v.parse::<usize>() {
                Ok(n @ 1..=64) => n,
                _ => bail!("MAWID_MAIL_WORKERS must be a whole number from 1 to 64, got {v}"),
            },
        };
        let mail_max_attempts = match var("MAWID_MAIL_MAX_ATTEMPTS") {
            None => 8,
            Some(v) => match v.parse::<i32>() {
                Ok(n @ 1..=100) => n,
                _ => bail!("MAWID_MAIL_MAX_ATTEMPTS must be a whole number from 1 to 100, got {v}"),
            },
        };
        Ok(Self {
            dev_mode,
            database_url,
            bind: bind_from_env(),
            jwt_secret,
            smtp_url: var("MAWID_SMTP_URL"),
            mail_dir: var("MAWID_MAIL_DIR")
                .unwrap_or_else(|| "var/mail".into())
                .into(),
            mail_from: var("MAWID_MAIL_FROM")
                .unwrap_or_else(|| "Mawid <no-reply@mawid.local>".into()),
            mail_workers,
            mail_max_attempts,
            bootstrap_admin,
            log_json: var("MAWID_LOG_FORMAT").is_some_and(|v| v == "json"),
            trust_forwarded_for: var("MAWID_TRUST_FORWARDED_FOR")
                .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes")),
        })
    }

    pub fn mailer(&self) -> anyhow::Result<Mailer> {
        let from = self
            .mail_from
            .parse()
            .context("MAWID_MAIL_FROM is not a valid mailbox")?;
        Ok(match &self.smtp_url {
            Some(url) => Mailer::smtp(url, from, Duration::from_secs(10))?,
            None => {
                if !self.dev_mode {
                    tracing::warn!(dir = %self.mail_dir.display(), "MAWID_SMTP_URL unset: writing mail as .eml files");
                }
                Mailer::files(&self.mail_dir, from).context("cannot create MAWID_MAIL_DIR")?
            }
        })
    }

    pub fn worker_settings(&self) -> WorkerSettings {
        WorkerSettings {
            concurrency: self.mail_workers,
            max_attempts: self.mail_max_attempts,
            ..WorkerSettings::default()
        }
    }

    /// The URL without its password, for error messages.
    pub fn database_url_redacted(&self) -> String {
        match (self.database_url.find("://"), self.database_url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let creds = &self.database_url[scheme + 3..at];
                let user = creds.split(':').next().unwrap_or("");
                format!(
                    "{}{user}:***{}",
                    &self.database_url[..scheme + 3],
                    &self.database_url[at..]
                )
            }
            _ => self.database_url.clone(),
        }
    }
}
