-- First, re-read the schema: on a new database every migration runs on one connection, and the
-- one that edited `leads`' definition in place (0010) left this connection with the old text's
-- offsets, where an ADD COLUMN would land inside a comment. RESET reloads it (harmless when
-- 0010 ran on another connection).
PRAGMA writable_schema = RESET;

-- HubSpot's unique contact property carries a random key per lead, not the row id: a row id is
-- reused after a backup is restored, and by another installation on the same HubSpot account,
-- and would then find (and overwrite) another patient's contact. Given when the lead is first
-- sent (`lower(hex(randomblob(16)))`), never changed.
ALTER TABLE leads ADD COLUMN hubspot_key TEXT
    CHECK (hubspot_key IS NULL OR (length(hubspot_key) = 32 AND hubspot_key NOT GLOB '*[^0-9a-f]*'));
CREATE UNIQUE INDEX leads_hubspot_key ON leads (hubspot_key) WHERE hubspot_key IS NOT NULL;

-- Work that must not run twice at once across processes (the HubSpot sync, from a worker or
-- from `mini-crm hubspot sync`) holds a lease by name; a holder that dies frees it at `until`.
CREATE TABLE leases (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until TEXT NOT NULL CHECK (until GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z')
) WITHOUT ROWID;
