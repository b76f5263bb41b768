-- What an inbound WhatsApp message carried beyond words, as mini-crm reads it (JSON written by
-- `webhooks::whatsapp_content::Content`): media (kind, id, MIME type, caption, file name), a
-- tapped reply, a location, shared contacts, a reaction, WhatsApp's error for a message it does
-- not deliver, a system notice. NULL for messages stored before it and for outbound ones.
ALTER TABLE messages ADD COLUMN content TEXT CHECK (content IS NULL OR json_valid(content));

-- The click-to-WhatsApp ad a lead first wrote from (Meta's `referral`: source_id, source_type,
-- source_url, headline, body, ctwa_clid), kept from the first message that had one.
ALTER TABLE leads ADD COLUMN ad_referral TEXT CHECK (ad_referral IS NULL OR json_valid(ad_referral));

-- Statuses Meta sent for an outbound message before its answer gave us the message's id (or for
-- a message of another app on the same account): kept here, applied as soon as a message gets
-- that id; the daily prune forgets those older than the job retention.
CREATE TABLE whatsapp_early_statuses (
    wamid        TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    error_code   INTEGER,
    error_reason TEXT,
    occurred_at  TEXT    NOT NULL CHECK (occurred_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    received_at  TEXT    NOT NULL CHECK (received_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    PRIMARY KEY (wamid, status)
);
CREATE INDEX whatsapp_early_statuses_age ON whatsapp_early_statuses (received_at);
