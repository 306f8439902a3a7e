//! The appointment mails of the shared notification contract, built and queued in the
//! transaction of the change that causes them.

use chrono::{DateTime, SecondsFormat, Utc};
use mawid_domain::account::Language;
use mawid_domain::appointment::reminder_due;
use serde_json::{json, Value};
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

/// Builds and enqueues the appointment mails of the shared notification contract.
pub(super) struct Mail<'a> {
    pub(super) user: &'a UserRow,
    pub(super) office: &'a OfficeRow,
    pub(super) service: &'a ServiceRow,
}

impl Mail<'_> {
    fn payload(&self, a: &AppointmentRow, extra: Value) -> Value {
        let mut p = json!({
            "full_name": self.user.full_name,
            "appointment_id": a.id.to_string(),
            "reference": a.reference,
            "sequence": a.sequence,
            "start": a.local(a.slot_start),
            "end": a.local(a.slot_end),
            "timezone": a.timezone,
            "office": catalogue::office_payload(self.office),
            "service": catalogue::service_payload(self.service),
            "applicant_name": a.applicant_name,
        });
        if let (Some(p), Value::Object(extra)) = (p.as_object_mut(), extra) {
            p.extend(extra);
        }
        p
    }

    fn language(&self) -> Language {
        self.user.language()
    }

    pub(super) async fn send(
        &self,
        conn: &mut PgConnection,
        kind: &str,
        a: &AppointmentRow,
        extra: Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.enqueue(conn, kind, a, extra, now, None).await
    }

    async fn enqueue(
        &self,
        conn: &mut PgConnection,
        kind: &str,
        a: &AppointmentRow,
        extra: Value,
        due_at: DateTime<Utc>,
        dedupe_key: Option<String>,
    ) -> Result<(), StoreError> {
        outbox::enqueue(
            &mut *conn,
            NewNotification {
                user_id: Some(self.user.id),
                recipient: &self.user.email,
                language: self.language(),
                kind,
                payload: self.payload(a, extra),
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
        self.enqueue(conn, "appointment_reminder", a, json!({}), due, Some(key))
            .await
    }
}
