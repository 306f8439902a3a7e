-- The starts of a citizen's no-shows after `since`, what the no-show suspension counts, as one
-- function for the two reads of an account beside its no-shows (the booking's offer and the
-- citizen's lock of the other booking paths), so that what counts is written once.
-- PL/pgSQL, as free_desk: it keeps the query's plan per session, where a SQL function holding a
-- subquery is not inlined and would be planned afresh on every call.
CREATE FUNCTION no_shows_since(citizen uuid, since timestamptz)
RETURNS timestamptz[] LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN ARRAY(SELECT a.slot_start FROM appointments a
                 WHERE a.citizen_id = citizen AND a.status = 'no_show' AND a.slot_start > since);
END
$$;
