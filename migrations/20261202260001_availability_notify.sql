-- Every server process keeps the admin data availability is cut from (office, service, schedule,
-- closures) in memory and drops it when told: these triggers notify `mawid_availability` with
-- `office_id:service_id` (`*` for every), delivered at commit; PostgreSQL folds identical
-- payloads of one transaction into one. Bookings and desk releases do not notify: NOTIFY holds
-- a database-wide lock from pre-commit to the end of the commit, which would queue every
-- booking's commit behind the one before; answers built from them are kept under a second.
CREATE FUNCTION notify_availability() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
    changed text;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    -- Each branch names only the columns of its own table (a record's fields resolve late).
    IF TG_TABLE_NAME = 'schedules' THEN
        changed := r.office_id::text || ':' || r.service_id::text;
    ELSIF TG_TABLE_NAME = 'closures' THEN
        changed := r.office_id::text || ':*';
    ELSIF TG_TABLE_NAME = 'offices' THEN
        changed := r.id::text || ':*';
    ELSE
        changed := '*:' || r.id::text;
    END IF;
    PERFORM pg_notify('mawid_availability', changed);
    RETURN NULL;
END
$$;

CREATE TRIGGER schedules_notify_availability AFTER INSERT OR UPDATE OR DELETE ON schedules
    FOR EACH ROW EXECUTE FUNCTION notify_availability();
CREATE TRIGGER closures_notify_availability AFTER INSERT OR UPDATE OR DELETE ON closures
    FOR EACH ROW EXECUTE FUNCTION notify_availability();
CREATE TRIGGER offices_notify_availability AFTER INSERT OR UPDATE OR DELETE ON offices
    FOR EACH ROW EXECUTE FUNCTION notify_availability();
CREATE TRIGGER services_notify_availability AFTER INSERT OR UPDATE OR DELETE ON services
    FOR EACH ROW EXECUTE FUNCTION notify_availability();
