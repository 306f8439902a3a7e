-- Desks of every slot kept for staff (urgent cases, phone calls, walk-ins), and who booked an
-- appointment on a citizen's behalf and why. Citizens book the lowest desks, staff the reserved
-- ones (the highest) first.

ALTER TABLE schedules
    ADD COLUMN reserved_capacity integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT schedules_reserved_check CHECK (reserved_capacity BETWEEN 0 AND capacity);

ALTER TABLE appointments
    ADD COLUMN booked_by uuid REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN booking_reason text;
