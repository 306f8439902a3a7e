//! The command line and the configuration: every setting is a flag that falls back to an
//! environment variable and then to a default (README.md has the table; `mawid --help` too).

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use mawid_domain::limit::{LimitName, Limits, Rate};
use mawid_http::auth::MIN_SECRET_BYTES;
use mawid_http::CacheSettings;
use mawid_notify::{Mailer, WorkerSettings};
use mawid_persistence::PoolSettings;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

/// Mawid, the consulate's appointment and document-request service.
#[derive(Parser)]
#[command(name = "mawid", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Apply pending migrations and serve the API (the default when no command is given).
    Serve(Settings),
    /// Apply pending migrations and exit.
    Migrate(Settings),
    /// Load the sample data (idempotent).
    Seed(Settings),
    /// Exit 0 when the server at MAWID_BIND answers /readyz with 200 (the container's HEALTHCHECK).
    Healthcheck(Listen),
}

#[derive(Args)]
pub struct Listen {
    /// Listen address.
    #[arg(long, env = "MAWID_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
}

/// What the operator set. Secrets are flags too, but belong in the environment (a command line
/// is visible to every local user); `--help` never prints their values.
#[derive(Args)]
pub struct Settings {
    /// PostgreSQL connection URL (required).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<SecretString>,
    /// `dev` allows running without MAWID_JWT_SECRET (a fresh one per start); anything else is
    /// production.
    #[arg(long = "env", env = "MAWID_ENV", default_value = "production")]
    environment: String,
    #[command(flatten)]
    listen: Listen,
    /// HS256 key for access tokens, at least 32 bytes (required outside dev).
    #[arg(long, env = "MAWID_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<SecretString>,
    /// Mail relay: smtp://host:port, smtp://host:port?tls=required (STARTTLS) or
    /// smtps://user:pass@host (TLS); unset writes .eml files to MAWID_MAIL_DIR.
    #[arg(long, env = "MAWID_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<SecretString>,
    /// Where .eml files go when there is no SMTP relay.
    #[arg(long, env = "MAWID_MAIL_DIR", default_value = "var/mail")]
    mail_dir: PathBuf,
    /// Sender of every email.
    #[arg(
        long,
        env = "MAWID_MAIL_FROM",
        default_value = "Mawid <no-reply@mawid.local>"
    )]
    mail_from: String,
    /// First admin, created at start-up when no admin exists (with the password, or neither).
    #[arg(long, env = "MAWID_BOOTSTRAP_ADMIN_EMAIL")]
    bootstrap_admin_email: Option<String>,
    /// Password of the first admin.
    #[arg(long, env = "MAWID_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    bootstrap_admin_password: Option<SecretString>,
    /// Concurrent delivery loops of the outbox worker in this process.
    #[arg(long, env = "MAWID_MAIL_WORKERS", default_value = "2", value_parser = whole_number(1..=64usize))]
    mail_workers: usize,
    /// Hours a mail keeps being retried after temporary failures (SMTP outage, 4xx) before it
    /// is marked failed; a permanent refusal (5xx) fails it at once.
    #[arg(long, env = "MAWID_MAIL_GIVE_UP_HOURS", default_value = "72", value_parser = whole_number(1..=720u32))]
    mail_give_up_hours: u32,
    /// Seconds a claimed mail stays with its worker before another may take it over.
    #[arg(long, env = "MAWID_MAIL_LEASE_SECS", default_value = "300", value_parser = whole_number(1..=86400u64))]
    mail_lease_secs: u64,
    /// Connections in this process's database pool (see PoolSettings' default).
    #[arg(long, env = "MAWID_DB_MAX_CONNECTIONS", default_value = "5", value_parser = whole_number(1..=1000u32))]
    db_max_connections: u32,
    /// Connections of this process for the public calendar's reads, beside the main pool.
    #[arg(long, env = "MAWID_DB_CALENDAR_CONNECTIONS", default_value = "2", value_parser = whole_number(1..=100u32))]
    db_calendar_connections: u32,
    /// Milliseconds a request waits for a database connection before it gets a 503.
    #[arg(long, env = "MAWID_DB_ACQUIRE_TIMEOUT_MS", default_value = "3000", value_parser = whole_number(1..=600_000u64))]
    db_acquire_timeout_ms: u64,
    /// Milliseconds one SQL statement may run (0: the server's setting).
    #[arg(long, env = "MAWID_DB_STATEMENT_TIMEOUT_MS", default_value = "15000", value_parser = whole_number(0..=3_600_000u64))]
    db_statement_timeout_ms: u64,
    /// Milliseconds one SQL statement may wait for a lock (0: the server's setting).
    #[arg(long, env = "MAWID_DB_LOCK_TIMEOUT_MS", default_value = "5000", value_parser = whole_number(0..=3_600_000u64))]
    db_lock_timeout_ms: u64,
    /// Milliseconds an availability answer is served from memory after its read began (at
    /// most 1000: an answer reflects a booking on any process within a second); 0 turns the
    /// in-process availability cache off.
    #[arg(long, env = "MAWID_AVAILABILITY_CACHE_MS", default_value = "500", value_parser = whole_number(0..=1000u64))]
    availability_cache_ms: u64,
    /// MiB of availability answers kept in memory at most.
    #[arg(long, env = "MAWID_AVAILABILITY_CACHE_MIB", default_value = "16", value_parser = whole_number(1..=1024usize))]
    availability_cache_mib: usize,
    /// `1`, `true` or `yes`: the rate limits count the right-most X-Forwarded-For
    /// address (only behind a trusted proxy); anything else is off.
    #[arg(long, env = "MAWID_TRUST_FORWARDED_FOR", default_value = "off")]
    trust_forwarded_for: String,
    /// When set (e.g. 127.0.0.1:9100), `/metrics` is served only on this address, not on MAWID_BIND.
    #[arg(long, env = "MAWID_METRICS_BIND")]
    metrics_bind: Option<String>,
    /// `json` for one JSON object per log line; anything else is text.
    #[arg(long, env = "MAWID_LOG_FORMAT", default_value = "text")]
    log_format: String,
    /// No-shows within MAWID_NO_SHOW_WINDOW_DAYS that suspend booking (0 turns the rule off).
    #[arg(long, env = "MAWID_NO_SHOW_LIMIT", default_value = "2", value_parser = whole_number(0..=100u32))]
    no_show_limit: u32,
    /// The window, in days, the no-shows are counted in.
    #[arg(long, env = "MAWID_NO_SHOW_WINDOW_DAYS", default_value = "180", value_parser = whole_number(1..=3660u32))]
    no_show_window_days: u32,
    /// How long, in days, a suspended citizen cannot book or join a waitlist.
    #[arg(long, env = "MAWID_NO_SHOW_SUSPENSION_DAYS", default_value = "60", value_parser = whole_number(1..=3660u32))]
    no_show_suspension_days: u32,
    /// Hours an Idempotency-Key of a booking is remembered.
    #[arg(long, env = "MAWID_RETENTION_IDEMPOTENCY_HOURS", default_value = "24", value_parser = whole_number(1..=87_600u32))]
    retention_idempotency_hours: u32,
    /// Hours failed sign-in counters are kept.
    #[arg(long, env = "MAWID_RETENTION_LOGIN_FAILURES_HOURS", default_value = "24", value_parser = whole_number(1..=87_600u32))]
    retention_login_failures_hours: u32,
    /// Days the body of a delivered mail is kept (its kind, language and times stay).
    #[arg(long, env = "MAWID_RETENTION_MAIL_BODY_DAYS", default_value = "30", value_parser = whole_number(1..=3660u32))]
    retention_mail_body_days: u32,
    /// Years identity numbers and dates of birth of ended appointments and requests are kept.
    #[arg(long, env = "MAWID_RETENTION_IDENTITY_YEARS", default_value = "3", value_parser = whole_number(1..=100u32))]
    retention_identity_years: u32,
}

