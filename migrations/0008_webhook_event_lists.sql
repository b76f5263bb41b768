-- Integraciones and `mini-crm webhooks list` show deliveries newest first (by id), filtered by
-- provider or status: with these, a filter reads only the rows it shows, not every matching
-- delivery sorted afterwards.
CREATE INDEX webhook_events_provider_id ON webhook_events (provider, id);
CREATE INDEX webhook_events_status_id ON webhook_events (status, id);
-- Retention deletes processed deliveries by when they were processed (a delivery replayed today
-- is kept its full retention from today, not from when it first arrived).
CREATE INDEX webhook_events_processed_age ON webhook_events (processed_at) WHERE status = 'processed';
