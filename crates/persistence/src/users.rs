//! Queries on user accounts, citizens and staff alike; the use cases are in `accounts`.

use chrono::{DateTime, Utc};
use mawid_domain::account::{
    Email, FullName, Identity, Language, NationalNo, NewAccount, PassportNo, Phone, ProfileChange,
    Role, Standing,
};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::{corrupt, map_err, StoreError};

/// An account as stored, with its role and language decoded.
#[derive(Clone)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub full_name: String,
    pub preferred_language: Language,
    pub phone: Option<String>,
    pub role: Role,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub passport_number: Option<String>,
    pub national_number: Option<String>,
    pub deactivated_at: Option<DateTime<Utc>>,
}

/// Only the id and the role: the email, name, phone, identity numbers and password hash are
/// personal or secret, and a Debug print lands in logs and panic messages.
impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl UserRow {
    /// The language of mail to this account.
    pub fn language(&self) -> Language {
        self.preferred_language
    }

    /// The citizen's own identity number, if the profile keeps one (the passport first).
    pub fn identity(&self) -> Option<Identity> {
        Identity::stored(
            self.passport_number.as_deref(),
            self.national_number.as_deref(),
        )
    }
}

/// The columns [`Record`] reads, written once for [`with_no_shows`] and the JSON read of
/// [`crate::offer`]: `user_columns!(m!(args))` is `m!(args "<columns>")`.
macro_rules! user_columns {
    ($($m:ident)::+ !($($args:tt)*)) => {
        $($m)::+!($($args)*
            "id, email, password_hash, full_name, preferred_language, phone, role,
             email_verified_at, created_at, passport_number, national_number, deactivated_at")
    };
}
pub(crate) use user_columns;

/// A `users` row as the database returns it, before its text columns are decoded (also read as
/// JSON by [`crate::offer`]).
#[derive(serde::Deserialize)]
pub(crate) struct Record {
    id: Uuid,
    email: String,
    password_hash: String,
    full_name: String,
    preferred_language: String,
    phone: Option<String>,
    role: String,
    email_verified_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    passport_number: Option<String>,
    national_number: Option<String>,
    deactivated_at: Option<DateTime<Utc>>,
}

/// A value no parser accepts is a broken row, not a default: say where it is.
impl TryFrom<Record> for UserRow {
    type Error = sqlx::Error;

    fn try_from(r: Record) -> Result<Self, sqlx::Error> {
        let preferred_language = Language::parse(&r.preferred_language)
            .map_err(|_| corrupt("users.preferred_language", &r.preferred_language))?;
        let role = Role::parse(&r.role).ok_or_else(|| corrupt("users.role", &r.role))?;
        Ok(Self {
            id: r.id,
            email: r.email,
            password_hash: r.password_hash,
            full_name: r.full_name,
            preferred_language,
            phone: r.phone,
            role,
            email_verified_at: r.email_verified_at,
            created_at: r.created_at,
            passport_number: r.passport_number,
            national_number: r.national_number,
            deactivated_at: r.deactivated_at,
        })
    }
}

fn decode(r: Option<Record>) -> Result<Option<UserRow>, StoreError> {
    Ok(r.map(UserRow::try_from).transpose()?)
}

pub struct NewUser<'a> {
    pub email: &'a Email,
    pub password_hash: &'a str,
    pub full_name: &'a FullName,
    pub language: Language,
    pub phone: Option<&'a Phone>,
    pub role: Role,
    pub verified_at: Option<DateTime<Utc>>,
}

