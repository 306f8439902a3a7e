-- One table of rate-limit counters: per limit, per key (a client address, an account, a citizen,
-- a tracking number; stored as a SHA-256 so no address or email is kept in clear) and per fixed
-- window. A hit is one upsert returning the count, so concurrent hits from any number of server
-- processes are counted exactly. The older counters (track_rate_limits, login_failures) are no
-- longer written; they stay for a server of the previous release during a rolling upgrade, and
-- a later migration drops them.
CREATE TABLE rate_limits (
    name          text NOT NULL,
    key_hash      bytea NOT NULL,
    window_start  timestamptz NOT NULL,
    -- After this instant the counter can refuse nobody and may be deleted.
    expires_at    timestamptz NOT NULL,
    hits          integer NOT NULL,
    CONSTRAINT rate_limits_pkey PRIMARY KEY (name, key_hash, window_start)
);
CREATE INDEX rate_limits_expires_idx ON rate_limits (expires_at);
