//! The appointment mails of the contract in `mawid_domain::mail`, built and queued in the
//! transaction of the change that causes them.

use chrono::{DateTime, SecondsFormat, Utc};
use mawid_domain::account::Language;
use mawid_domain::appointment::reminder_due;
use mawid_domain::mail::{at_office, AppointmentMail, AppointmentSummary, Notification};
use sqlx::PgConnection;

use super::AppointmentRow;
use crate::catalogue::{self, OfficeRow, ServiceRow};
use crate::outbox::{self, NewNotification};
use crate::users::{self, UserRow};
use crate::StoreError;

pub(super) struct MailContext {
    user: UserRow,
    office: OfficeRow,
    service: ServiceRow,
}

impl MailContext {
    pub(super) fn mail(&self) -> Mail<'_> {
        Mail {
            user: &self.user,
            office: &self.office,
            service: &self.service,
        }
    }
}

pub(super) async fn mail_context(
    conn: &mut PgConnection,
    a: &AppointmentRow,
) -> Result<MailContext, StoreError> {
    Ok(MailContext {
        user: users::by_id(&mut *conn, a.citizen_id)
            .await?
            .ok_or(StoreError::NotFound)?,
        office: catalogue::office(&mut *conn, a.office_id).await?,
        service: catalogue::service(&mut *conn, a.service_id).await?,
    })
}

/// Builds and enqueues the appointment mails of the contract in `mawid_domain::mail`.
pub(super) struct Mail<'a> {
    pub(super) user: &'a UserRow,
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
            full_name: self.user.full_name.clone(),
            appointment: self.summary(a),
            from_waitlist: false,
        }
    }

    fn language(&self) -> Language {
        self.user.language()
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
        outbox::enqueue(
            &mut *conn,
            NewNotification {
                user_id: Some(self.user.id),
                recipient: &self.user.email,
                language: self.language(),
                payload,
                due_at,
                dedupe_key,
            },
        )
        .await
        .map(|_| ())
    }

    /// The reminder a day before, unless that moment has passed. The dedupe key makes it one
    /// row per appointment and slot; moving back to a slot revives its withdrawn reminder.
    pub(super) async fn remind(
        &self,
        conn: &mut PgConnection,
        a: &AppointmentRow,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(due) = reminder_due(a.slot_start, now) else {
            return Ok(());
        };
        let key = format!(
            "reminder:{}:{}",
            a.id,
            a.slot_start.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        let reminder = Notification::AppointmentReminder(self.appointment(a));
        self.enqueue(conn, reminder, due, Some(key)).await
    }
}
