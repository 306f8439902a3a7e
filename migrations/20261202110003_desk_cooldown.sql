-- A desk freed by a cancellation or a reschedule away is withheld from citizens until its
-- cool-down ends (against resellers who cancel and rebook for a buyer), and then offered to the
-- waitlist before anyone else. One row per release; `settled_at` is set once the waitlist has
-- had its turn.

CREATE TABLE desk_releases (
    id          bigserial PRIMARY KEY,
    office_id   uuid NOT NULL REFERENCES offices (id) ON DELETE CASCADE,
    service_id  uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    slot_start  timestamptz NOT NULL,
    desk_no     integer NOT NULL,
    released_at timestamptz NOT NULL,
    cooled_at   timestamptz NOT NULL,
    settled_at  timestamptz,
    CONSTRAINT desk_releases_cooled_check CHECK (cooled_at >= released_at)
);
CREATE INDEX desk_releases_slot_idx ON desk_releases (office_id, service_id, slot_start)
    WHERE settled_at IS NULL;
CREATE INDEX desk_releases_due_idx ON desk_releases (cooled_at) WHERE settled_at IS NULL;
