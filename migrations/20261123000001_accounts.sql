-- Accounts, credentials and the transactional outbox for email.

CREATE TABLE users (
    id                 uuid PRIMARY KEY,
    email              text NOT NULL,
    password_hash      text NOT NULL,
    full_name          text NOT NULL,
    preferred_language text NOT NULL CONSTRAINT users_language_check CHECK (preferred_language IN ('ar', 'ru', 'en')),
    phone              text,
    role               text NOT NULL CONSTRAINT users_role_check CHECK (role IN ('citizen', 'officer', 'admin')),
    email_verified_at  timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- The application stores emails lower-cased; the index makes case-insensitive uniqueness the database's job.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Refresh tokens are opaque; only their SHA-256 is stored. A family is one login's chain of rotations.
CREATE TABLE refresh_tokens (
    token_hash  text PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

-- Email verification and password reset tokens: single use, stored hashed.
CREATE TABLE one_time_tokens (
    token_hash  text PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text NOT NULL CONSTRAINT one_time_tokens_purpose_check CHECK (purpose IN ('verify_email', 'password_reset')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX one_time_tokens_user_idx ON one_time_tokens (user_id, purpose);

-- Failed logins per normalised email, counted here so the lockout holds across server processes.
CREATE TABLE login_failures (
    id          bigserial PRIMARY KEY,
    email       text NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_email_idx ON login_failures (email, failed_at);

-- Outgoing email, written in the same transaction as the change that causes it and
-- delivered by the notify worker.
CREATE TABLE notifications (
    id              uuid PRIMARY KEY,
    user_id         uuid REFERENCES users (id) ON DELETE SET NULL,
    recipient       text NOT NULL,
    language        text NOT NULL CONSTRAINT notifications_language_check CHECK (language IN ('ar', 'ru', 'en')),
    kind            text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CONSTRAINT notifications_status_check CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    -- Set for mail that must go out at most once per fact (e.g. one reminder per appointment slot).
    dedupe_key      text CONSTRAINT notifications_dedupe_key UNIQUE
);
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE status = 'pending';

-- Staff actions, append-only.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    actor_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
