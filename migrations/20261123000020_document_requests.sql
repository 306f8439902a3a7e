-- Document requests: the case that follows a passport or certificate from submission to pickup,
-- its history, the per-office tracking sequence and the public tracking rate limit.

-- One row per office and (office-local) year; `last` is the last sequence handed out. The row
-- lock taken by the upsert serialises creations within one office and year, so numbers are
-- consecutive: a rolled-back creation rolls its increment back with it.
CREATE TABLE document_request_counters (
    office_id   uuid NOT NULL CONSTRAINT document_request_counters_office_fkey REFERENCES offices (id),
    year        integer NOT NULL,
    last        integer NOT NULL CONSTRAINT document_request_counters_last_check CHECK (last BETWEEN 1 AND 999999),
    CONSTRAINT document_request_counters_pkey PRIMARY KEY (office_id, year)
);

CREATE TABLE document_requests (
    id                       uuid PRIMARY KEY,
    tracking_number          text NOT NULL CONSTRAINT document_requests_tracking_number_key UNIQUE
                             CONSTRAINT document_requests_tracking_number_check CHECK (tracking_number ~ '^SY-[A-Z]{3}-[0-9]{4}-[0-9]{6}$'),
    citizen_id               uuid NOT NULL CONSTRAINT document_requests_citizen_fkey REFERENCES users (id),
    office_id                uuid NOT NULL CONSTRAINT document_requests_office_fkey REFERENCES offices (id),
    service_id               uuid NOT NULL CONSTRAINT document_requests_service_fkey REFERENCES services (id),
    -- The appointment it came from, if any. The foreign key to appointments is added by the
    -- migration that creates that table.
    appointment_id           uuid,
    applicant_full_name      text NOT NULL,
    -- NULL only for requests opened at check-in of an appointment whose applicant gave no date
    -- of birth; such a request cannot be tracked publicly until staff record one.
    applicant_date_of_birth  date,
    applicant_passport       text,
    status                   text NOT NULL DEFAULT 'submitted'
                             CONSTRAINT document_requests_status_check CHECK (status IN (
                                 'submitted', 'under_review', 'awaiting_documents', 'approved',
                                 'ready_for_pickup', 'collected', 'rejected', 'cancelled')),
    status_changed_at        timestamptz NOT NULL,
    created_at               timestamptz NOT NULL
);
-- At most one request per appointment: check-in may run twice, a citizen may retry.
CREATE UNIQUE INDEX document_requests_appointment_key ON document_requests (appointment_id)
    WHERE appointment_id IS NOT NULL;
CREATE INDEX document_requests_citizen_idx ON document_requests (citizen_id, created_at DESC, id);
-- The staff queue: filtered by status, oldest in its status first.
CREATE INDEX document_requests_queue_idx ON document_requests (status, status_changed_at, id);

-- Every status change, append-only. from_status is NULL for the creation.
CREATE TABLE document_request_events (
    id             bigserial PRIMARY KEY,
    request_id     uuid NOT NULL CONSTRAINT document_request_events_request_fkey
                   REFERENCES document_requests (id) ON DELETE CASCADE,
    actor_id       uuid CONSTRAINT document_request_events_actor_fkey REFERENCES users (id) ON DELETE SET NULL,
    actor_role     text NOT NULL CONSTRAINT document_request_events_actor_role_check
                   CHECK (actor_role IN ('citizen', 'staff', 'system')),
    from_status    text,
    to_status      text NOT NULL,
    -- Shown to the citizen and sent in the status email.
    public_note    text,
    -- Staff only: never in a citizen's answer or an email.
    internal_note  text,
    at             timestamptz NOT NULL
);
CREATE INDEX document_request_events_request_idx ON document_request_events (request_id, at, id);

-- Public tracking lookups per client address and fixed window, counted here so the limit holds
-- across server processes.
CREATE TABLE track_rate_limits (
    client        text NOT NULL,
    window_start  timestamptz NOT NULL,
    hits          integer NOT NULL,
    CONSTRAINT track_rate_limits_pkey PRIMARY KEY (client, window_start)
);
CREATE INDEX track_rate_limits_window_idx ON track_rate_limits (window_start);
