-- A replayed booking is rebuilt from the appointment its key created: the record keeps which one,
-- not a copy of the HTTP status and body.
ALTER TABLE idempotency_keys
    ADD COLUMN appointment_id uuid CONSTRAINT idempotency_keys_appointment_fkey
        REFERENCES appointments (id) ON DELETE CASCADE;
UPDATE idempotency_keys SET appointment_id = (response_body->>'id')::uuid;
DELETE FROM idempotency_keys WHERE appointment_id IS NULL;
ALTER TABLE idempotency_keys
    ALTER COLUMN appointment_id SET NOT NULL,
    DROP COLUMN response_status,
    DROP COLUMN response_body;
