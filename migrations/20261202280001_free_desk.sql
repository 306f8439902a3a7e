-- The lowest desk of a slot a claim may take, as one function so the booking can read it and
-- insert in the same statement while a reschedule reads it before its move, with one copy of
-- the condition. PL/pgSQL keeps the query's plan per session, and the generic plan is forced:
-- the same plan fits every slot, and the custom plans PostgreSQL would otherwise choose cost a
-- fresh planning (about 0.5 ms, with every index of appointments considered) on each call.
--   desks:      the desks the claim may use, 1..desks (the public ones for a citizen);
--   cooling_at: for a citizen's claim, the moment whose cooling desks are skipped (NULL for staff
--               and the waitlist, who may take a desk in its cool-down);
--   staff:      staff take the highest free desk (the reserved ones) first, and the room left
--               counts every desk;
--   unsettled:  a citizen also waits until the waitlist had a cooled desk (settled_at).
-- The count guard keeps a slot whose capacity was lowered from filling up again through desks
-- that are now beyond it. NULL when no desk is free.
CREATE FUNCTION free_desk(office uuid, service uuid, start timestamptz, desks int,
                          cooling_at timestamptz, staff bool, unsettled bool)
RETURNS int LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN (
        SELECT d FROM generate_series(1, desks) d
        WHERE NOT EXISTS (SELECT 1 FROM appointments x
                          WHERE x.office_id = office AND x.service_id = service
                            AND x.slot_start = start AND x.desk_no = d
                            AND x.status <> 'cancelled')
          AND NOT EXISTS (SELECT 1 FROM desk_releases r
                          WHERE r.office_id = office AND r.service_id = service
                            AND r.slot_start = start AND r.desk_no = d AND r.settled_at IS NULL
                            AND (r.cooled_at > cooling_at OR unsettled))
          AND (SELECT count(*) FROM appointments x
               WHERE x.office_id = office AND x.service_id = service AND x.slot_start = start
                 AND x.status <> 'cancelled' AND (x.desk_no <= desks OR staff)) < desks
        ORDER BY CASE WHEN staff THEN -d ELSE d END
        LIMIT 1);
END
$$;
