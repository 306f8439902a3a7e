-- The ceiling's own minimal schema, in its own scratch database: appointments guarded by a
-- partial unique index on (office, desk, slot start), an outbox and an idempotency table, and
-- 100,000 appointments spread over 60 days of 40 offices with 4 desks, a tenth of them cancelled.
CREATE TABLE idempotency (
  user_id bigint NOT NULL,
  idempotency_key text NOT NULL,
  response_status_code smallint,
  response_body bytea,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, idempotency_key));

CREATE TABLE outbox (
  id bigserial PRIMARY KEY,
  kind text NOT NULL,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  attempts int NOT NULL DEFAULT 0,
  sent_at timestamptz);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE sent_at IS NULL;

CREATE TABLE appointments (
  id bigserial PRIMARY KEY,
  slot_start timestamptz NOT NULL,
  office_id int NOT NULL,
  service_id int NOT NULL,
  desk smallint NOT NULL,
  citizen_id bigint NOT NULL,
  status text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE UNIQUE INDEX appointments_one_per_desk ON appointments (office_id, desk, slot_start)
  WHERE status <> 'cancelled';

SELECT setseed(0.42);
INSERT INTO appointments (slot_start, office_id, service_id, desk, citizen_id, status, created_at)
SELECT g.slot_start, g.office_id, 1 + (random() * 9)::int, g.desk, (random() * 1e6)::bigint,
       CASE WHEN random() < 0.9 THEN 'booked' ELSE 'cancelled' END,
       now() - random() * interval '30 days'
FROM (SELECT (d + i * interval '15 minutes') AT TIME ZONE 'Europe/Moscow' AS slot_start,
             o AS office_id, k::smallint AS desk
      FROM generate_series(timestamp '2026-11-30 09:00', timestamp '2026-11-30 09:00' + interval '59 days',
                           interval '1 day') d
      CROSS JOIN generate_series(0, 31) i
      CROSS JOIN generate_series(1, 40) o
      CROSS JOIN generate_series(1, 4) k
      WHERE extract(isodow FROM d) < 6
      ORDER BY random()
      LIMIT 100000) g;
