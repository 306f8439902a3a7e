-- Staff reads of a citizen's records (152-FZ: the citizen may know who looked at their file).
-- The audit entry says which employee read what; each row here names one citizen whose record
-- the read showed, with the reader's role and the record's office but never the employee, so a
-- citizen's access log can be read without exposing staff identities.
CREATE TABLE staff_reads (
    id          bigserial PRIMARY KEY,
    audit_id    bigint NOT NULL REFERENCES audit_log (id) ON DELETE CASCADE,
    citizen_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    what        text NOT NULL CONSTRAINT staff_reads_what_check
                CHECK (what IN ('appointment', 'document_request', 'profile', 'agenda_day', 'search_hit')),
    record_type text CONSTRAINT staff_reads_record_type_check
                CHECK (record_type IN ('citizen', 'appointment', 'document_request')),
    record_id   uuid,
    office_id   uuid REFERENCES offices (id),
    day         date,
    staff_role  text NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX staff_reads_citizen_idx ON staff_reads (citizen_id, at DESC, id DESC);
CREATE INDEX staff_reads_audit_idx ON staff_reads (audit_id);
