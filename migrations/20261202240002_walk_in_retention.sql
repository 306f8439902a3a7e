-- The retention purge erases the identity numbers of appointments that ended long ago, a walk-in's
-- with the rest (and its phone and email): the walk-in check can no longer demand them for ever.
-- A new walk-in booking still needs one; the booking rule refuses it without.
ALTER TABLE appointments
    DROP CONSTRAINT appointments_walk_in_check,
    ADD CONSTRAINT appointments_walk_in_check CHECK (
        CASE WHEN citizen_id IS NULL
            THEN booking_reason IS NOT NULL AND applicant_relation = 'self'
                 AND walk_in_language IS NOT NULL
            ELSE walk_in_phone IS NULL AND walk_in_email IS NULL AND walk_in_language IS NULL
        END);
