-- Staff find a walk-in, who has no account, by the email or phone kept on the appointment.
CREATE INDEX appointments_walk_in_email_idx ON appointments (walk_in_email)
    WHERE walk_in_email IS NOT NULL;
CREATE INDEX appointments_walk_in_phone_idx ON appointments (walk_in_phone)
    WHERE walk_in_phone IS NOT NULL;
