-- The background pass cancels bookings whose confirmation window closed unconfirmed.
ALTER TABLE appointments DROP CONSTRAINT appointments_cancelled_by_check,
    ADD CONSTRAINT appointments_cancelled_by_check
        CHECK (cancelled_by IN ('citizen', 'staff', 'system'));
