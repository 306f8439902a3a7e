-- The per-identity cap's indexes of booked appointments by service and number, written on every
-- booking and status change, have gone unused since the search's single-column indexes of the
-- numbers (20261202150002_search, every status): the planner answers the cap's count from those
-- (a few rows per number) and from the citizen's index, as EXPLAIN shows at 100,000 and
-- 1,000,000 appointments.
DROP INDEX appointments_passport_idx;
DROP INDEX appointments_national_idx;
