//! The Mawid server: configuration, tracing, migrations, wiring and the run loop.

mod config;
mod healthcheck;

use std::process::ExitCode;
use std::sync::Arc;

use actix_web::HttpServer;
use anyhow::Context;
use mawid_domain::account::{Email, FullName, Language, NewAccount, Password, Role};
use mawid_domain::{Clock, SystemClock};
use mawid_http::{AppState, AvailabilityCache, JwtKeys, Passwords};
use mawid_notify::Worker;
use mawid_persistence::accounts;
use mawid_persistence::users;
use mawid_persistence::{PgPool, MIGRATOR};

use secrecy::ExposeSecret;

use crate::config::{Cli, Command, Config};

/// How long in-flight requests get to finish after SIGTERM/SIGINT before they are dropped;
/// below the orchestrator's grace period (docker-compose.yml: stop_grace_period 40s).
const SHUTDOWN_TIMEOUT_SECS: u64 = 30;

fn main() -> ExitCode {
    mawid_http::crypto::return_hash_memory_to_the_system();
    let command = match Cli::command_from_args() {
        Ok(c) => c,
        Err(e) => match config::invalid_setting(&e) {
            Some(line) => {
                eprintln!("mawid: configuration error: {line}");
                return ExitCode::FAILURE;
            }
            // Help, version, or a usage error (exit 2, with the usage).
            None => e.exit(),
        },
    };
    let (run, settings) = match command {
        Command::Healthcheck(listen) => {
            // Needs only the listen address, not the whole configuration.
            return match healthcheck::check(&listen.bind) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mawid healthcheck: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Serve(s) => (Run::Serve, s),
        Command::Migrate(s) => (Run::Migrate, s),
        Command::Seed(s) => (Run::Seed, s),
    };
    let config = match Config::try_from(settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mawid: configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing(config.log_json);
    let result = actix_web::rt::System::new().block_on(async move {
        match run {
            Run::Migrate => migrate_only(&config).await,
            Run::Seed => seed(&config).await,
            Run::Serve => serve(config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mawid: {e:#}");
            ExitCode::FAILURE
        }
    }
}

enum Run {
    Serve,
    Migrate,
    Seed,
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn connect(config: &Config) -> anyhow::Result<PgPool> {
    let pool = mawid_persistence::connect(config.database_url.expose_secret(), &config.pool)
        .await
        .with_context(|| {
            format!(
                "cannot reach the database at {}",
                config.database_url_redacted()
            )
        })?;
    MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations failed")?;
    Ok(pool)
}

async fn migrate_only(config: &Config) -> anyhow::Result<()> {
    connect(config).await?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn seed(config: &Config) -> anyhow::Result<()> {
    let pool = connect(config).await?;
    mawid_persistence::sample::load(&pool)
        .await
        .context("loading the sample data failed")?;
    tracing::info!("sample data loaded");
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let pool = connect(&config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let passwords = Arc::new(Passwords::new(
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    ));
    bootstrap_admin(&config, &pool, &passwords).await?;
    let availability = AvailabilityCache::new(config.availability);

    let state = AppState {
        pool: pool.clone(),
        calendar_pool: mawid_persistence::side_pool(
            &pool,
            &config.pool,
            config.calendar_connections,
        ),
        jwt: Arc::new(JwtKeys::new(config.jwt_secret.expose_secret())?),
        clock: clock.clone(),
        passwords,
        abuse: mawid_http::AbuseSettings {
            limits: config.limits.clone(),
            trust_forwarded_for: config.trust_forwarded_for,
        },
        no_shows: config.no_shows,
        availability: availability.clone(),
    };

    let mailer = config.mailer()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let jobs = actix_web::rt::spawn(fair_access_jobs(
        pool.clone(),
        clock.clone(),
        config.no_shows,
        availability.clone(),
        stop_rx.clone(),
    ));
    // Its own connection, so the listener never takes one the requests need.
    let listener_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(pool.connect_options().as_ref().clone());
    let listener = actix_web::rt::spawn(availability.listen(listener_pool, stop_rx.clone()));
    let retention = actix_web::rt::spawn(retention_job(
        pool.clone(),
        clock.clone(),
        config.retention,
        stop_rx.clone(),
    ));
    let worker = Worker {
        pool: pool.clone(),
        mailer,
        clock: clock.clone(),
        settings: config.worker_settings(),
    };
    let hooks = mawid_notify::HookWorker::new(pool.clone(), clock.clone(), Default::default());
    let hooks = actix_web::rt::spawn(hooks.run(stop_rx.clone()));
    let worker = actix_web::rt::spawn(worker.run(stop_rx));

    // Installed before the workers start; a task keeps histogram memory bounded between scrapes.
    let metrics = mawid_http::observe::prometheus();
    actix_web::rt::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            metrics.run_upkeep();
        }
    });

    let metrics_on_main = config.metrics_bind.is_none();
    // The factory runs once in each worker's thread.
    let server = HttpServer::new(move || {
        if let Err(e) = mawid_http::slices::ask_for_short_slices() {
            tracing::debug!(error = %e, "the kernel kept the worker's default slice");
        }
        mawid_http::app_serving(state.clone(), metrics_on_main)
    })
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
    // The signals are ours: the background workers must stop before the HTTP workers'
    // runtimes do, since pooled connections opened on those runtimes die with them.
    .disable_signals()
    .bind(&config.bind)
    .with_context(|| format!("cannot listen on {}", config.bind))?;
    for addr in server.addrs() {
        tracing::info!(%addr, "listening");
    }
    // Scrapes are cheap and answered at once: one worker, no long grace on shutdown.
    let metrics_server = match &config.metrics_bind {
        Some(bind) => {
            let metrics_server = HttpServer::new(mawid_http::metrics_app)
                .workers(1)
                .shutdown_timeout(5)
                .disable_signals()
                .bind(bind)
                .with_context(|| format!("cannot listen on {bind} (MAWID_METRICS_BIND)"))?;
            for addr in metrics_server.addrs() {
                tracing::info!(%addr, "metrics listening");
            }
            let metrics_server = metrics_server.run();
            let handle = metrics_server.handle();
            Some((handle, actix_web::rt::spawn(metrics_server)))
        }
        None => None,
    };
    let stop_metrics = || async {
        if let Some((handle, task)) = metrics_server {
            handle.stop(true).await;
            let _ = task.await;
        }
    };
    let server = server.run();
    let handle = server.handle();
    let mut server = actix_web::rt::spawn(server);
    tokio::select! {
        signal = stop_signal() => {
            tracing::info!(signal, "stopping");
            // Stop accepting, let the mail worker finish the message it is sending and hand
            // back the rest, then let in-flight requests finish (up to SHUTDOWN_TIMEOUT_SECS).
            handle.pause().await;
            let _ = stop_tx.send(true);
            let _ = worker.await;
            let _ = jobs.await;
            let _ = retention.await;
            let _ = hooks.await;
            let _ = listener.await;
            handle.stop(true).await;
            stop_metrics().await;
            server.await??;
        }
        ended = &mut server => {
            let _ = stop_tx.send(true);
            let _ = worker.await;
            let _ = jobs.await;
            let _ = retention.await;
            let _ = hooks.await;
            let _ = listener.await;
            stop_metrics().await;
            ended??;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Waits for SIGTERM or SIGINT and names it.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// How often this process runs the waitlist assignment (expiry and the hand-over of cooled
/// desks included): "within seconds" in the contract.
const FAIR_ACCESS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs `pass` every `period` until the stop signal. A pass in progress finishes before the
/// loop stops; a late tick delays the next one rather than bunching passes.
async fn every_until_stopped<F, Fut>(
    period: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        pass().await;
    }
}

/// The fair-access background jobs of this process, until the stop signal: each pass is safe
/// to run in every process at once (entries are claimed with SKIP LOCKED).
async fn fair_access_jobs(
    pool: PgPool,
    clock: Arc<dyn Clock>,
    no_shows: mawid_domain::appointment::NoShowPolicy,
    availability: AvailabilityCache,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    every_until_stopped(FAIR_ACCESS_EVERY, stop, || async {
        match mawid_persistence::waitlist::run_pass(&pool, clock.now(), no_shows).await {
            Ok(pass) if pass.moved_desks() => availability.forget_answers(),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "waitlist pass failed; retrying on the next tick"),
        }
    })
    .await
}

/// How often this process tries the retention purge; periods are hours to years, so a few
/// minutes late is nothing, and a pass that finds another process purging skips.
const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// The retention purge of this process, until the stop signal; one pass is one transaction.
async fn retention_job(
    pool: PgPool,
    clock: Arc<dyn Clock>,
    policy: mawid_domain::retention::RetentionPolicy,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    every_until_stopped(RETENTION_EVERY, stop, || async {
        match mawid_persistence::retention::purge(&pool, clock.now(), policy).await {
            Ok(Some(purged)) => tracing::info!(?purged, "retention purge"),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "retention purge failed; retrying on the next tick")
            }
        }
    })
    .await
}

async fn bootstrap_admin(
    config: &Config,
    pool: &PgPool,
    passwords: &Passwords,
) -> anyhow::Result<()> {
    let Some((email, password)) = &config.bootstrap_admin else {
        return Ok(());
    };
    // Checked before hashing, to spare the hash on every ordinary start; checked again under
    // the lock by `bootstrap_admin`.
    if users::admin_exists(pool).await? {
        return Ok(());
    }
    let email = Email::parse(email).context("MAWID_BOOTSTRAP_ADMIN_EMAIL")?;
    let password =
        Password::parse(password.expose_secret()).context("MAWID_BOOTSTRAP_ADMIN_PASSWORD")?;
    let hash = passwords
        .hash(&password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let account = NewAccount {
        email,
        full_name: FullName::parse("full_name", "Mawid administrator")?,
        language: Language::En,
        phone: None,
        role: Role::Admin,
    };
    if accounts::bootstrap_admin(pool, &account, &hash, SystemClock.now()).await? {
        tracing::info!("bootstrap admin created");
    }
    Ok(())
}
