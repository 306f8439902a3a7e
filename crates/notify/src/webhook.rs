//! The webhook worker: claims due deliveries with a lease, posts each to its endpoint signed as
//! the Standard Webhooks specification says, and records the attempt; failures are tried again
//! on the schedule of `mawid_domain::webhook`. It runs in every server process (claims skip
//! rows another process holds) and stops when the process shuts down.
//!
//! Apart from the mail outbox on purpose: a slow receiver never delays a citizen's email.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use mawid_domain::webhook::Secret;
use mawid_domain::Clock;
use mawid_persistence::webhooks::{self, Claimed, Outcome};
use mawid_persistence::{PgPool, StoreError};
use sha2::Sha256;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct HookSettings {
    pub batch: i64,
    /// How long a claimed delivery stays invisible to other workers: longer than `timeout`.
    pub lease: Duration,
    /// How long a receiver may take to answer.
    pub timeout: Duration,
    pub poll_interval: Duration,
}

impl Default for HookSettings {
    fn default() -> Self {
        Self {
            batch: 10,
            lease: Duration::from_secs(60),
            timeout: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// `v1,` and the base64 HMAC-SHA256, keyed with the secret's decoded bytes, of
/// `{webhook-id}.{webhook-timestamp}.{body}`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let tag = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    )
}

#[derive(Clone)]
pub struct HookWorker {
    pub pool: PgPool,
    pub clock: Arc<dyn Clock>,
    pub client: reqwest::Client,
    pub settings: HookSettings,
    /// This process's name on the leases it takes.
    pub owner: Uuid,
}

impl HookWorker {
    pub fn new(pool: PgPool, clock: Arc<dyn Clock>, settings: HookSettings) -> Self {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            // A receiver's redirect could point anywhere; its answer is what it is.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client with a timeout and rustls builds");
        Self {
            pool,
            clock,
            client,
            settings,
            owner: Uuid::new_v4(),
        }
    }

    /// Claims and attempts what is due now; the number of attempts made.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let lease = chrono::Duration::from_std(self.settings.lease).unwrap_or_default();
        let lease_until = now.checked_add_signed(lease).unwrap_or(now);
        let claimed = webhooks::claim(
            &self.pool,
            self.owner,
            self.settings.batch,
            now,
            lease_until,
        )
        .await?;
        let n = claimed.len();
        for d in claimed {
            let outcome = self.attempt(&d).await;
            if !outcome.delivered() {
                tracing::warn!(delivery = %d.id, ?outcome, "webhook delivery failed");
            }
            webhooks::record_attempt(&self.pool, self.owner, d.id, &outcome, self.clock.now())
                .await?;
        }
        Ok(n)
    }

    async fn attempt(&self, d: &Claimed) -> Outcome {
        let secret = match Secret::parse("secret", &d.secret) {
            Ok(s) => s,
            Err(e) => {
                return Outcome {
                    status_code: None,
                    error: Some(format!("stored secret unusable: {e}")),
                }
            }
        };
        let body = d.payload.to_string();
        let id = d.id.to_string();
        let timestamp = self.clock.now().timestamp();
        let sent = self
            .client
            .post(&d.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                sign(secret.key(), &id, timestamp, &body),
            )
            .body(body)
            .send()
            .await;
        match sent {
            Ok(res) => {
                let status = res.status();
                Outcome {
                    status_code: Some(i32::from(status.as_u16())),
                    error: (!status.is_success()).then(|| format!("answered {status}")),
                }
            }
            Err(e) => Outcome {
                status_code: None,
                error: Some(e.without_url().to_string()),
            },
        }
    }

    /// Attempts deliveries until `shutdown` turns true; an attempt under way is finished first.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.run_once().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "webhook pass failed"),
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

    #[test]
    fn the_signature_is_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = Secret::parse("s", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(
                secret.key(),
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                body
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