impl<'a> NewUser<'a> {
    /// The row for `account`, created at `now`.
    pub fn of(account: &'a NewAccount, password_hash: &'a str, now: DateTime<Utc>) -> Self {
        Self {
            email: &account.email,
            password_hash,
            full_name: &account.full_name,
            language: account.language,
            phone: account.phone.as_ref(),
            role: account.role,
            verified_at: account.verified_on_creation().then_some(now),
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn insert(ex: impl PgExecutor<'_>, u: NewUser<'_>) -> Result<UserRow, StoreError> {
    let r = sqlx::query_as!(
        Record,
        "INSERT INTO users (id, email, password_hash, full_name, preferred_language, phone, role, email_verified_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING id, email, password_hash, full_name, preferred_language, phone, role,
                   email_verified_at, created_at, passport_number, national_number, deactivated_at",
        Uuid::new_v4(),
        u.email.as_str(),
        u.password_hash,
        u.full_name.as_str(),
        u.language.code(),
        u.phone.map(Phone::as_str),
        u.role.code(),
        u.verified_at,
    )
    .fetch_one(ex)
    .await
    .map_err(map_err)?;
    Ok(UserRow::try_from(r)?)
}

#[tracing::instrument(skip_all)]
pub async fn by_email(
    ex: impl PgExecutor<'_>,
    email: &Email,
) -> Result<Option<UserRow>, StoreError> {
    decode(
        sqlx::query_as!(
            Record,
            "SELECT id, email, password_hash, full_name, preferred_language, phone, role,
                    email_verified_at, created_at, passport_number, national_number, deactivated_at
             FROM users WHERE lower(email) = $1",
            email.as_str(),
        )
        .fetch_optional(ex)
        .await?,
    )
}

#[tracing::instrument(skip_all)]
pub async fn by_id(ex: impl PgExecutor<'_>, id: Uuid) -> Result<Option<UserRow>, StoreError> {
    decode(
        sqlx::query_as!(
            Record,
            "SELECT id, email, password_hash, full_name, preferred_language, phone, role,
                    email_verified_at, created_at, passport_number, national_number, deactivated_at
             FROM users WHERE id = $1",
            id,
        )
        .fetch_optional(ex)
        .await?,
    )
}

/// An account and the starts of its recent no-shows.
pub(crate) type WithNoShows = (UserRow, Vec<DateTime<Utc>>);

/// An account and its no-shows as the JSON read of [`crate::offer`] returns them.
#[derive(serde::Deserialize)]
pub(crate) struct WithNoShowsRecord {
    #[serde(flatten)]
    user: Record,
    no_shows: Vec<DateTime<Utc>>,
}

impl TryFrom<WithNoShowsRecord> for WithNoShows {
    type Error = StoreError;

    fn try_from(r: WithNoShowsRecord) -> Result<Self, StoreError> {
        Ok((UserRow::try_from(r.user)?, r.no_shows))
    }
}

/// The account `id` and the starts of its no-shows after `since` (what the suspension rule
/// counts), in one read for the booking paths.
#[tracing::instrument(skip_all)]
pub(crate) async fn with_no_shows(
    ex: impl PgExecutor<'_>,
    id: Uuid,
    since: DateTime<Utc>,
) -> Result<Option<WithNoShows>, StoreError> {
    macro_rules! read {
        ($columns:literal) => {
            sqlx::query!(
                "SELECT "
                    + $columns
                    + ", no_shows_since(u.id, $2) AS \"no_shows!\"
                 FROM users u WHERE id = $1",
                id,
                since,
            )
        };
    }
    let Some(r) = user_columns!(read!()).fetch_optional(ex).await? else {
        return Ok(None);
    };
    let user = UserRow::try_from(Record {
        id: r.id,
        email: r.email,
        password_hash: r.password_hash,
        full_name: r.full_name,
        preferred_language: r.preferred_language,
        phone: r.phone,
        role: r.role,
        email_verified_at: r.email_verified_at,
        created_at: r.created_at,
        passport_number: r.passport_number,
        national_number: r.national_number,
        deactivated_at: r.deactivated_at,
    })?;
    Ok(Some((user, r.no_shows)))
}

#[tracing::instrument(skip_all)]
pub(crate) async fn update_profile(
    ex: impl PgExecutor<'_>,
    id: Uuid,
    c: &ProfileChange,
) -> Result<Option<UserRow>, StoreError> {
    decode(
        sqlx::query_as!(
            Record,
            "UPDATE users SET
                full_name = COALESCE($2, full_name),
                preferred_language = COALESCE($3, preferred_language),
                phone = CASE WHEN $4 THEN $5 ELSE phone END,
                passport_number = CASE WHEN $6 THEN $7 ELSE passport_number END,
                national_number = CASE WHEN $8 THEN $9 ELSE national_number END,
                updated_at = now()
             WHERE id = $1
             RETURNING id, email, password_hash, full_name, preferred_language, phone, role,
                       email_verified_at, created_at, passport_number, national_number, deactivated_at",
            id,
            c.full_name.as_ref().map(FullName::as_str),
            c.language.map(Language::code),
            c.phone.is_some(),
            c.phone.as_ref().and_then(|p| p.as_ref().map(Phone::as_str)),
            c.passport_number.is_some(),
            c.passport_number
                .as_ref()
                .and_then(|p| p.as_ref().map(PassportNo::as_str)),
            c.national_number.is_some(),
            c.national_number
                .as_ref()
                .and_then(|n| n.as_ref().map(NationalNo::as_str)),
        )
        .fetch_optional(ex)
        .await?,
    )
}

/// Sets the password hash and returns the account's email, or `None` when there is no such
/// account.
#[tracing::instrument(skip_all)]
pub(crate) async fn set_password(
    ex: impl PgExecutor<'_>,
    id: Uuid,
    hash: &str,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar!(
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1 RETURNING email",
        id,
        hash,
    )
    .fetch_optional(ex)
    .await?)
}

/// Whether the account still has the password hash a sign-in verified, holding a share lock on
/// it until the transaction ends: a reset changing the password meanwhile either waits for the
/// sign-in (and then revokes its new family) or has already changed it (and the sign-in fails).
#[tracing::instrument(skip_all)]
pub(crate) async fn lock_unchanged_password(
    conn: &mut PgConnection,
    id: Uuid,
    verified_hash: &str,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT 1 AS "one!" FROM users WHERE id = $1 AND password_hash = $2 FOR SHARE"#,
        id,
        verified_hash,
    )
    .fetch_optional(conn)
    .await?
    .is_some())
}

