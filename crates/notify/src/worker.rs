//! The outbox worker: claims due notifications, sends them, retries with backoff.
//!
//! Failure policy: a connection problem, a timeout or a temporary SMTP refusal (4xx) is retried
//! with exponential backoff (capped at `max_backoff`) and jitter until the row has been failing
//! for `give_up_after` (72 h by default), then the row is `failed`: a relay outage of any length
//! below that delays mail and loses none. A permanent refusal (5xx), a row that cannot be rendered (unknown kind, payload not
//! matching the contract) or an unusable address fails the row at once: repeating the same
//! message would be refused again, and the relay may count repeated 5xx against the sender. An
//! admin sees such rows in `GET /admin/notifications?status=failed` and can send them again
//! with `POST /admin/notifications/{id}/retry` once the cause is fixed.
//!
//! Delivery is at least once to the relay: a worker that dies (or stalls past its lease) after the
//! relay accepted a message and before the row is marked leaves it to be sent again by another
//! worker, with the same Message-ID so the relay or the mailbox can drop the copy. Each claim has
//! an owner, so a worker whose lease ran out cannot mark or release a row claimed since.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mawid_domain::account::Language;
use mawid_domain::Clock;
use mawid_persistence::outbox::{self, Claimed};
use mawid_persistence::{PgPool, StoreError};
use rand::Rng;

use crate::render::{self, message, render, Kind, RenderError};
use crate::transport::SendError;
use crate::Mailer;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub batch: i64,
    /// How long temporary failures are retried, from the first failed attempt.
    pub give_up_after: Duration,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub poll_interval: Duration,
    /// How long a claimed row stays invisible to other workers.
    pub lease: Duration,
    /// How many delivery loops run side by side in one process.
    pub concurrency: usize,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            batch: 10,
            give_up_after: Duration::from_secs(72 * 3600),
            base_backoff: Duration::from_secs(30),
            // Short enough that mail flows within minutes once a long outage ends.
            max_backoff: Duration::from_secs(15 * 60),
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(300),
            concurrency: 2,
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub failed: usize,
}

/// Exponential backoff with full jitter, so a recovering SMTP server is not hit by every row at once.
/// `attempts` is the number of attempts made so far (at least 1 after a failure).
pub fn backoff(settings: &WorkerSettings, attempts: i32) -> Duration {
    let exp = settings
        .base_backoff
        .saturating_mul(1u32 << (attempts - 1).clamp(0, 16) as u32);
    let cap = exp.min(settings.max_backoff);
    let jitter = rand::thread_rng().gen_range(0.5..=1.0);
    cap.mul_f64(jitter)
}

/// When to try a row again after its `attempts`-th attempt failed at `now`, or `None` once it
/// has been failing for `give_up_after`. The last retry falls at the give-up instant, so an
/// outage that ends just before it still gets its mail out.
pub fn next_attempt(
    settings: &WorkerSettings,
    attempts: i32,
    first_failed_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let give_up =
        chrono::Duration::from_std(settings.give_up_after).unwrap_or(chrono::Duration::MAX);
    // `None` when the give-up instant is past chrono's range: never give up.
    let give_up_at = first_failed_at.unwrap_or(now).checked_add_signed(give_up);
    if give_up_at.is_some_and(|at| now >= at) {
        return None;
    }
    let wait = chrono::Duration::from_std(backoff(settings, attempts)).unwrap_or_default();
    let next = now
        .checked_add_signed(wait)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    Some(give_up_at.map_or(next, |at| next.min(at)))
}

/// The row's lease ran out while this worker held it, and another worker has claimed it since;
/// that worker's outcome stands (a message already accepted is sent again, same Message-ID).
fn lease_lost(row: &Claimed) {
    tracing::warn!(notification = %row.id, "lease lost: another worker claimed this mail since");
}

enum Failure {
    Render(RenderError),
    Send(SendError),
}

