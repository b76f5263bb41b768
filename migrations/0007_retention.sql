-- Retention (`mini-crm prune`, daily in `serve`): done jobs and processed deliveries older than
-- their retention are deleted in small batches. Each batch must find its rows without reading
-- the rest of the table.
CREATE INDEX jobs_done_age ON jobs (updated_at) WHERE status = 'done';
-- Deleting a delivery deletes its applied item keys (ON DELETE CASCADE): by this index, not by
-- reading every key.
CREATE INDEX webhook_items_event ON webhook_items (webhook_event_id);