/// Marks the address verified; a second verification keeps the first time.
#[tracing::instrument(skip_all)]
pub(crate) async fn mark_verified(
    ex: impl PgExecutor<'_>,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2), updated_at = now()
         WHERE id = $1",
        id,
        at,
    )
    .execute(ex)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub(crate) async fn list_staff(ex: impl PgExecutor<'_>) -> Result<Vec<UserRow>, StoreError> {
    let staff = Role::STAFF.map(Role::code);
    sqlx::query_as!(
        Record,
        "SELECT id, email, password_hash, full_name, preferred_language, phone, role,
                email_verified_at, created_at, passport_number, national_number, deactivated_at
         FROM users WHERE role = ANY($1) ORDER BY created_at, id",
        &staff[..] as &[&str],
    )
    .fetch_all(ex)
    .await?
    .into_iter()
    .map(|r| Ok(UserRow::try_from(r)?))
    .collect()
}

/// The current role, deactivation and suspension of one account: what every authenticated
/// request checks.
#[tracing::instrument(skip_all)]
pub(crate) async fn standing(
    ex: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<Standing>, StoreError> {
    let Some(r) = sqlx::query!(
        r#"SELECT role, deactivated_at IS NOT NULL AS "deactivated!",
                  suspended_at IS NOT NULL AS "suspended!"
           FROM users WHERE id = $1"#,
        id,
    )
    .fetch_optional(ex)
    .await?
    else {
        return Ok(None);
    };
    let role = Role::parse(&r.role).ok_or_else(|| corrupt("users.role", &r.role))?;
    Ok(Some(Standing {
        role,
        deactivated: r.deactivated,
        suspended: r.suspended,
    }))
}

/// One staff account, row-locked for a change; a citizen's id is `None`, as is an unknown one.
#[tracing::instrument(skip_all)]
pub(crate) async fn lock_staff(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<UserRow>, StoreError> {
    let staff = Role::STAFF.map(Role::code);
    decode(
        sqlx::query_as!(
            Record,
            "SELECT id, email, password_hash, full_name, preferred_language, phone, role,
                    email_verified_at, created_at, passport_number, national_number, deactivated_at
             FROM users WHERE id = $1 AND role = ANY($2) FOR UPDATE",
            id,
            &staff[..] as &[&str],
        )
        .fetch_optional(conn)
        .await?,
    )
}

#[tracing::instrument(skip_all)]
pub(crate) async fn active_admins(ex: impl PgExecutor<'_>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM users WHERE role = $1 AND deactivated_at IS NULL"#,
        Role::Admin.code(),
    )
    .fetch_one(ex)
    .await?)
}

