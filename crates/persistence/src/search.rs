//! Staff search: each section one statement, a UNION of one index-served branch per kind of key
//! (its one-time guard skips the kinds the query cannot be), best rank kept per row. Exact keys
//! rank 0, a name starting with the fragment 1, a later word of it starting so 2, any other
//! name match 3; then trigram similarity, then the newest. Names starting with the fragment
//! come from a btree range over the key (`starts`, the first `NAME_CANDIDATES` in key order);
//! only when fewer than a page of them exist, other matches come from the trigram index, at most
//! `NAME_CANDIDATES` of them (which ones, among more, is the index's choice). So a fragment most
//! names hold ranks a bounded set instead of sorting the table.

use chrono::{DateTime, Utc};
use mawid_domain::search::{SearchTerms, MAX_RESULTS};
use sqlx::PgPool;
use uuid::Uuid;

use crate::access::{self, Read, StaffReader, Subject, What};
use crate::StoreError;

/// Rows each name branch (starts with; holds anywhere) may hand to the ranking.
const NAME_CANDIDATES: i64 = 200;

pub struct CitizenHit {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    pub phone: Option<String>,
    pub preferred_language: String,
    pub created_at: DateTime<Utc>,
}

pub struct AppointmentHit {
    pub id: Uuid,
    pub reference: String,
    /// `None` for a walk-in without an account.
    pub citizen_id: Option<Uuid>,
    pub office_id: Uuid,
    pub service_id: Uuid,
    pub slot_start: DateTime<Utc>,
    pub timezone: String,
    pub applicant_name: String,
    pub passport_number: Option<String>,
    pub national_number: Option<String>,
    pub status: String,
}

pub struct DocumentRequestHit {
    pub id: Uuid,
    pub tracking_number: String,
    pub citizen_id: Uuid,
    pub office_id: Uuid,
    pub service_id: Uuid,
    pub applicant_full_name: String,
    pub applicant_passport: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

pub struct Found {
    pub citizens: Vec<CitizenHit>,
    pub appointments: Vec<AppointmentHit>,
    pub document_requests: Vec<DocumentRequestHit>,
}

/// The hits of `t` for `reader`: the search is audited with the kinds of key and the ids hit
/// (never the query's text), and each hit shows in its citizen's access log.
#[tracing::instrument(skip_all)]
pub async fn search(
    pool: &PgPool,
    t: &SearchTerms,
    reader: StaffReader,
) -> Result<Found, StoreError> {
    let found = Found {
        citizens: citizens_matching(pool, t).await?,
        appointments: appointments_matching(pool, t).await?,
        document_requests: document_requests_matching(pool, t).await?,
    };
    audit(pool, t, reader, &found).await?;
    Ok(found)
}

/// Citizens by email, phone, passport or national number, or name.
async fn citizens_matching(pool: &PgPool, t: &SearchTerms) -> Result<Vec<CitizenHit>, sqlx::Error> {
    let phones = t.phones.clone().unwrap_or_default();
    sqlx::query_as!(
        CitizenHit,
        r#"WITH starts AS MATERIALIZED (
             SELECT id FROM users
             WHERE $3::text IS NOT NULL AND role = 'citizen'
               AND full_name_key >= (SELECT search_key($3))
               AND full_name_key < (SELECT search_key($3)) || '~'
             ORDER BY full_name_key
             LIMIT $6
           ), m AS (
             SELECT id, 0 AS rank FROM users
             WHERE $1::text IS NOT NULL AND role = 'citizen' AND lower(email) = $1
             UNION ALL
             SELECT id, 0 FROM users
             WHERE cardinality($2::text[]) > 0 AND role = 'citizen' AND phone IS NOT NULL
               AND phone = ANY($2)
             UNION ALL
             SELECT id, 0 FROM users
             WHERE $4::text IS NOT NULL AND role = 'citizen' AND passport_number IS NOT NULL
               AND passport_number = $4
             UNION ALL
             SELECT id, 0 FROM users
             WHERE $4::text IS NOT NULL AND role = 'citizen' AND national_number IS NOT NULL
               AND national_number = $4
             UNION ALL
             SELECT id, 1 FROM starts
             UNION ALL
             (SELECT id, CASE WHEN full_name_key LIKE (SELECT search_key($3)) || '%' THEN 1
                         WHEN full_name_key LIKE '% ' || (SELECT search_key($3)) || '%' THEN 2
                         ELSE 3 END
              FROM users
              WHERE $3::text IS NOT NULL AND role = 'citizen'
                AND full_name_key LIKE '%' || (SELECT search_key($3)) || '%'
                AND (SELECT count(*) FROM starts) < $5
              LIMIT $6)
           ), best AS (SELECT id, min(rank) AS rank FROM m GROUP BY id)
           SELECT u.id, u.email, u.full_name, u.phone, u.preferred_language, u.created_at
           FROM best JOIN users u ON u.id = best.id
           ORDER BY best.rank, similarity(u.full_name_key, (SELECT search_key($3))) DESC NULLS LAST,
                    u.created_at DESC, u.id
           LIMIT $5"#,
        t.email,
        &phones[..],
        t.name,
        t.code,
        MAX_RESULTS,
        NAME_CANDIDATES,
    )
    .fetch_all(pool)
    .await
}

