//! The outbox worker: claims due notifications, sends them, retries with backoff.

use std::sync::Arc;
use std::time::Duration;

use mawid_domain::account::Language;
use mawid_domain::Clock;
use mawid_persistence::{outbox, PgPool, StoreError};
use rand::Rng;

use crate::render::{message, render};
use crate::Mailer;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub batch: i64,
    pub max_attempts: i32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub poll_interval: Duration,
    /// How long a claimed row stays invisible to other workers.
    pub lease: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            batch: 10,
            max_attempts: 8,
            base_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub failed: usize,
}

/// Exponential backoff with full jitter, so a recovering SMTP server is not hit by every row at once.
fn backoff(settings: &WorkerSettings, attempts: i32) -> Duration {
    let exp = settings
        .base_backoff
        .saturating_mul(1u32 << attempts.clamp(0, 16) as u32);
    let cap = exp.min(settings.max_backoff);
    let jitter = rand::thread_rng().gen_range(0.5..=1.0);
    cap.mul_f64(jitter)
}

/// One pass over the due rows; returns how many were sent and how many attempts failed.
pub async fn run_once(
    pool: &PgPool,
    mailer: &Mailer,
    clock: &dyn Clock,
    settings: &WorkerSettings,
) -> Result<Pass, StoreError> {
    let lease = chrono::Duration::from_std(settings.lease).unwrap_or(chrono::Duration::minutes(5));
    let claimed = outbox::claim_due(pool, clock.now(), lease, settings.batch).await?;
    let mut pass = Pass::default();
    for row in claimed {
        let language = Language::parse(&row.language).unwrap_or(Language::En);
        let rendered = render(&row.kind, language, &row.payload);
        let result = match message(
            mailer.from(),
            &row.recipient,
            rendered,
            format!("<{}@mawid>", row.id),
        ) {
            Ok(m) => mailer.send(m).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                outbox::mark_sent(pool, row.id, clock.now()).await?;
                pass.sent += 1;
            }
            Err(e) => {
                let retry_at = (row.attempts < settings.max_attempts).then(|| {
                    clock.now()
                        + chrono::Duration::from_std(backoff(settings, row.attempts))
                            .unwrap_or_default()
                });
                tracing::warn!(notification = %row.id, attempts = row.attempts, error = %e, "email delivery failed");
                outbox::mark_failed_attempt(pool, row.id, &e.to_string(), retry_at).await?;
                pass.failed += 1;
            }
        }
    }
    Ok(pass)
}

/// The long-running loop inside the server process.
pub struct Worker {
    pub pool: PgPool,
    pub mailer: Mailer,
    pub clock: Arc<dyn Clock>,
    pub settings: WorkerSettings,
}

impl Worker {
    /// Runs until `shutdown` resolves; a message being sent is finished first.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            match run_once(
                &self.pool,
                &self.mailer,
                self.clock.as_ref(),
                &self.settings,
            )
            .await
            {
                Ok(p) if p.sent + p.failed > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "outbox pass failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}
