-- Notices an admin posts on an office (a changed address, early closing), in the three
-- languages, shown from one local date of the office to another, both included.
CREATE TABLE office_notices (
    id          uuid PRIMARY KEY,
    office_id   uuid NOT NULL CONSTRAINT office_notices_office_fkey REFERENCES offices (id),
    message_ar  text NOT NULL,
    message_ru  text NOT NULL,
    message_en  text NOT NULL,
    from_day    date NOT NULL,
    until_day   date NOT NULL,
    created_at  timestamptz NOT NULL,
    CONSTRAINT office_notices_range_check CHECK (from_day <= until_day)
);
CREATE INDEX office_notices_office_idx ON office_notices (office_id, until_day);
