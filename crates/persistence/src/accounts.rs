//! Account use cases: sign-up, address verification, sign-in, sessions, password reset, the
//! caller's profile and staff accounts. Each owns its transaction; the rules are the domain's.

use std::fmt;

use chrono::{DateTime, Utc};
use mawid_domain::account::session::refresh_expires_at;
use mawid_domain::account::staff::{StaffChange, StaffState};
use mawid_domain::account::{
    Email, NewAccount, ProfileChange, Purpose, RefreshState, Refusal, Role, Rotation, Standing,
};
use mawid_domain::limit::{Decision, LimitName, Rate};
use mawid_domain::mail::{Greeting, Notification};
use mawid_domain::Code;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit::{self, Entry};
use crate::limits::{self, Hit};
use crate::outbox::{self, NewNotification};
use crate::users::{self, NewUser, UserRow};
use crate::{tokens, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// A secret handed to a client (in a mail or an answer) and the hash the database keeps of it.
/// Made by the http crate, which owns the randomness and the hashing.
pub struct Secret {
    pub token: String,
    pub hash: String,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// A signed-in account: what the access token is issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub user_id: Uuid,
    pub role: Role,
}

/// Creates a citizen account and queues the mail with its verification token. For an address
/// that has an account it creates nothing and mails the owner instead (at most `owner_mails`
/// such mails per window), so the caller can answer both alike.
#[tracing::instrument(skip_all)]
pub async fn register(
    pool: &PgPool,
    account: &NewAccount,
    password_hash: &str,
    verification: &Secret,
    owner_mails: Rate,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    match users::insert(&mut *tx, NewUser::of(account, password_hash, now)).await {
        Ok(user) => {
            send_one_time_token(&mut tx, &user, Purpose::VerifyEmail, verification, now).await?;
            tx.commit().await?;
            Ok(())
        }
        Err(StoreError::Conflict(Code::EmailTaken)) => {
            drop(tx);
            tell_owner(pool, &account.email, owner_mails, now).await
        }
        Err(e) => Err(e),
    }
}

/// Mails the owner of `email` that someone tried to register it.
async fn tell_owner(
    pool: &PgPool,
    email: &Email,
    owner_mails: Rate,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let Some(user) = users::by_email(&mut *tx, email).await? else {
        return Ok(());
    };
    let cap = limits::hit(
        &mut *tx,
        LimitName::VerifyMail,
        email.as_str(),
        owner_mails,
        now,
    )
    .await?;
    if cap.allowed() {
        outbox::enqueue(
            &mut *tx,
            NewNotification {
                user_id: Some(user.id),
                recipient: &user.email,
                language: user.language(),
                payload: Notification::AccountExists(Greeting {
                    full_name: user.full_name.clone(),
                }),
                due_at: now,
                dedupe_key: None,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Mails a new verification token to the account of `email` when it exists and is not verified
/// yet, within `mails` per window. The caller answers the same in every case; the cap is counted
/// for every address alike, so the work done does not tell them apart either.
#[tracing::instrument(skip_all)]
pub async fn resend_verification(
    pool: &PgPool,
    email: &Email,
    verification: &Secret,
    mails: Rate,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let cap = limits::hit(&mut *tx, LimitName::VerifyMail, email.as_str(), mails, now).await?;
    let user = users::by_email(&mut *tx, email).await?;
    if let Some(user) = user.filter(|u| cap.allowed() && u.email_verified_at.is_none()) {
        send_one_time_token(&mut tx, &user, Purpose::VerifyEmail, verification, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Creates a single-use token and queues the email carrying it, in the caller's transaction.
async fn send_one_time_token(
    conn: &mut PgConnection,
    user: &UserRow,
    purpose: Purpose,
    secret: &Secret,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tokens::insert_one_time(&mut *conn, &secret.hash, user.id, purpose, now).await?;
    outbox::enqueue(
        &mut *conn,
        NewNotification {
            user_id: Some(user.id),
            recipient: &user.email,
            language: user.language(),
            payload: purpose.mail(user.full_name.clone(), secret.token.clone()),
            due_at: now,
            dedupe_key: None,
        },
    )
    .await?;
    Ok(())
}

/// Uses a verification token: the address is verified once, the token works once.
#[tracing::instrument(skip_all)]
pub async fn verify_email(
    pool: &PgPool,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), AccountError> {
    let mut tx = pool.begin().await?;
    let user_id = tokens::consume_one_time(&mut *tx, token_hash, Purpose::VerifyEmail, now)
        .await?
        .ok_or(Refusal::InvalidOneTimeToken)?;
    users::mark_verified(&mut *tx, user_id, now).await?;
    tx.commit().await?;
    Ok(())
}

/// A sign-in past the lockout, waiting for the password check. Only [`begin_login`] makes one,
/// so no password is ever checked for a locked account.
pub struct LoginAttempt {
    user: Option<UserRow>,
    at: DateTime<Utc>,
    /// The failure this attempt reserved, per account and address and account-wide: it stands
    /// if the password is wrong and is given back otherwise.
    reserved: [Hit; 2],
}

impl LoginAttempt {
    /// The stored hash to verify against; `None` for an unknown email, which is verified against
    /// a dummy hash so the answer takes as long.
    pub fn password_hash(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.password_hash.as_str())
    }
}

/// How many failed sign-ins are allowed: per account from one client address, and per account
/// from all of them.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    pub per_address: Rate,
    pub per_account: Rate,
}

/// First half of a sign-in: reserves a failure for the account from this client address and
/// account-wide (each one atomic upsert, so parallel attempts cannot all pass the check), and
/// reads the account, before the password is verified (off the database, on the hashing pool).
/// An unknown email is counted like a known one.
#[tracing::instrument(skip_all)]
pub async fn begin_login(
    pool: &PgPool,
    email: &Email,
    client: &str,
    limits: LoginLimits,
    now: DateTime<Utc>,
) -> Result<LoginAttempt, AccountError> {
    let here_key = format!("{} {client}", email.as_str());
    let here = limits::hit(
        pool,
        LimitName::LoginFailures,
        &here_key,
        limits.per_address,
        now,
    )
    .await?;
    if let Decision::RetryAfter(retry_after_secs) = here.decision {
        return Err(Refusal::Locked { retry_after_secs }.into());
    }
    let everywhere = limits::hit(
        pool,
        LimitName::LoginAccount,
        email.as_str(),
        limits.per_account,
        now,
    )
    .await?;
    if let Decision::RetryAfter(retry_after_secs) = everywhere.decision {
        // No password is checked: this address did not fail once more.
        limits::give_back(pool, &here).await?;
        return Err(Refusal::Locked { retry_after_secs }.into());
    }
    Ok(LoginAttempt {
        user: users::by_email(pool, email).await?,
        at: now,
        reserved: [here, everywhere],
    })
}

/// A sign-in whose password could not be checked (the hashing pool was full): its reserved
/// failures are given back.
#[tracing::instrument(skip_all)]
pub async fn abandon_login(pool: &PgPool, attempt: LoginAttempt) -> Result<(), StoreError> {
    for hit in &attempt.reserved {
        limits::give_back(pool, hit).await?;
    }
    Ok(())
}

/// Second half of a sign-in, given whether the password matched: a failure keeps its
/// reservation, a success gives it back and starts a new token family with `refresh_hash` —
/// unless the password changed since it was verified.
#[tracing::instrument(skip_all)]
pub async fn finish_login(
    pool: &PgPool,
    attempt: LoginAttempt,
    password_matches: bool,
    refresh_hash: &str,
) -> Result<Session, AccountError> {
    let LoginAttempt { user, at, reserved } = attempt;
    let Some(user) = user.filter(|_| password_matches) else {
        return Err(Refusal::InvalidCredentials.into());
    };
    let mut tx = pool.begin().await?;
    if !users::lock_unchanged_password(&mut tx, user.id, &user.password_hash).await? {
        return Err(Refusal::InvalidCredentials.into());
    }
    for hit in &reserved {
        limits::give_back(&mut *tx, hit).await?;
    }
    let family = Uuid::new_v4();
    tokens::insert_family(&mut *tx, family, user.id, at).await?;
    let session = mint(&mut tx, &user, family, refresh_hash, at).await?;
    tx.commit().await?;
    Ok(session)
}

async fn mint(
    conn: &mut PgConnection,
    user: &UserRow,
    family: Uuid,
    refresh_hash: &str,
    now: DateTime<Utc>,
) -> Result<Session, AccountError> {
    // Read in the minting transaction, so a suspension or deactivation committed before it holds.
    Standing::admit(users::standing(&mut *conn, user.id).await?)?;
    let expires = refresh_expires_at(now);
    tokens::insert_refresh(conn, refresh_hash, user.id, family, expires).await?;
    Ok(Session {
        user_id: user.id,
        role: user.role,
    })
}

/// Rotates the refresh token `presented` into `next`; a reused one revokes its whole family.
#[tracing::instrument(skip_all)]
pub async fn refresh(
    pool: &PgPool,
    presented: &str,
    next: &str,
    now: DateTime<Utc>,
) -> Result<Session, AccountError> {
    let mut tx = pool.begin().await?;
    let (family, owner) = tokens::family_of(&mut *tx, presented)
        .await?
        .ok_or(Refusal::InvalidRefreshToken)?;
    // The family before the token: the order every revocation takes too.
    if tokens::lock_family(&mut tx, family, owner, now).await? {
        return Err(Refusal::InvalidRefreshToken.into());
    }
    let row = tokens::lock_refresh(&mut tx, presented)
        .await?
        .ok_or(Refusal::InvalidRefreshToken)?;
    let rotation = RefreshState::of(&row.stored, now).rotation();
    if let Some(refusal) = rotation.refusal() {
        if rotation == Rotation::RevokeFamily {
            tokens::revoke_family(&mut tx, row.family_id, now).await?;
            tx.commit().await?;
            tracing::warn!(family = %row.family_id, "refresh token reuse; family revoked");
        }
        return Err(refusal.into());
    }
    tokens::mark_refresh_used(&mut *tx, presented, now).await?;
    let user = users::by_id(&mut *tx, row.user_id)
        .await?
        .ok_or(Refusal::InvalidRefreshToken)?;
    let session = mint(&mut tx, &user, row.family_id, next, now).await?;
    tx.commit().await?;
    Ok(session)
}

/// Ends the sign-in that `token_hash` belongs to. Unknown or foreign tokens are ignored: logging
/// out is idempotent and reveals nothing.
#[tracing::instrument(skip_all)]
pub async fn logout(
    pool: &PgPool,
    token_hash: &str,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    if let Some((family, owner)) = tokens::family_of(&mut *tx, token_hash).await? {
        if owner == user_id {
            tokens::lock_family(&mut tx, family, owner, now).await?;
            tokens::revoke_family(&mut tx, family, now).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Mails a reset token to the account of `email`, if there is one and its mail cap (`mails`
/// per window, one atomic count) allows. The caller answers the same in every case; the cap is
/// counted for every address alike, so the work done does not tell them apart either.
#[tracing::instrument(skip_all)]
pub async fn request_password_reset(
    pool: &PgPool,
    email: &Email,
    reset: &Secret,
    mails: Rate,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let cap = limits::hit(&mut *tx, LimitName::ResetMail, email.as_str(), mails, now).await?;
    match users::by_email(&mut *tx, email).await? {
        Some(user) if cap.allowed() => {
            send_one_time_token(&mut tx, &user, Purpose::PasswordReset, reset, now).await?;
        }
        Some(user) => {
            tracing::info!(user = %user.id, "password reset mail withheld: per-window limit reached");
        }
        None => {}
    }
    tx.commit().await?;
    Ok(())
}

/// Uses a reset token: the new password, every session ended (a reset usually means the old
/// password leaked), the account's other reset tokens void and its account-wide failed sign-ins
/// forgotten, all or nothing.
#[tracing::instrument(skip_all)]
pub async fn reset_password(
    pool: &PgPool,
    token_hash: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), AccountError> {
    let mut tx = pool.begin().await?;
    let user_id = tokens::consume_one_time(&mut *tx, token_hash, Purpose::PasswordReset, now)
        .await?
        .ok_or(Refusal::InvalidOneTimeToken)?;
    let email = users::set_password(&mut *tx, user_id, password_hash)
        .await?
        .ok_or(Refusal::InvalidOneTimeToken)?;
    tokens::revoke_all_for_user(&mut tx, user_id, now).await?;
    tokens::void_one_time(&mut *tx, user_id, Purpose::PasswordReset, now).await?;
    limits::clear(&mut *tx, LimitName::LoginAccount, &email).await?;
    tx.commit().await?;
    Ok(())
}

/// The caller's own account.
#[tracing::instrument(skip_all)]
pub async fn profile(pool: &PgPool, user_id: Uuid) -> Result<UserRow, AccountError> {
    Ok(users::by_id(pool, user_id)
        .await?
        .ok_or(Refusal::AccountGone)?)
}

#[tracing::instrument(skip_all)]
pub async fn update_profile(
    pool: &PgPool,
    user_id: Uuid,
    change: &ProfileChange,
) -> Result<UserRow, StoreError> {
    users::update_profile(pool, user_id, change)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Creates a staff account for `admin_id`, with its audit entry.
#[tracing::instrument(skip_all)]
pub async fn create_staff(
    pool: &PgPool,
    admin_id: Uuid,
    account: &NewAccount,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<UserRow, StoreError> {
    let mut tx = pool.begin().await?;
    let user = users::insert(&mut *tx, NewUser::of(account, password_hash, now)).await?;
    audit::record(
        &mut *tx,
        Entry {
            actor_id: admin_id,
            action: "staff.create",
            target_type: "user",
            target_id: user.id.to_string(),
            details: json!({ "role": user.role.code() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// The role an authenticated request acts with, read from the account on every request so that
/// a deactivation (or a demotion) holds from the next request on, whatever the token says.
#[tracing::instrument(skip_all)]
pub async fn account_standing(pool: &PgPool, user_id: Uuid) -> Result<Role, AccountError> {
    Ok(Standing::admit(users::standing(pool, user_id).await?)?)
}

/// Lock key of `pg_advisory_xact_lock` serialising changes to staff roles and activity: the
/// count of active admins read under it stays true until the change commits.
const LOCK_STAFF_CHANGES: i64 = 0x6d61_7769_6401;

/// Changes a staff account's role or activity for `admin_id`, never leaving no active admin.
/// Deactivating revokes its refresh tokens; its access tokens fail the standing check.
#[tracing::instrument(skip_all)]
pub async fn patch_staff(
    pool: &PgPool,
    admin_id: Uuid,
    id: Uuid,
    change: StaffChange,
    now: DateTime<Utc>,
) -> Result<UserRow, AccountError> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", LOCK_STAFF_CHANGES)
        .execute(&mut *tx)
        .await?;
    let user = users::lock_staff(&mut tx, id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let before = StaffState {
        role: user.role,
        active: user.deactivated_at.is_none(),
    };
    let after = before.apply(change, users::active_admins(&mut *tx).await?)?;
    let user = users::set_staff(&mut *tx, id, after.role, after.active, now).await?;
    if before.active && !after.active {
        tokens::revoke_all_for_user(&mut tx, id, now).await?;
    }
    audit::record(
        &mut *tx,
        Entry {
            actor_id: admin_id,
            action: "staff.update",
            target_type: "user",
            target_id: id.to_string(),
            details: json!({
                "from": { "role": before.role.code(), "active": before.active },
                "to": { "role": after.role.code(), "active": after.active },
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Creates the first admin unless an admin exists, audited as its own action. Several server
/// processes starting together take turns on an advisory lock, so one creates it and the
/// others see it. Returns whether this call created it.
#[tracing::instrument(skip_all)]
pub async fn bootstrap_admin(
    pool: &PgPool,
    account: &NewAccount,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    /// Any constant both processes agree on; the bytes spell "mawidadm".
    const BOOTSTRAP_LOCK: i64 = 0x6d61_7769_6461_646d;
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", BOOTSTRAP_LOCK)
        .execute(&mut *tx)
        .await?;
    if users::admin_exists(&mut *tx).await? {
        return Ok(false);
    }
    let user = users::insert(&mut *tx, NewUser::of(account, password_hash, now)).await?;
    audit::record(
        &mut *tx,
        Entry {
            actor_id: user.id,
            action: "staff.bootstrap_admin",
            target_type: "user",
            target_id: user.id.to_string(),
            details: json!({ "role": user.role.code() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Every officer and admin, oldest first.
#[tracing::instrument(skip_all)]
pub async fn list_staff(pool: &PgPool) -> Result<Vec<UserRow>, StoreError> {
    users::list_staff(pool).await
}
