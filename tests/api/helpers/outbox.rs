//! The notification outbox and its worker, driven below the API: rows queued the way the
//! booking and document code queues them, worker passes on demand, the rows as they end up.

use chrono::{DateTime, Duration, Utc};
use mawid_notify::{Mailer, WorkerSettings};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::{SmtpSink, TestApp, TestClock};

/// The worker settings a test varies; what is `None` keeps the production default.
#[derive(Clone, Copy, Default)]
pub struct Knobs {
    pub give_up_after: Option<std::time::Duration>,
    pub lease: Option<std::time::Duration>,
    pub batch: Option<i64>,
    pub concurrency: Option<usize>,
}

impl Knobs {
    fn settings(self) -> WorkerSettings {
        let default = WorkerSettings::default();
        WorkerSettings {
            give_up_after: self.give_up_after.unwrap_or(default.give_up_after),
            lease: self.lease.unwrap_or(default.lease),
            batch: self.batch.unwrap_or(default.batch),
            concurrency: self.concurrency.unwrap_or(default.concurrency),
            ..default
        }
    }
}

/// What worker passes did: messages sent, attempts failed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Delivered {
    pub sent: usize,
    pub failed: usize,
}

/// Worker passes on `pool` through `mailer` until nothing is due, as one server process runs
/// them.
pub async fn deliver(pool: &PgPool, mailer: &Mailer, clock: &TestClock, knobs: Knobs) -> Delivered {
    let settings = knobs.settings();
    let mut total = Delivered::default();
    loop {
        let pass = mawid_notify::run_once(pool, mailer, clock, &settings)
            .await
            .unwrap();
        if pass.sent + pass.failed == 0 {
            return total;
        }
        total.sent += pass.sent;
        total.failed += pass.failed;
    }
}

/// The SMTP mailer the server would build from `MAWID_SMTP_URL`.
pub fn smtp_mailer(url: &str) -> Mailer {
    smtp_mailer_timing_out_after(url, std::time::Duration::from_secs(5))
}

impl SmtpSink {
    /// The server's SMTP mailer, pointed at this sink.
    pub fn mailer(&self) -> Mailer {
        smtp_mailer(&self.url())
    }
}

pub fn smtp_mailer_timing_out_after(url: &str, timeout: std::time::Duration) -> Mailer {
    Mailer::smtp(url, "Mawid <no-reply@mawid.test>".parse().unwrap(), timeout).unwrap()
}

/// A notification row as the tests inspect it.
#[derive(Debug, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: Uuid,
    pub kind: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub payload: Value,
}

impl OutboxRow {
    /// Whether the last failed attempt's error mentions `text`.
    pub fn error_mentions(&self, text: &str) -> bool {
        self.last_error.as_deref().is_some_and(|e| e.contains(text))
    }
}

/// A row a worker claimed.
#[derive(Debug)]
pub struct Claim {
    pub id: Uuid,
    pub attempts: i32,
    /// Which claim this is: a worker marks and releases only its own.
    pub owner: Uuid,
}

impl TestApp {
    /// Delivers every due notification into the app's mail folder.
    pub async fn deliver_mail(&self) {
        deliver(&self.pool, &self.mailer, &self.clock, Knobs::default()).await;
    }

    /// Delivers every due notification through `mailer`.
    pub async fn deliver_with(&self, mailer: &Mailer) -> Delivered {
        self.deliver_tuned(mailer, Knobs::default()).await
    }

    pub async fn deliver_tuned(&self, mailer: &Mailer, knobs: Knobs) -> Delivered {
        deliver(&self.pool, mailer, &self.clock, knobs).await
    }

    /// The server's long-running worker on this app's database, until `stop` turns true.
    pub fn spawn_worker(
        &self,
        mailer: Mailer,
        knobs: Knobs,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let worker = mawid_notify::Worker {
            pool: self.pool.clone(),
            mailer,
            clock: std::sync::Arc::new(self.clock.clone()),
            settings: knobs.settings(),
        };
        tokio::spawn(worker.run(stop))
    }

    /// Queues a notification due now, with no dedupe key.
    pub async fn enqueue(&self, to: &str, language: &str, kind: &str, payload: Value) {
        let now = self.clock.now();
        self.enqueue_keyed(to, language, kind, payload, now, None)
            .await
            .expect("a new row");
    }

    /// Queues the reminder for an appointment; `None` when `key` already has its row.
    pub async fn enqueue_reminder(
        &self,
        to: &str,
        language: &str,
        payload: Value,
        due_at: DateTime<Utc>,
        key: String,
    ) -> Option<Uuid> {
        let kind = "appointment_reminder";
        self.enqueue_keyed(to, language, kind, payload, due_at, Some(key))
            .await
    }

