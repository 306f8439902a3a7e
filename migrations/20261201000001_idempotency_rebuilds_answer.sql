-- A replayed booking is rebuilt from the appointment its key created: the record keeps which one.
-- The old copy of the HTTP status and body becomes optional rather than going at once, so a
-- server of the previous release, still running during a rolling upgrade, can keep recording
-- keys; a later migration drops the two columns.
ALTER TABLE idempotency_keys
    ADD COLUMN appointment_id uuid CONSTRAINT idempotency_keys_appointment_fkey
        REFERENCES appointments (id) ON DELETE CASCADE;
UPDATE idempotency_keys SET appointment_id = (response_body->>'id')::uuid;
ALTER TABLE idempotency_keys
    ALTER COLUMN response_status DROP NOT NULL,
    ALTER COLUMN response_body DROP NOT NULL,
    ADD CONSTRAINT idempotency_keys_answer_check
        CHECK (appointment_id IS NOT NULL OR response_body ? 'id');
