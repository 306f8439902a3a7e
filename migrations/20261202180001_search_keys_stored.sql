-- Staff search: the search key of each name stored beside it. search_key() is a SQL function
-- over every character of the name; evaluated per row (each index recheck, each rank test, each
-- similarity) it cost milliseconds per thousand matches, and a common fragment matches tens of
-- thousands of names. Stored, every row's key is computed once, when the name is written.
ALTER TABLE users ADD COLUMN full_name_key text NOT NULL GENERATED ALWAYS AS (search_key(full_name)) STORED;
ALTER TABLE appointments ADD COLUMN applicant_name_key text NOT NULL
    GENERATED ALWAYS AS (search_key(applicant_name)) STORED;
ALTER TABLE document_requests ADD COLUMN applicant_full_name_key text NOT NULL
    GENERATED ALWAYS AS (search_key(applicant_full_name)) STORED;

DROP INDEX users_citizen_name_search_idx;
DROP INDEX appointments_applicant_search_idx;
DROP INDEX document_requests_applicant_search_idx;
CREATE INDEX users_citizen_name_key_idx ON users USING gin (full_name_key gin_trgm_ops)
    WHERE role = 'citizen';
CREATE INDEX appointments_applicant_name_key_idx ON appointments USING gin (applicant_name_key gin_trgm_ops);
CREATE INDEX document_requests_applicant_name_key_idx ON document_requests
    USING gin (applicant_full_name_key gin_trgm_ops);
