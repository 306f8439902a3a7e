-- A deactivated account keeps its row (audit entries name it) but cannot sign in, and its
-- tokens are refused from the next request on.
ALTER TABLE users ADD COLUMN deactivated_at timestamptz;
