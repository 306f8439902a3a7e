-- Each claim of a notification names its owner, so a worker whose lease ran out (a slow relay,
-- a paused process) cannot mark or release a row another worker has claimed since. A server of
-- the previous release ignores the column and keeps working during a rolling upgrade.
-- `first_failed_at` is when the current run of failed attempts began: temporary failures are
-- retried until it is MAWID_MAIL_GIVE_UP_HOURS old, however many attempts that takes.
ALTER TABLE notifications
    ADD COLUMN lease_owner uuid,
    ADD COLUMN first_failed_at timestamptz;
