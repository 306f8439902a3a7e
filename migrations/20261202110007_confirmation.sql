-- When the citizen confirmed attendance, for a service with confirmation_required.
ALTER TABLE appointments ADD COLUMN confirmed_at timestamptz;
