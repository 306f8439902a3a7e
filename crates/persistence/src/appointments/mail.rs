//! The appointment mails of the contract in `mawid_domain::mail`, built and queued in the
//! transaction of the change that causes them.

use chrono::{DateTime, SecondsFormat, Utc};
use mawid_domain::account::Language;
use mawid_domain::appointment::reminder_due;
use mawid_domain::mail::{at_office, AppointmentMail, AppointmentSummary, Notification};
use sqlx::PgConnection;
use uuid::Uuid;

use super::AppointmentRow;
use crate::catalogue::{self, OfficeRow, ServiceRow};
use crate::outbox::{self, NewNotification};
use crate::users::{self, UserRow};
use crate::webhooks::Announcement;
use crate::StoreError;

/// Whom an appointment's mail goes to: the citizen's account, or a walk-in's own address.
pub(super) struct Recipient {
    user_id: Option<Uuid>,
    email: String,
    pub(super) full_name: String,
    language: Language,
}

impl Recipient {
    pub(super) fn of_user(u: &UserRow) -> Self {
        Self {
            user_id: Some(u.id),
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            language: u.language(),
        }
    }

    /// A walk-in who left an email, greeted by the name they booked under; `None` without one.
    pub(super) fn walk_in(
        email: Option<&str>,
        full_name: &str,
        language: Language,
    ) -> Option<Self> {
        Some(Self {
            user_id: None,
            email: email?.to_owned(),
            full_name: full_name.to_owned(),
            language,
        })
    }
}

pub(super) struct MailContext {
    to: Recipient,
    office: OfficeRow,
    service: ServiceRow,
}

impl MailContext {
    pub(super) fn mail(&self) -> Mail<'_> {
        Mail {
            to: &self.to,
            office: &self.office,
            service: &self.service,
        }
    }
}

/// What an appointment's mail needs; `None` for a walk-in who left no email (nobody to write
/// to).
pub(super) async fn mail_context(
    conn: &mut PgConnection,
    a: &AppointmentRow,
) -> Result<Option<MailContext>, StoreError> {
    let to = match (a.citizen_id, &a.walk_in) {
        (Some(citizen_id), _) => Recipient::of_user(
            &users::by_id(&mut *conn, citizen_id)
                .await?
                .ok_or(StoreError::NotFound)?,
        ),
        (None, Some(w)) => {
            let Some(to) = Recipient::walk_in(w.email.as_deref(), &a.applicant_name, w.language)
            else {
                return Ok(None);
            };
            to
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(MailContext {
        to,
        office: catalogue::office(&mut *conn, a.office_id).await?,
        service: catalogue::service(&mut *conn, a.service_id).await?,
    }))
}

/// Builds and enqueues the appointment mails of the contract in `mawid_domain::mail`.
pub(super) struct Mail<'a> {
    pub(super) to: &'a Recipient,
    pub(super) office: &'a OfficeRow,
    pub(super) service: &'a ServiceRow,
}

impl Mail<'_> {
    /// What every appointment mail says about `a`.
    pub(super) fn summary(&self, a: &AppointmentRow) -> AppointmentSummary {
        AppointmentSummary {
            appointment_id: a.id,
            reference: a.reference.clone(),
            sequence: a.sequence,
            start: at_office(a.timezone, a.slot_start),
            end: at_office(a.timezone, a.slot_end),
            timezone: a.timezone.name().to_owned(),
            office: catalogue::office_payload(self.office),
            service: catalogue::service_payload(self.service),
            applicant_name: Some(a.applicant_name.clone()),
        }
    }

    /// The payload of a booking confirmation or reminder.
    pub(super) fn appointment(&self, a: &AppointmentRow) -> AppointmentMail {
        AppointmentMail {
            full_name: self.to.full_name.clone(),
            appointment: self.summary(a),
            from_waitlist: false,
        }
    }

    pub(super) async fn send(
        &self,
        conn: &mut PgConnection,
        payload: Notification,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.enqueue(conn, payload, now, None).await
    }

    /// Queues a mail that must go out at most once per `dedupe_key`.
    pub(super) async fn send_once(
        &self,
        conn: &mut PgConnection,
        payload: Notification,
        now: DateTime<Utc>,
        dedupe_key: String,
    ) -> Result<(), StoreError> {
        self.enqueue(conn, payload, now, Some(dedupe_key)).await
    }

    async fn enqueue(
        &self,
        conn: &mut PgConnection,
        payload: Notification,
        due_at: DateTime<Utc>,
        dedupe_key: Option<String>,
    ) -> Result<(), StoreError> {
        outbox::enqueue(&mut *conn, self.row(payload, due_at, dedupe_key))
            .await
            .map(|_| ())
    }

    fn row(
        &self,
        payload: Notification,
        due_at: DateTime<Utc>,
        dedupe_key: Option<String>,
    ) -> NewNotification<'_> {
        NewNotification {
            user_id: self.to.user_id,
            recipient: &self.to.email,
            language: self.to.language,
            payload,
            due_at,
            dedupe_key,
        }
    }

    /// Queues `payload` now and the appointment's reminder a day before its start (unless that
    /// moment has passed), and the webhook deliveries of `announcement`, in one statement. The
    /// dedupe key makes the reminder one row per appointment and slot; moving back to a slot
    /// revives its withdrawn reminder.
    pub(super) async fn send_with_reminder(
        &self,
        conn: &mut PgConnection,
        payload: Notification,
        a: &AppointmentRow,
        now: DateTime<Utc>,
        announcement: &Announcement,
    ) -> Result<(), StoreError> {
        let mut rows = vec![self.row(payload, now, None)];
        if let Some(due) = reminder_due(a.slot_start, now) {
            let key = format!(
                "reminder:{}:{}",
                a.id,
                a.slot_start.to_rfc3339_opts(SecondsFormat::Secs, true)
            );
            let reminder = Notification::AppointmentReminder(self.appointment(a));
            rows.push(self.row(reminder, due, Some(key)));
        }
        outbox::enqueue_all(&mut *conn, rows, Some(announcement))
            .await
            .map(|_| ())
    }
}