/// Appointments by reference, passport or national number, a walk-in's email or phone, or the
/// applicant's name.
async fn appointments_matching(
    pool: &PgPool,
    t: &SearchTerms,
) -> Result<Vec<AppointmentHit>, sqlx::Error> {
    let phones = t.phones.clone().unwrap_or_default();
    sqlx::query_as!(
        AppointmentHit,
        r#"WITH starts AS MATERIALIZED (
             SELECT id FROM appointments
             WHERE $2::text IS NOT NULL
               AND applicant_name_key >= (SELECT search_key($2))
               AND applicant_name_key < (SELECT search_key($2)) || '~'
             ORDER BY applicant_name_key
             LIMIT $4
           ), m AS (
             SELECT id, 0 AS rank FROM appointments WHERE $1::text IS NOT NULL AND reference = $1
             UNION ALL
             SELECT id, 0 FROM appointments
             WHERE $1::text IS NOT NULL AND passport_number IS NOT NULL AND passport_number = $1
             UNION ALL
             SELECT id, 0 FROM appointments
             WHERE $1::text IS NOT NULL AND national_number IS NOT NULL AND national_number = $1
             UNION ALL
             SELECT id, 0 FROM appointments
             WHERE $5::text IS NOT NULL AND walk_in_email IS NOT NULL AND walk_in_email = $5
             UNION ALL
             SELECT id, 0 FROM appointments
             WHERE cardinality($6::text[]) > 0 AND walk_in_phone IS NOT NULL
               AND walk_in_phone = ANY($6)
             UNION ALL
             SELECT id, 1 FROM starts
             UNION ALL
             (SELECT id, CASE WHEN applicant_name_key LIKE (SELECT search_key($2)) || '%' THEN 1
                         WHEN applicant_name_key LIKE '% ' || (SELECT search_key($2)) || '%' THEN 2
                         ELSE 3 END
              FROM appointments
              WHERE $2::text IS NOT NULL
                AND applicant_name_key LIKE '%' || (SELECT search_key($2)) || '%'
                AND (SELECT count(*) FROM starts) < $3
              LIMIT $4)
           ), best AS (SELECT id, min(rank) AS rank FROM m GROUP BY id)
           SELECT a.id, a.reference, a.citizen_id, a.office_id, a.service_id, a.slot_start,
                  o.timezone, a.applicant_name, a.passport_number, a.national_number, a.status
           FROM best JOIN appointments a ON a.id = best.id JOIN offices o ON o.id = a.office_id
           ORDER BY best.rank,
                    similarity(a.applicant_name_key, (SELECT search_key($2))) DESC NULLS LAST,
                    a.slot_start DESC, a.id
           LIMIT $3"#,
        t.code,
        t.name,
        MAX_RESULTS,
        NAME_CANDIDATES,
        t.email,
        &phones[..],
    )
    .fetch_all(pool)
    .await
}

