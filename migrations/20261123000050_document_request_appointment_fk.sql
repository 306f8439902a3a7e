-- A document request opened from an appointment points at it for real.
ALTER TABLE document_requests
    ADD CONSTRAINT document_requests_appointment_fkey
    FOREIGN KEY (appointment_id) REFERENCES appointments (id);
