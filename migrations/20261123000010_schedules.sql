-- Weekly opening templates per office and service, and whole-day closures per office.

CREATE TABLE schedules (
    office_id   uuid NOT NULL REFERENCES offices (id) ON DELETE CASCADE,
    service_id  uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    -- Desks serving the service in parallel: the number of bookings one slot may hold.
    capacity    integer NOT NULL CONSTRAINT schedules_capacity_check CHECK (capacity BETWEEN 1 AND 100),
    -- {"mon": [["09:00", "13:00"], ...], ...} in the office's local wall-clock time; validated in the domain.
    weekly      jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (office_id, service_id)
);

CREATE TABLE closures (
    office_id   uuid NOT NULL REFERENCES offices (id) ON DELETE CASCADE,
    -- A local date of the office.
    day         date NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (office_id, day)
);