    /// `payload` is decoded into the contract's type for `kind`. A row that does not decode (an
    /// unknown kind, a payload off the contract) cannot go through the typed outbox, so it is
    /// written as a faulty or older writer would have, for the tests of what the worker does
    /// with such rows.
    async fn enqueue_keyed(
        &self,
        to: &str,
        language: &str,
        kind: &str,
        payload: Value,
        due_at: DateTime<Utc>,
        dedupe_key: Option<String>,
    ) -> Option<Uuid> {
        use mawid_domain::mail::{Kind, Notification};
        use mawid_persistence::outbox::{enqueue, NewNotification};
        let language = mawid_domain::account::Language::parse(language).unwrap();
        let typed = Kind::parse(kind).and_then(|k| Notification::decode(k, &payload).ok());
        let Some(typed) = typed else {
            return sqlx::query_scalar(
                "INSERT INTO notifications (id, recipient, language, kind, payload, next_attempt_at, dedupe_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(Uuid::new_v4())
            .bind(to)
            .bind(language.code())
            .bind(kind)
            .bind(payload)
            .bind(due_at)
            .bind(dedupe_key)
            .fetch_one(&self.pool)
            .await
            .map(Some)
            .unwrap();
        };
        let row = NewNotification {
            user_id: None,
            recipient: to,
            language,
            payload: typed,
            due_at,
            dedupe_key,
        };
        enqueue(&self.pool, row).await.unwrap()
    }

    /// Every notification, oldest first.
    pub async fn outbox_rows(&self) -> Vec<OutboxRow> {
        sqlx::query_as(
            "SELECT id, kind, status, attempts, next_attempt_at, last_error, payload
             FROM notifications ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    /// The oldest notification.
    pub async fn first_notification(&self) -> OutboxRow {
        self.outbox_rows()
            .await
            .into_iter()
            .next()
            .expect("a notification")
    }

    /// What a worker does first: claims up to `limit` due rows for `lease`.
    pub async fn claim_due(&self, lease: Duration, limit: i64) -> Vec<Claim> {
        let now = self.clock.now();
        mawid_persistence::outbox::claim_due(&self.pool, now, lease, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|row| Claim {
                id: row.id,
                attempts: row.attempts,
                owner: row.lease_owner,
            })
            .collect()
    }

    /// What a stopping worker does with the rows of `claim` it did not send.
    pub async fn release(&self, ids: &[Uuid], owner: Uuid) {
        mawid_persistence::outbox::release(&self.pool, ids, owner)
            .await
            .unwrap();
    }

    /// What a worker does after a failed attempt of its claim: `false` when the row is no
    /// longer that claim's.
    pub async fn mark_failed_attempt(&self, claim: &Claim, retry_in: Duration) -> bool {
        let now = self.clock.now();
        mawid_persistence::outbox::mark_failed_attempt(
            &self.pool,
            claim.id,
            claim.owner,
            "421 try again later",
            now,
            Some(now + retry_in),
        )
        .await
        .unwrap()
    }

    /// What a worker does after the relay accepted its claim's message.
    pub async fn mark_sent(&self, claim: &Claim) -> bool {
        mawid_persistence::outbox::mark_sent(&self.pool, claim.id, claim.owner, self.clock.now())
            .await
            .unwrap()
    }
}

/// An appointment payload of the shared notification contract: 09:00–09:30 Moscow time (06:00
/// UTC) on Tuesday 1 December 2026.
pub fn december_appointment(appointment_id: Uuid) -> Value {
    appointment_payload(
        appointment_id,
        "2026-12-01T09:00:00+03:00",
        "2026-12-01T09:30:00+03:00",
    )
}

/// An appointment payload of the notification contract, as booking queues it; JSON so a test
/// can alter it.
pub fn appointment_payload(appointment_id: Uuid, start: &str, end: &str) -> Value {
    use mawid_domain::catalogue::Localized;
    use mawid_domain::mail::{AppointmentMail, AppointmentSummary, Office, Service};
    let text = |ar: &str, ru: &str, en: &str| Localized {
        ar: ar.into(),
        ru: ru.into(),
        en: en.into(),
    };
    let at = |raw: &str| DateTime::parse_from_rfc3339(raw).unwrap();
    let mail = AppointmentMail {
        from_waitlist: false,
        full_name: "Amal Haddad".into(),
        appointment: AppointmentSummary {
            appointment_id,
            reference: "MOW-7Q4K-2MZD".into(),
            sequence: 0,
            start: at(start),
            end: at(end),
            timezone: "Europe/Moscow".into(),
            office: Office {
                code: "MOW".into(),
                name: text(
                    "سفارة الجمهورية العربية السورية في موسكو",
                    "Посольство Сирийской Арабской Республики в Москве",
                    "Embassy of the Syrian Arab Republic in Moscow",
                ),
                address: text(
                    "موسكو، شارع مانسوروفسكي، 4",
                    "Москва, Мансуровский переулок, 4",
                    "4 Mansurovsky Lane, Moscow",
                ),
            },
            service: Service {
                code: "passport-renewal".into(),
                name: text("تجديد جواز السفر", "Продление паспорта", "Passport renewal"),
                required_documents: vec![
                    text(
                        "جواز السفر الحالي",
                        "Действующий паспорт",
                        "Current passport",
                    ),
                    text(
                        "صورتان شخصيتان",
                        "Две фотографии 4x6",
                        "Two 4x6 photographs",
                    ),
                ],
                fee_amount: "25.00".into(),
                fee_currency: "USD".into(),
            },
            applicant_name: Some("Amal Haddad".into()),
        },
    };
    serde_json::to_value(mail).unwrap()
}
