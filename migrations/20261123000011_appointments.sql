-- Appointments. Capacity is enforced here, not in the application: every booking that holds a
-- place owns one desk number of its slot, and a partial unique index lets no two share one.

CREATE TABLE appointments (
    id                  uuid PRIMARY KEY,
    reference           text NOT NULL CONSTRAINT appointments_reference_key UNIQUE,
    citizen_id          uuid NOT NULL REFERENCES users (id),
    office_id           uuid NOT NULL REFERENCES offices (id),
    service_id          uuid NOT NULL REFERENCES services (id),
    slot_start          timestamptz NOT NULL,
    slot_end            timestamptz NOT NULL,
    desk_no             integer NOT NULL CONSTRAINT appointments_desk_check CHECK (desk_no >= 1),
    applicant_name      text NOT NULL,
    applicant_relation  text NOT NULL,
    passport_number     text,
    status              text NOT NULL DEFAULT 'booked'
                        CONSTRAINT appointments_status_check
                        CHECK (status IN ('booked', 'checked_in', 'completed', 'cancelled', 'no_show')),
    sequence            integer NOT NULL DEFAULT 0,
    cancelled_by        text CONSTRAINT appointments_cancelled_by_check CHECK (cancelled_by IN ('citizen', 'staff')),
    cancel_reason       text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CONSTRAINT appointments_slot_check CHECK (slot_end > slot_start)
);

-- Every status but 'cancelled' keeps its desk: a no-show or a completed visit used the place.
CREATE UNIQUE INDEX appointments_desk_key
    ON appointments (office_id, service_id, slot_start, desk_no)
    WHERE status <> 'cancelled';
CREATE INDEX appointments_citizen_idx ON appointments (citizen_id, slot_start);
CREATE INDEX appointments_passport_idx ON appointments (service_id, passport_number)
    WHERE status = 'booked' AND passport_number IS NOT NULL;
CREATE INDEX appointments_office_day_idx ON appointments (office_id, slot_start);

-- The first successful answer to a citizen's Idempotency-Key, replayed for the same request.
CREATE TABLE idempotency_keys (
    citizen_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key             text NOT NULL,
    request_hash    text NOT NULL,
    response_status smallint NOT NULL,
    response_body   jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (citizen_id, key)
);

CREATE INDEX audit_log_filter_idx ON audit_log (action, at DESC);