/// Document requests by tracking number, passport, or name. A request made at check-in carries
/// its appointment's identity: one booked under a national number is found through that
/// appointment.
async fn document_requests_matching(
    pool: &PgPool,
    t: &SearchTerms,
) -> Result<Vec<DocumentRequestHit>, sqlx::Error> {
    sqlx::query_as!(
        DocumentRequestHit,
        r#"WITH starts AS MATERIALIZED (
             SELECT id FROM document_requests
             WHERE $2::text IS NOT NULL
               AND applicant_full_name_key >= (SELECT search_key($2))
               AND applicant_full_name_key < (SELECT search_key($2)) || '~'
             ORDER BY applicant_full_name_key
             LIMIT $4
           ), m AS (
             SELECT id, 0 AS rank FROM document_requests
             WHERE $1::text IS NOT NULL AND tracking_number = $1
             UNION ALL
             SELECT id, 0 FROM document_requests
             WHERE $1::text IS NOT NULL AND applicant_passport IS NOT NULL
               AND applicant_passport = $1
             UNION ALL
             SELECT d.id, 0 FROM document_requests d JOIN appointments a ON a.id = d.appointment_id
             WHERE $1::text IS NOT NULL AND a.national_number IS NOT NULL
               AND a.national_number = $1
             UNION ALL
             SELECT id, 1 FROM starts
             UNION ALL
             (SELECT id, CASE WHEN applicant_full_name_key LIKE (SELECT search_key($2)) || '%' THEN 1
                         WHEN applicant_full_name_key LIKE '% ' || (SELECT search_key($2)) || '%' THEN 2
                         ELSE 3 END
              FROM document_requests
              WHERE $2::text IS NOT NULL
                AND applicant_full_name_key LIKE '%' || (SELECT search_key($2)) || '%'
                AND (SELECT count(*) FROM starts) < $3
              LIMIT $4)
           ), best AS (SELECT id, min(rank) AS rank FROM m GROUP BY id)
           SELECT d.id, d.tracking_number, d.citizen_id, d.office_id, d.service_id,
                  d.applicant_full_name, d.applicant_passport, d.status, d.created_at
           FROM best JOIN document_requests d ON d.id = best.id
           ORDER BY best.rank,
                    similarity(d.applicant_full_name_key, (SELECT search_key($2))) DESC NULLS LAST,
                    d.created_at DESC, d.id
           LIMIT $3"#,
        t.code,
        t.name,
        MAX_RESULTS,
        NAME_CANDIDATES,
    )
    .fetch_all(pool)
    .await
}

async fn audit(
    pool: &PgPool,
    t: &SearchTerms,
    reader: StaffReader,
    found: &Found,
) -> Result<(), StoreError> {
    let mut subjects = Vec::new();
    subjects.extend(
        found
            .citizens
            .iter()
            .map(|c| Subject::citizen(What::SearchHit, c.id)),
    );
    subjects.extend(
        found
            .appointments
            .iter()
            .filter_map(|a| Subject::appointment(What::SearchHit, a.citizen_id, a.id, a.office_id)),
    );
    subjects.extend(
        found
            .document_requests
            .iter()
            .map(|d| Subject::document_request(What::SearchHit, d.citizen_id, d.id, d.office_id)),
    );
    let ids = |v: &mut dyn Iterator<Item = Uuid>| v.collect::<Vec<_>>();
    let mut tx = pool.begin().await?;
    access::record(
        &mut tx,
        reader,
        Read {
            action: "search",
            target_type: "search",
            target_id: String::new(),
            details: serde_json::json!({
                "kinds": t.kinds(),
                "citizens": ids(&mut found.citizens.iter().map(|c| c.id)),
                "appointments": ids(&mut found.appointments.iter().map(|a| a.id)),
                "document_requests": ids(&mut found.document_requests.iter().map(|d| d.id)),
            }),
        },
        &subjects,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
