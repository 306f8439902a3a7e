-- Endpoints of the ministry's systems, and the deliveries to them: an outbox of its own, apart
-- from the mail outbox, written in the transaction of the event it reports.
CREATE TABLE webhooks (
    id          uuid PRIMARY KEY,
    url         text NOT NULL,
    -- As the admin wrote it (whsec_…); the worker signs with its decoded bytes.
    secret      text NOT NULL,
    events      text[] NOT NULL CONSTRAINT webhooks_events_not_empty CHECK (cardinality(events) > 0),
    created_at  timestamptz NOT NULL
);

CREATE TABLE webhook_deliveries (
    -- Sent as `webhook-id`: the same on every attempt and replay, so receivers can deduplicate.
    id               uuid PRIMARY KEY,
    webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event            text NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CONSTRAINT webhook_deliveries_status CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    -- A worker's claim: other processes skip the row until the lease runs out.
    lease_owner      uuid,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL,
    delivered_at     timestamptz
);

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_webhook_idx ON webhook_deliveries (webhook_id, created_at DESC);

CREATE TABLE webhook_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL,
    -- The receiver's HTTP status; NULL when no answer came (refused, timed out).
    status_code  integer,
    error        text
);

CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
