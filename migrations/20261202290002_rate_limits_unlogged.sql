-- Rate-limit counters without write-ahead log. Every limited request writes its counter in a
-- transaction of its own, before the work it guards; logged, that was one more WAL record and
-- commit flush on every booking, beside the booking's own. A counter promises nothing to anyone
-- and its windows last minutes: after a crash (or on a promoted standby) the table starts empty
-- and the limits count afresh, which is the one thing given up. A clean shutdown keeps it.
-- Concurrent hits are still counted exactly: the upsert is unchanged.
ALTER TABLE rate_limits SET UNLOGGED;
