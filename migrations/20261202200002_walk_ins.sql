-- Staff may book a walk-in without an account: the appointment names no citizen and keeps the
-- applicant's own contact (mail goes to walk_in_email, in walk_in_language, when there is one).
ALTER TABLE appointments
    ALTER COLUMN citizen_id DROP NOT NULL,
    ADD COLUMN walk_in_phone text,
    ADD COLUMN walk_in_email text,
    ADD COLUMN walk_in_language text
        CONSTRAINT appointments_walk_in_language_check CHECK (walk_in_language IN ('ar', 'ru', 'en')),
    -- A walk-in is booked by staff with a reason, for themself, under an identity number, and
    -- says which language to write in; an account's booking keeps its contact on the account.
    ADD CONSTRAINT appointments_walk_in_check CHECK (
        CASE WHEN citizen_id IS NULL
            THEN booking_reason IS NOT NULL AND applicant_relation = 'self'
                 AND (passport_number IS NOT NULL OR national_number IS NOT NULL)
                 AND walk_in_language IS NOT NULL
            ELSE walk_in_phone IS NULL AND walk_in_email IS NULL AND walk_in_language IS NULL
        END);
