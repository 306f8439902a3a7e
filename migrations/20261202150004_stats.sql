-- Statistics read an office's document requests by creation date.
CREATE INDEX document_requests_office_created_idx ON document_requests (office_id, created_at);
