-- Every booking names the applicant's identity document: a passport number or, for someone who
-- has none yet, the Syrian national number. A citizen may keep their own on the profile.

ALTER TABLE users
    ADD COLUMN passport_number text,
    ADD COLUMN national_number text CONSTRAINT users_national_number_check CHECK (national_number ~ '^[0-9]{11}$');

ALTER TABLE appointments
    ADD COLUMN national_number text CONSTRAINT appointments_national_number_check CHECK (national_number ~ '^[0-9]{11}$');

-- The per-identity cap counts future bookings by either number.
CREATE INDEX appointments_national_idx ON appointments (service_id, national_number)
    WHERE status = 'booked' AND national_number IS NOT NULL;
