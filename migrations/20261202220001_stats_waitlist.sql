-- Statistics count an office's waiting waitlist entries per day of their ranges.
CREATE INDEX waitlist_office_waiting_idx ON waitlist_entries (office_id, to_date)
    WHERE status = 'waiting';
