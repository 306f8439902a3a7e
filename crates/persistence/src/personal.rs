//! A citizen's rights over their personal data (152-FZ): the export of everything held about
//! them, and the erasure of their account.

use chrono::{DateTime, Utc};
use mawid_domain::appointment::Cancellation;
use mawid_domain::Code;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::access::{self, AccessRow};
use crate::appointments::{self, lifecycle, AppointmentRow, BookingError};
use crate::document_requests::{self, Detail, DocumentError};
use crate::users::{self, UserRow};
use crate::waitlist::{self, EntryRow};
use crate::{tokens, StoreError};

/// A mail sent (or to be sent) to the citizen, without its body: a body may hold a token.
#[derive(Debug, Clone)]
pub struct SentMail {
    pub kind: String,
    pub language: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

pub struct Export {
    pub user: UserRow,
    pub appointments: Vec<AppointmentRow>,
    pub document_requests: Vec<Detail>,
    pub waitlist: Vec<EntryRow>,
    pub mails: Vec<SentMail>,
    pub access_log: Vec<AccessRow>,
}

/// Everything held about the citizen, read in one snapshot.
#[tracing::instrument(skip_all)]
pub async fn export(pool: &PgPool, citizen_id: Uuid) -> Result<Export, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let user = users::by_id(&mut *tx, citizen_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let appointments = appointments::list_own(&mut *tx, citizen_id).await?;
    let document_requests = document_requests::all_own_details(&mut tx, citizen_id).await?;
    let waitlist = waitlist::list_own(&mut *tx, citizen_id).await?;
    let mails = sqlx::query_as!(
        SentMail,
        "SELECT kind, language, status, created_at, sent_at FROM notifications
         WHERE user_id = $1 OR lower(recipient) = lower($2)
         ORDER BY created_at DESC, id",
        citizen_id,
        user.email,
    )
    .fetch_all(&mut *tx)
    .await?;
    let access_log = access::page_of(&mut *tx, citizen_id, i64::MAX, 0).await?;
    tx.commit().await?;
    Ok(Export {
        user,
        appointments,
        document_requests,
        waitlist,
        mails,
        access_log,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    /// The password is not the account's (or the account is not a citizen's).
    #[error("wrong password")]
    WrongPassword,
    #[error(transparent)]
    Booking(#[from] BookingError),
    #[error(transparent)]
    Document(#[from] DocumentError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ErasureError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// What stands in for an erased account's email: unique per account (the address must be free
/// to register again) and undeliverable (`.invalid`, RFC 2606).
fn placeholder_email(id: Uuid) -> String {
    format!("erased-{}@erased.invalid", id.simple())
}

/// Erases the citizen's account, if `verified_hash` (the hash the caller's password was checked
/// against) is still its password: future bookings cancelled by the citizen (desks released
/// under the fair-access rules), waiting entries left, `submitted` requests cancelled, every
/// session and one-time token revoked, then every personal field blanked in the account and its
/// records. The rows stay, anonymised, for the statistics. Refused while the consulate holds
/// the citizen's papers (a request between `under_review` and `ready_for_pickup`).
#[tracing::instrument(skip_all)]
pub async fn erase(
    pool: &PgPool,
    citizen_id: Uuid,
    verified_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), ErasureError> {
    let mut tx = pool.begin().await?;
    // A booking or waitlist entry being made now ends before this one starts, or waits for the
    // erasure and finds the account closed.
    appointments::booking::lock_citizen(&mut tx, citizen_id).await?;
    let user = sqlx::query!(
        "SELECT email FROM users
         WHERE id = $1 AND role = 'citizen' AND password_hash = $2 FOR UPDATE",
        citizen_id,
        verified_hash,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ErasureError::WrongPassword)?;
    // The citizen's requests are row-locked: a staff transition running now either finished
    // (and is seen here) or waits for the erasure and then finds the request cancelled.
    let held = sqlx::query_scalar!(
        r#"SELECT count(*) FILTER (WHERE status IN ('under_review', 'awaiting_documents',
                                                    'approved', 'ready_for_pickup')) AS "n!"
           FROM (SELECT status FROM document_requests WHERE citizen_id = $1 FOR UPDATE) r"#,
        citizen_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    if held > 0 {
        return Err(StoreError::Conflict(Code::ActiveDocumentRequests).into());
    }
    withdraw(&mut tx, citizen_id, now).await?;
    // Collected before the blanking: the audit details naming any of them are erased too.
    let values = personal_values(&mut tx, citizen_id).await?;
    blank(&mut tx, citizen_id, &user.email, &values, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Everything the citizen still has going on, ended as the citizen would end it.
async fn withdraw(
    tx: &mut PgConnection,
    citizen_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ErasureError> {
    let future = sqlx::query_scalar!(
        "SELECT id FROM appointments
         WHERE citizen_id = $1 AND status = 'booked' AND slot_start > $2 ORDER BY slot_start",
        citizen_id,
        now
    )
    .fetch_all(&mut *tx)
    .await?;
    let by_citizen = Cancellation::by_citizen(citizen_id, None).map_err(BookingError::from)?;
    for id in &future {
        lifecycle::cancel_in(&mut *tx, *id, &by_citizen, now).await?;
    }
    sqlx::query!(
        "UPDATE waitlist_entries SET status = 'left', updated_at = $2
         WHERE citizen_id = $1 AND status = 'waiting'",
        citizen_id,
        now
    )
    .execute(&mut *tx)
    .await?;
    let submitted = sqlx::query_scalar!(
        "SELECT id FROM document_requests WHERE citizen_id = $1 AND status = 'submitted'",
        citizen_id
    )
    .fetch_all(&mut *tx)
    .await?;
    for id in &submitted {
        document_requests::cancel_in(&mut *tx, *id, citizen_id, now).await?;
    }
    tokens::revoke_all_for_user(&mut *tx, citizen_id, now).await?;
    sqlx::query!(
        "UPDATE one_time_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
        citizen_id,
        now
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The citizen's personal values as stored anywhere in their records: the account's and every
/// applicant's names, identity numbers, phone, email and dates of birth.
async fn personal_values(
    tx: &mut PgConnection,
    citizen_id: Uuid,
) -> Result<Vec<String>, StoreError> {
    let values = sqlx::query_scalar!(
        r#"SELECT DISTINCT v AS "v!" FROM (
             SELECT unnest(ARRAY[email, full_name, phone, passport_number, national_number]) AS v
             FROM users WHERE id = $1
             UNION ALL
             SELECT unnest(ARRAY[applicant_name, passport_number, national_number])
             FROM appointments WHERE citizen_id = $1
             UNION ALL
             SELECT unnest(ARRAY[applicant_full_name, applicant_passport,
                                 applicant_date_of_birth::text])
             FROM document_requests WHERE citizen_id = $1
             UNION ALL
             SELECT unnest(ARRAY[applicant_name, passport_number, national_number])
             FROM waitlist_entries WHERE citizen_id = $1
           ) s WHERE v IS NOT NULL AND length(v) >= 3"#,
        citizen_id
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(values)
}

async fn blank(
    tx: &mut PgConnection,
    citizen_id: Uuid,
    email: &str,
    values: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // Staff may have written a name or a number into a reason or a note: any audit entry whose
    // details hold one of the citizen's values loses its details.
    sqlx::query!(
        r#"UPDATE audit_log SET details = '{"erased": true}'::jsonb
           WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) v
                         WHERE strpos(lower(details::text), lower(v)) > 0)"#,
        values,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE appointments SET applicant_name = '', passport_number = NULL,
            national_number = NULL, cancel_reason = NULL, updated_at = $2
         WHERE citizen_id = $1",
        citizen_id,
        now
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE document_requests SET applicant_full_name = '', applicant_date_of_birth = NULL,
            applicant_passport = NULL
         WHERE citizen_id = $1",
        citizen_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE document_request_events SET public_note = NULL, internal_note = NULL
         WHERE request_id IN (SELECT id FROM document_requests WHERE citizen_id = $1)",
        citizen_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE waitlist_entries SET applicant_name = NULL, passport_number = NULL,
            national_number = NULL, identity_key = 'erased:' || id::text, updated_at = $2
         WHERE citizen_id = $1",
        citizen_id,
        now
    )
    .execute(&mut *tx)
    .await?;
    // The mails stay counted (kind, language, times); what was unsent is not sent.
    sqlx::query!(
        "UPDATE notifications SET recipient = '', payload = '{}'::jsonb, last_error = NULL,
            status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END
         WHERE user_id = $1 OR lower(recipient) = lower($2)",
        citizen_id,
        email
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "DELETE FROM login_failures WHERE lower(email) = lower($1)",
        email
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "DELETE FROM idempotency_keys WHERE citizen_id = $1",
        citizen_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE users SET email = $2, full_name = '', phone = NULL, passport_number = NULL,
            national_number = NULL, password_hash = '!', suspension_reason = NULL,
            deactivated_at = COALESCE(deactivated_at, $3), erased_at = $3, updated_at = $3
         WHERE id = $1",
        citizen_id,
        placeholder_email(citizen_id),
        now
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}
