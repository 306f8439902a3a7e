-- An erased account (152-FZ): its row stays, anonymised, so the statistics and the foreign keys
-- of its appointments and requests hold; its email becomes a unique placeholder, so the address
-- can register again.
ALTER TABLE users ADD COLUMN erased_at timestamptz;
