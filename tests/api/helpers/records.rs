//! Rows written below the API, for rules the API cannot reach on its own: a catalogue setting it
//! does not expose, the sample data, and the persistence call check-in makes.

use chrono::NaiveDate;
use uuid::Uuid;

use super::TestApp;

/// What check-in hands persistence to open an appointment's document request.
#[derive(Clone)]
pub struct Opening {
    pub citizen: Uuid,
    pub office: Uuid,
    pub service: Uuid,
    pub appointment: Uuid,
    pub applicant: String,
    pub date_of_birth: Option<NaiveDate>,
    pub passport: Option<String>,
    /// The officer checking the appointment in.
    pub actor: Uuid,
}

/// The document request an opening answered with.
#[derive(Debug)]
pub struct Opened {
    pub id: Uuid,
    pub tracking_number: String,
    pub status: String,
}

impl TestApp {
    /// A document-issuing service whose requests are overdue after `target_days` in a status
    /// (the API leaves the target at its default).
    pub async fn insert_documentary_service(&self, code: &str, target_days: i32) -> String {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO services (id, code, name_ar, name_ru, name_en, duration_minutes,
                creates_document_request, target_days_per_status)
             VALUES ($1, $2, 'خدمة', 'Услуга', 'Service', 30, true, $3)",
        )
        .bind(id)
        .bind(code)
        .bind(target_days)
        .execute(&self.pool)
        .await
        .unwrap();
        id.to_string()
    }

    /// The sample catalogue `mawid seed` loads.
    pub async fn load_sample_data(&self) {
        mawid_persistence::sample::load(&self.pool).await.unwrap();
    }

    /// A booked appointment row, two days ahead, written directly: for tests of what check-in
    /// does with an appointment, not of booking.
    pub async fn insert_appointment(&self, citizen: Uuid, office: Uuid, service: Uuid) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO appointments (id, reference, citizen_id, office_id, service_id, slot_start, slot_end,
                                       desk_no, applicant_name, applicant_relation, status, created_at, updated_at)
             VALUES ($1, 'T-' || $1::text, $2, $3, $4, now() + interval '2 days', now() + interval '2 days 30 minutes',
                     1, 'Amal Haddad', 'self', 'booked', now(), now())",
        )
        .bind(id)
        .bind(citizen)
        .bind(office)
        .bind(service)
        .execute(&self.pool)
        .await
        .unwrap();
        id
    }

    /// Opens each in turn in one transaction, as check-in does, and commits.
    pub async fn open_for_appointment(&self, openings: &[Opening]) -> Vec<Opened> {
        use mawid_persistence::document_requests::{open_for_appointment, OpenFromAppointment};
        let mut tx = self.pool.begin().await.unwrap();
        let mut opened = Vec::new();
        for o in openings {
            let row = open_for_appointment(
                &mut tx,
                OpenFromAppointment {
                    citizen_id: o.citizen,
                    office_id: o.office,
                    service_id: o.service,
                    appointment_id: o.appointment,
                    applicant_full_name: o.applicant.clone(),
                    applicant_date_of_birth: o.date_of_birth,
                    applicant_passport: o.passport.clone(),
                    actor_id: o.actor,
                    now: self.clock.now(),
                },
            )
            .await
            .unwrap();
            opened.push(Opened {
                id: row.id,
                tracking_number: row.tracking_number,
                status: row.status.code().to_owned(),
            });
        }
        tx.commit().await.unwrap();
        opened
    }
}
