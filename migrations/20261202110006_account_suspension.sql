-- An admin may suspend a citizen's account: its tokens and logins are refused from the next
-- request on, until an admin reinstates it.

ALTER TABLE users
    ADD COLUMN suspended_at timestamptz,
    ADD COLUMN suspension_reason text;
