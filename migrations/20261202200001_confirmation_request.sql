-- When the request to confirm attendance was queued for the booking's current slot. The one
-- background pass that sets it (NULL -> now, under SKIP LOCKED) queues the mail in the same
-- transaction, so each booking is asked once whatever the number of server processes; a
-- reschedule clears it, so the new slot gets its own request.
ALTER TABLE appointments ADD COLUMN confirmation_requested_at timestamptz;

-- The bookings the pass may still have to ask or release.
CREATE INDEX appointments_unconfirmed_idx ON appointments (slot_start)
    WHERE status = 'booked' AND confirmed_at IS NULL;
