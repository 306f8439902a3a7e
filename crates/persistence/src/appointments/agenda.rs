//! The staff agenda: an office's appointments on one local date, each marked with whether it
//! still fits the schedule in force.

use std::collections::hash_map::{Entry, HashMap};

use chrono::NaiveDate;
use mawid_domain::agenda::on_schedule;
use mawid_domain::schedule::Calendar;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{on_date, AppointmentRow};
use crate::access::{self, Read, StaffReader, Subject, What};
use crate::catalogue::{self, ServiceRow};
use crate::schedules::{self, ScheduleRow};
use crate::StoreError;

pub struct Agenda {
    pub office_id: Uuid,
    pub date: NaiveDate,
    pub timezone: chrono_tz::Tz,
    pub items: Vec<AgendaEntry>,
}

pub struct AgendaEntry {
    pub appointment: AppointmentRow,
    pub on_schedule: bool,
    /// The booking citizen's phone (or the walk-in's), for the counter's printed day.
    pub phone: Option<String>,
}

/// How the day leaves the server: its audit action tells a look at the screen from a copy taken
/// away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgendaForm {
    Screen,
    Csv,
}

impl AgendaForm {
    pub fn action(self) -> &'static str {
        match self {
            Self::Screen => "agenda.view",
            Self::Csv => "agenda.export",
        }
    }
}

/// The agenda of an existing office (`NotFound` otherwise), whatever the appointments' status,
/// read by `reader`: one audit entry for the office-day, and an access-log row for each citizen
/// booked on it.
#[tracing::instrument(skip_all)]
pub async fn agenda(
    pool: &PgPool,
    office_id: Uuid,
    date: NaiveDate,
    reader: StaffReader,
    form: AgendaForm,
) -> Result<Agenda, StoreError> {
    let mut conn = pool.begin().await?;
    let office = catalogue::office(&mut *conn, office_id).await?;
    let tz = office.tz();
    let rows = on_date(&mut *conn, office.id, date).await?;
    let closed = schedules::closed_days(&mut *conn, office.id, date, date).await?;
    let mut offers: HashMap<Uuid, (Option<ScheduleRow>, ServiceRow)> = HashMap::new();
    for a in &rows {
        if let Entry::Vacant(e) = offers.entry(a.service_id) {
            let schedule = schedules::get(&mut *conn, office.id, a.service_id).await?;
            let service = catalogue::service(&mut *conn, a.service_id).await?;
            e.insert((schedule, service));
        }
    }
    let citizens: Vec<Uuid> = rows.iter().filter_map(|a| a.citizen_id).collect();
    let phones = phones(&mut conn, &citizens).await?;
    let subjects: Vec<Subject> = citizens
        .iter()
        .map(|&citizen_id| Subject {
            citizen_id,
            what: What::AgendaDay,
            record_type: None,
            record_id: None,
            office_id: Some(office.id),
            day: Some(date),
        })
        .collect();
    access::record(
        &mut conn,
        reader,
        Read {
            action: form.action(),
            target_type: "office",
            target_id: office.id.to_string(),
            details: serde_json::json!({ "date": date, "appointments": rows.len() }),
        },
        &subjects,
    )
    .await?;
    let items = rows
        .into_iter()
        .map(|appointment| {
            let fits = match offers.get(&appointment.service_id) {
                Some((Some(schedule), service)) => {
                    let template = schedule.template();
                    let cal = Calendar {
                        tz,
                        template: &template,
                        capacity: schedule.capacity,
                        closures: &closed,
                        policy: service.policy(),
                    };
                    on_schedule(Some(&cal), appointment.slot_start)
                }
                _ => on_schedule(None, appointment.slot_start),
            };
            let phone = match (&appointment.walk_in, appointment.citizen_id) {
                (Some(w), _) => w.phone.clone(),
                (None, Some(citizen)) => phones.get(&citizen).cloned(),
                (None, None) => None,
            };
            AgendaEntry {
                phone,
                appointment,
                on_schedule: fits,
            }
        })
        .collect();
    conn.commit().await?;
    Ok(Agenda {
        office_id: office.id,
        date,
        timezone: tz,
        items,
    })
}

/// Any citizen's appointment, for staff: the read is audited and shows in the citizen's access
/// log.
#[tracing::instrument(skip_all)]
pub async fn staff_view(
    pool: &PgPool,
    id: Uuid,
    reader: StaffReader,
) -> Result<AppointmentRow, StoreError> {
    let mut tx = pool.begin().await?;
    let a = super::by_id(&mut *tx, id).await?;
    access::record(
        &mut tx,
        reader,
        Read {
            action: "appointment.view",
            target_type: "appointment",
            target_id: a.id.to_string(),
            details: serde_json::json!({ "status": a.status.code() }),
        },
        &Vec::from_iter(Subject::appointment(
            What::Appointment,
            a.citizen_id,
            a.id,
            a.office_id,
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(a)
}

#[tracing::instrument(skip_all)]
async fn phones(
    conn: &mut PgConnection,
    citizens: &[Uuid],
) -> Result<HashMap<Uuid, String>, StoreError> {
    Ok(sqlx::query!(
        r#"SELECT id, phone AS "phone!" FROM users WHERE id = ANY($1) AND phone IS NOT NULL"#,
        citizens,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| (r.id, r.phone))
    .collect())
}
