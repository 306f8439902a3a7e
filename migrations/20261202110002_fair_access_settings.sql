-- The anti-trading settings of a service, and what an appointment records for them.

ALTER TABLE services
    ADD COLUMN release_cooldown_minutes integer NOT NULL DEFAULT 30
        CONSTRAINT services_cooldown_check CHECK (release_cooldown_minutes BETWEEN 0 AND 1440),
    ADD COLUMN confirmation_required boolean NOT NULL DEFAULT false,
    ADD COLUMN confirm_from_hours integer NOT NULL DEFAULT 72
        CONSTRAINT services_confirm_from_check CHECK (confirm_from_hours BETWEEN 0 AND 720),
    ADD COLUMN confirm_until_hours integer NOT NULL DEFAULT 24
        CONSTRAINT services_confirm_until_check CHECK (confirm_until_hours BETWEEN 0 AND 720),
    ADD COLUMN max_reschedules integer NOT NULL DEFAULT 3
        CONSTRAINT services_max_reschedules_check CHECK (max_reschedules BETWEEN 0 AND 20),
    ADD CONSTRAINT services_confirm_window_check CHECK (confirm_until_hours < confirm_from_hours);

ALTER TABLE appointments
    ADD COLUMN reschedules integer NOT NULL DEFAULT 0 CONSTRAINT appointments_reschedules_check CHECK (reschedules >= 0);

-- No-shows per citizen, for the suspension count.
CREATE INDEX appointments_no_show_idx ON appointments (citizen_id, slot_start) WHERE status = 'no_show';
