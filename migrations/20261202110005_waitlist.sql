-- Waitlist entries: a citizen waiting for a slot of one service at one office between two
-- local dates. The background assignment books the oldest fitting entry into a freed desk.

CREATE TABLE waitlist_entries (
    id                  uuid PRIMARY KEY,
    -- Order of joining, for entries joined at the same instant.
    position            bigint GENERATED ALWAYS AS IDENTITY,
    citizen_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    office_id           uuid NOT NULL REFERENCES offices (id) ON DELETE CASCADE,
    service_id          uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    from_date           date NOT NULL,
    to_date             date NOT NULL,
    -- NULL with relation 'self': the profile's name at booking time.
    applicant_name      text,
    applicant_relation  text NOT NULL,
    passport_number     text,
    national_number     text,
    -- 'P:<passport>' or 'N:<national number>': one waiting entry per identity and service.
    identity_key        text NOT NULL,
    -- The booking an "earlier slot" entry moves; fulfilling it reschedules that booking.
    current_appointment_id uuid REFERENCES appointments (id) ON DELETE SET NULL,
    status              text NOT NULL DEFAULT 'waiting'
                        CONSTRAINT waitlist_status_check CHECK (status IN ('waiting', 'fulfilled', 'expired', 'left')),
    appointment_id      uuid REFERENCES appointments (id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CONSTRAINT waitlist_range_check CHECK (to_date >= from_date)
);

CREATE UNIQUE INDEX waitlist_citizen_key ON waitlist_entries (citizen_id, office_id, service_id)
    WHERE status = 'waiting';
CREATE UNIQUE INDEX waitlist_identity_key ON waitlist_entries (service_id, identity_key)
    WHERE status = 'waiting';
-- The assignment takes the oldest waiting entries first.
CREATE INDEX waitlist_waiting_idx ON waitlist_entries (created_at, position) WHERE status = 'waiting';
CREATE INDEX waitlist_citizen_idx ON waitlist_entries (citizen_id, created_at);