/// Settings checked against each other, as the server runs with them.
pub struct Config {
    pub dev_mode: bool,
    pub database_url: SecretString,
    pub bind: String,
    /// The separate `/metrics` listener, if any (`MAWID_METRICS_BIND`).
    pub metrics_bind: Option<String>,
    pub jwt_secret: SecretSlice<u8>,
    pub smtp_url: Option<SecretString>,
    pub mail_dir: PathBuf,
    pub mail_from: String,
    pub mail_workers: usize,
    pub mail_give_up: Duration,
    pub mail_lease: Duration,
    pub pool: PoolSettings,
    /// Connections of the calendar's own pool (`MAWID_DB_CALENDAR_CONNECTIONS`).
    pub calendar_connections: u32,
    pub bootstrap_admin: Option<(String, SecretString)>,
    pub log_json: bool,
    /// Behind a reverse proxy only: count rate limits by `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    pub no_shows: mawid_domain::appointment::NoShowPolicy,
    /// The retention purge's periods (`MAWID_RETENTION_*`).
    pub retention: mawid_domain::retention::RetentionPolicy,
    /// Every rate limit: the defaults, each overridden by `MAWID_LIMIT_<NAME>=COUNT/SECONDS`.
    pub limits: Limits,
    /// The in-process availability cache (`MAWID_AVAILABILITY_CACHE_*`).
    pub availability: CacheSettings,
}