/// Sets a staff account's role and deactivation (kept from before when still inactive).
#[tracing::instrument(skip_all)]
pub(crate) async fn set_staff(
    ex: impl PgExecutor<'_>,
    id: Uuid,
    role: Role,
    active: bool,
    now: DateTime<Utc>,
) -> Result<UserRow, StoreError> {
    let r = sqlx::query_as!(
        Record,
        "UPDATE users SET role = $2, updated_at = $4,
            deactivated_at = CASE WHEN $3 THEN NULL ELSE COALESCE(deactivated_at, $4) END
         WHERE id = $1
         RETURNING id, email, password_hash, full_name, preferred_language, phone, role,
                   email_verified_at, created_at, passport_number, national_number, deactivated_at",
        id,
        role.code(),
        active,
        now,
    )
    .fetch_one(ex)
    .await?;
    Ok(UserRow::try_from(r)?)
}

#[tracing::instrument(skip_all)]
pub async fn admin_exists(ex: impl PgExecutor<'_>) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE role = $1) AS "exists!""#,
        Role::Admin.code(),
    )
    .fetch_one(ex)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_prints_neither_its_personal_fields_nor_its_password_hash() {
        let u = UserRow {
            id: Uuid::nil(),
            email: "amal@example.org".into(),
            password_hash: "$argon2id$secret".into(),
            full_name: "Amal Haddad".into(),
            preferred_language: Language::Ar,
            phone: Some("+79161234567".into()),
            role: Role::Citizen,
            email_verified_at: None,
            created_at: DateTime::<Utc>::MIN_UTC,
            passport_number: Some("N1234567".into()),
            national_number: Some("12345678901".into()),
            deactivated_at: None,
        };
        let shown = format!("{u:?}");
        for secret in [
            "amal@",
            "argon2",
            "Amal",
            "+7916",
            "N1234567",
            "12345678901",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    fn record(role: &str, language: &str) -> Record {
        Record {
            id: Uuid::nil(),
            email: "amal@example.org".into(),
            password_hash: "x".into(),
            full_name: "Amal Haddad".into(),
            preferred_language: language.into(),
            phone: None,
            role: role.into(),
            email_verified_at: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            passport_number: None,
            national_number: None,
            deactivated_at: None,
        }
    }

    #[test]
    fn role_and_language_decode_into_domain_types() {
        let u = UserRow::try_from(record("officer", "ar")).unwrap();
        assert_eq!(u.role, Role::Officer);
        assert_eq!(u.language(), Language::Ar);
    }

    #[test]
    fn an_unknown_role_or_language_is_an_error_naming_the_column() {
        let e = UserRow::try_from(record("root", "en"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("users.role") && e.contains("\"root\""), "{e}");
        let e = UserRow::try_from(record("citizen", "fr"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("users.preferred_language") && e.contains("\"fr\""),
            "{e}"
        );
    }
}
