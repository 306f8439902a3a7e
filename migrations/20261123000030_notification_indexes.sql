-- The admin view lists the outbox newest first, usually filtered by status.
CREATE INDEX notifications_status_created_idx ON notifications (status, created_at DESC, id DESC);

-- Cancelling or rescheduling an appointment cancels its pending reminder; this finds that row
-- without scanning the outbox.
CREATE INDEX notifications_pending_reminder_idx ON notifications ((payload->>'appointment_id'))
    WHERE kind = 'appointment_reminder' AND status = 'pending';