/// The rate limits with those set in the environment. They are not flags: thirteen of them
/// would drown `--help`, and they are tuned per deployment, not per run.
fn limits_from_env() -> anyhow::Result<Limits> {
    let mut limits = Limits::default();
    for name in LimitName::ALL {
        let var = name.env_var();
        match std::env::var(&var) {
            Ok(v) if !v.trim().is_empty() => {
                let rate = Rate::parse(&v).map_err(|why| anyhow::anyhow!("{var} {why}"))?;
                limits.set(name, rate);
            }
            _ => {}
        }
    }
    Ok(limits)
}

fn whole_number<T>(range: RangeInclusive<T>) -> impl Fn(&str) -> Result<T, String> + Clone
where
    T: FromStr + PartialOrd + Display + Clone,
{
    move |v| match v.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "must be a whole number from {} to {}, got {v}",
            range.start(),
            range.end()
        )),
    }
}

/// 0 leaves PostgreSQL's own setting in force.
fn millis_or_server(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

impl Cli {
    /// The command to run. An empty or blank variable counts as unset (a compose file's
    /// `MAWID_SMTP_URL=` means "no relay"), so call this before any thread starts.
    pub fn command_from_args() -> Result<Command, clap::Error> {
        for arg in Self::command()
            .get_subcommands()
            .flat_map(|c| c.get_arguments())
        {
            let Some(name) = arg.get_env() else { continue };
            if std::env::var(name).map_or(true, |v| v.trim().is_empty()) {
                std::env::remove_var(name);
            }
        }
        match Self::try_parse()?.command {
            Some(command) => Ok(command),
            // `mawid` alone serves: its settings come from the environment and the defaults.
            None => {
                let serve = Settings::augment_args(clap::Command::new("mawid"));
                Ok(Command::Serve(Settings::from_arg_matches(
                    &serve.try_get_matches_from(["mawid"])?,
                )?))
            }
        }
    }
}

/// A setting that fails its check, as one line naming the variable; `None` for a usage error
/// (an unknown command or flag), which clap reports itself.
pub fn invalid_setting(e: &clap::Error) -> Option<String> {
    if e.kind() != ErrorKind::ValueValidation {
        return None;
    }
    let Some(ContextValue::String(flag)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let mut cli = Cli::command();
    cli.build();
    let name = cli
        .get_subcommands()
        .flat_map(|c| c.get_arguments())
        .find(|a| a.to_string() == *flag)
        .and_then(|a| a.get_env())
        .map_or_else(|| flag.clone(), |n| n.to_string_lossy().into_owned());
    let why = std::error::Error::source(e).map_or_else(|| e.kind().to_string(), |s| s.to_string());
    Some(format!("{name} {why}"))
}

impl TryFrom<Settings> for Config {
    type Error = anyhow::Error;

    fn try_from(s: Settings) -> anyhow::Result<Self> {
        let dev_mode = s.environment == "dev";
        let database_url = s.database_url.context("DATABASE_URL is not set")?;
        let jwt_secret = match s.jwt_secret {
            Some(k) if k.expose_secret().len() >= MIN_SECRET_BYTES => {
                k.expose_secret().as_bytes().to_vec().into()
            }
            Some(_) => bail!("MAWID_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"),
            // Dev only: a fresh secret per start, so tokens do not survive a restart.
            None if dev_mode => rand::random::<[u8; 32]>().to_vec().into(),
            None => bail!("MAWID_JWT_SECRET is not set (at least {MIN_SECRET_BYTES} bytes; MAWID_ENV=dev generates one)"),
        };
        let bootstrap_admin = match (s.bootstrap_admin_email, s.bootstrap_admin_password) {
            (Some(e), Some(p)) => Some((e, p)),
            (None, None) => None,
            _ => bail!("set both MAWID_BOOTSTRAP_ADMIN_EMAIL and MAWID_BOOTSTRAP_ADMIN_PASSWORD, or neither"),
        };
        Ok(Self {
            dev_mode,
            database_url,
            bind: s.listen.bind,
            metrics_bind: s.metrics_bind,
            jwt_secret,
            smtp_url: s.smtp_url,
            mail_dir: s.mail_dir,
            mail_from: s.mail_from,
            mail_workers: s.mail_workers,
            mail_give_up: Duration::from_secs(u64::from(s.mail_give_up_hours) * 3600),
            mail_lease: Duration::from_secs(s.mail_lease_secs),
            calendar_connections: s.db_calendar_connections,
            pool: PoolSettings {
                max_connections: s.db_max_connections,
                acquire_timeout: Duration::from_millis(s.db_acquire_timeout_ms),
                statement_timeout: millis_or_server(s.db_statement_timeout_ms),
                lock_timeout: millis_or_server(s.db_lock_timeout_ms),
            },
            bootstrap_admin,
            log_json: s.log_format == "json",
            trust_forwarded_for: matches!(s.trust_forwarded_for.as_str(), "1" | "true" | "yes"),
            no_shows: mawid_domain::appointment::NoShowPolicy {
                limit: s.no_show_limit,
                window_days: s.no_show_window_days,
                suspension_days: s.no_show_suspension_days,
            },
            retention: mawid_domain::retention::RetentionPolicy {
                idempotency_hours: s.retention_idempotency_hours,
                login_failure_hours: s.retention_login_failures_hours,
                mail_body_days: s.retention_mail_body_days,
                identity_years: s.retention_identity_years,
            },
            limits: limits_from_env()?,
            availability: CacheSettings {
                max_age: Duration::from_millis(s.availability_cache_ms),
                max_bytes: s.availability_cache_mib * 1024 * 1024,
                ..CacheSettings::default()
            },
        })
    }
}

impl Config {
    pub fn mailer(&self) -> anyhow::Result<Mailer> {
        let from = self
            .mail_from
            .parse()
            .context("MAWID_MAIL_FROM is not a valid mailbox")?;
        Ok(match &self.smtp_url {
            Some(url) => Mailer::smtp(url.expose_secret(), from, Duration::from_secs(10))?,
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
            give_up_after: self.mail_give_up,
            lease: self.mail_lease,
            ..WorkerSettings::default()
        }
    }

    /// The URL without its password, for error messages.
    pub fn database_url_redacted(&self) -> String {
        let url = self.database_url.expose_secret();
        match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let creds = &url[scheme + 3..at];
                let user = creds.split(':').next().unwrap_or("");
                format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
            }
            _ => url.to_owned(),
        }
    }
}
