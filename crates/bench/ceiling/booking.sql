-- The smallest transaction that does what a booking must, in five round trips: claim the
-- idempotency key, insert the booking under the unique guard, write its outbox row in the same
-- statement, save the answer for a replay, commit. Offices 101..1100 lie outside the seeded
-- ones, so the insert almost never meets a taken desk.
\set office random(101, 1100)
\set desk random(1, 4)
\set week random(0, 51)
\set dow random(0, 4)
\set idx random(0, 31)
\set citizen random(1, 1000000)
\set key random(1, 9000000000000000000)
BEGIN;
INSERT INTO idempotency (user_id, idempotency_key) VALUES (:citizen, :key::text) ON CONFLICT DO NOTHING;
WITH booked AS (
  INSERT INTO appointments (slot_start, office_id, service_id, desk, citizen_id, status)
  VALUES ((timestamp '2026-11-30 09:00' + (:week * 7 + :dow) * interval '1 day' + :idx * interval '15 minutes')
            AT TIME ZONE 'Europe/Moscow',
          :office, 1, :desk, :citizen, 'booked')
  ON CONFLICT (office_id, desk, slot_start) WHERE status <> 'cancelled' DO NOTHING
  RETURNING id, citizen_id)
INSERT INTO outbox (kind, payload)
SELECT 'booking_confirmation', jsonb_build_object('appointment_id', id, 'citizen_id', citizen_id) FROM booked;
UPDATE idempotency SET response_status_code = 201, response_body = '\x7b226f6b223a747275657d'::bytea
 WHERE user_id = :citizen AND idempotency_key = :key::text;
COMMIT;
