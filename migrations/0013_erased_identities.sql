-- A person's erasure request (HubSpot's privacyDeletion) must not be undone by a delivery that
-- carries their words from before it: one replayed after it had failed, or one Meta or Aircall
-- sends again. Each identifier of the erased lead (phone, e-mail, WhatsApp user id) is kept as a
-- SHA-256 digest with the instant of the erasure; an item from before that instant whose sender
-- has a digest here is skipped. Kept as long as processed deliveries are (WEBHOOKS_RETENTION_DAYS).
CREATE TABLE erased_identities (
    digest    TEXT PRIMARY KEY CHECK (length(digest) = 64 AND digest NOT GLOB '*[^0-9a-f]*'),
    erased_at TEXT NOT NULL CHECK (erased_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z')
) WITHOUT ROWID;