impl Failure {
    fn is_permanent(&self) -> bool {
        match self {
            Self::Render(_) => true,
            Self::Send(e) => e.is_permanent(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Render(e) => write!(f, "{e}"),
            Self::Send(e) => write!(f, "{e}"),
        }
    }
}

async fn deliver(row: &Claimed, mailer: &Mailer, clock: &dyn Clock) -> Result<(), Failure> {
    // `notifications_language_check` admits only the languages the domain knows; should the two
    // ever drift, the row fails rather than reaching a family in a language they did not choose.
    let language = Language::parse(&row.language)
        .map_err(|_| Failure::Render(RenderError::UnknownLanguage(row.language.clone())))?;
    let ctx = render::Context {
        now: clock.now(),
        organizer: mailer.from(),
        recipient: &row.recipient,
    };
    let rendered = render(&row.kind, language, &row.payload, &ctx).map_err(Failure::Render)?;
    // One Message-ID per row, kept across retries, so a receiving server can drop a duplicate.
    let m = message(
        mailer.from(),
        &row.recipient,
        rendered,
        format!("<{}@mawid>", row.id),
    )
    .map_err(Failure::Send)?;
    mailer.send(m).await.map_err(Failure::Send)
}

/// One pass over the due rows; returns how many were sent and how many attempts failed.
pub async fn run_once(
    pool: &PgPool,
    mailer: &Mailer,
    clock: &dyn Clock,
    settings: &WorkerSettings,
) -> Result<Pass, StoreError> {
    run_pass(pool, mailer, clock, settings, None).await
}

/// A pass that checks `stop` between messages: once it turns true, the message being sent is
/// finished and the rest of the claimed batch is released for other workers.
async fn run_pass(
    pool: &PgPool,
    mailer: &Mailer,
    clock: &dyn Clock,
    settings: &WorkerSettings,
    stop: Option<&tokio::sync::watch::Receiver<bool>>,
) -> Result<Pass, StoreError> {
    let lease = chrono::Duration::from_std(settings.lease).unwrap_or(chrono::Duration::minutes(5));
    let claimed = outbox::claim_due(pool, clock.now(), lease, settings.batch).await?;
    let mut pass = Pass::default();
    for (i, row) in claimed.iter().enumerate() {
        if stop.is_some_and(|s| *s.borrow()) {
            let rest: Vec<_> = claimed[i..].iter().map(|r| r.id).collect();
            outbox::release(pool, &rest, row.lease_owner).await?;
            break;
        }
        // Only known kinds become label values, so a stray kind cannot grow the series.
        let kind = Kind::parse(&row.kind).map_or("unknown", Kind::code);
        match deliver(row, mailer, clock).await {
            Ok(()) => {
                if !outbox::mark_sent(pool, row.id, row.lease_owner, clock.now()).await? {
                    lease_lost(row);
                }
                metrics::counter!("mawid_emails_sent_total", "kind" => kind).increment(1);
                pass.sent += 1;
            }
            Err(e) => {
                let now = clock.now();
                let retry_at = (!e.is_permanent())
                    .then(|| next_attempt(settings, row.attempts, row.first_failed_at, now))
                    .flatten();
                let outcome = if retry_at.is_some() {
                    "retry"
                } else {
                    "failed"
                };
                tracing::warn!(notification = %row.id, kind, attempts = row.attempts, outcome, error = %e, "email delivery failed");
                metrics::counter!("mawid_email_failures_total", "kind" => kind, "outcome" => outcome)
                    .increment(1);
                let ours = outbox::mark_failed_attempt(
                    pool,
                    row.id,
                    row.lease_owner,
                    &e.to_string(),
                    now,
                    retry_at,
                )
                .await?;
                if !ours {
                    lease_lost(row);
                }
                pass.failed += 1;
            }
        }
    }
    Ok(pass)
}

/// The long-running delivery inside the server process.
#[derive(Clone)]
pub struct Worker {
    pub pool: PgPool,
    pub mailer: Mailer,
    pub clock: Arc<dyn Clock>,
    pub settings: WorkerSettings,
}

impl Worker {
    /// Runs `settings.concurrency` loops until `shutdown` turns true; each finishes the message it
    /// is sending and releases the rest of its claimed batch. Row claims (`SKIP LOCKED` plus a lease) keep the loops, and other server
    /// processes, off each other's rows.
    pub async fn run(self, shutdown: tokio::sync::watch::Receiver<bool>) {
        let loops: Vec<_> = (0..self.settings.concurrency.max(1))
            .map(|_| tokio::spawn(self.clone().run_loop(shutdown.clone())))
            .collect();
        for l in loops {
            if let Err(e) = l.await {
                tracing::error!(error = %e, "mail worker loop ended abnormally");
            }
        }
    }

    async fn run_loop(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            match run_pass(
                &self.pool,
                &self.mailer,
                self.clock.as_ref(),
                &self.settings,
                Some(&shutdown),
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::hours(h)
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let s = WorkerSettings::default();
        assert!(backoff(&s, 1) <= s.base_backoff);
        assert!(backoff(&s, 1) >= s.base_backoff / 2);
        for attempts in [10, 100, i32::MAX] {
            assert!(backoff(&s, attempts) <= s.max_backoff, "{attempts}");
        }
    }

    #[test]
    fn temporary_failures_are_retried_until_the_give_up_time_and_no_later() {
        let s = WorkerSettings::default();
        let first = at(0);
        let next = next_attempt(&s, 1, None, first).expect("a first failure is retried");
        assert!(next > first && next <= first + chrono::Duration::seconds(30));
        let late = at(71) + chrono::Duration::minutes(55);
        assert_eq!(
            next_attempt(&s, 300, Some(first), late),
            Some(at(72)),
            "the last retry falls at the give-up instant"
        );
        assert_eq!(next_attempt(&s, 301, Some(first), at(72)), None);
    }
}
