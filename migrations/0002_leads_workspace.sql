-- The Leads workspace (issue 5): list filters and counts by stage and source, and search by
-- name, phone or e-mail on a million leads without scanning them.
--
-- Lists are newest first by id: every lead is registered as it arrives (webhook, staff,
-- HubSpot), so id order is arrival order, and SQLite keeps each index's entries in rowid order
-- within equal keys — so every filter below reads its page straight from an index, backwards.

DROP INDEX leads_stage;
CREATE INDEX leads_stage ON leads (stage, lost);
CREATE INDEX leads_source_stage ON leads (source, stage, lost);
CREATE INDEX leads_source ON leads (source);
-- The Informes figures of one source count its leads of a window: equality then range. Without
-- it, the planner takes `leads_source` above for `source = ?` and reads every lead of the
-- source (measured: 0.95 s at two years instead of ~3 ms).
CREATE INDEX leads_source_created ON leads (source, created_at);
CREATE INDEX leads_lost ON leads (lost) WHERE lost = 1;

-- How many leads each (source, stage, lost) holds, kept by triggers, so the list's counts cost
-- nothing whatever the size of the clinic.
CREATE TABLE lead_counts (
    source TEXT    NOT NULL,
    stage  TEXT    NOT NULL,
    lost   INTEGER NOT NULL,
    n      INTEGER NOT NULL CHECK (n >= 0),
    PRIMARY KEY (source, stage, lost)
) WITHOUT ROWID;
INSERT INTO lead_counts (source, stage, lost, n)
SELECT source, stage, lost, count(*) FROM leads GROUP BY source, stage, lost;

CREATE TRIGGER lead_counts_insert AFTER INSERT ON leads BEGIN
    INSERT INTO lead_counts (source, stage, lost, n) VALUES (NEW.source, NEW.stage, NEW.lost, 1)
    ON CONFLICT (source, stage, lost) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER lead_counts_delete AFTER DELETE ON leads BEGIN
    UPDATE lead_counts SET n = n - 1
    WHERE source = OLD.source AND stage = OLD.stage AND lost = OLD.lost;
END;
CREATE TRIGGER lead_counts_update AFTER UPDATE OF source, stage, lost ON leads
WHEN OLD.source IS NOT NEW.source OR OLD.stage IS NOT NEW.stage OR OLD.lost IS NOT NEW.lost BEGIN
    UPDATE lead_counts SET n = n - 1
    WHERE source = OLD.source AND stage = OLD.stage AND lost = OLD.lost;
    INSERT INTO lead_counts (source, stage, lost, n) VALUES (NEW.source, NEW.stage, NEW.lost, 1)
    ON CONFLICT (source, stage, lost) DO UPDATE SET n = n + 1;
END;

-- Full-text search, one row per lead (rowid = leads.id). Diacritics are folded, so "maria"
-- finds "María". The phone is indexed as its digits and, for Spanish numbers, also without the
-- 34 prefix, because staff type the number as the patient says it.
CREATE VIRTUAL TABLE leads_search USING fts5 (
    name, phone, email,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER leads_search_insert AFTER INSERT ON leads BEGIN
    INSERT INTO leads_search (rowid, name, phone, email)
    VALUES (NEW.id, NEW.name,
            substr(NEW.phone, 2) || CASE WHEN NEW.phone LIKE '+34%' THEN ' ' || substr(NEW.phone, 4) ELSE '' END,
            NEW.email);
END;
CREATE TRIGGER leads_search_update AFTER UPDATE OF name, phone, email ON leads BEGIN
    UPDATE leads_search SET
        name = NEW.name,
        phone = substr(NEW.phone, 2) || CASE WHEN NEW.phone LIKE '+34%' THEN ' ' || substr(NEW.phone, 4) ELSE '' END,
        email = NEW.email
    WHERE rowid = NEW.id;
END;
CREATE TRIGGER leads_search_delete AFTER DELETE ON leads BEGIN
    DELETE FROM leads_search WHERE rowid = OLD.id;
END;

INSERT INTO leads_search (rowid, name, phone, email)
SELECT id, name,
       substr(phone, 2) || CASE WHEN phone LIKE '+34%' THEN ' ' || substr(phone, 4) ELSE '' END,
       email
FROM leads;

-- When a worker began sending this outbound message to Meta. Set just before the request and
-- cleared when Meta answers "try later": a send found already started was interrupted with its
-- request possibly gone, and is never repeated automatically (a patient never gets a message
-- twice); it is marked failed, outcome unknown, for a person to decide.
ALTER TABLE messages ADD COLUMN send_started_at TEXT
    CHECK (send_started_at IS NULL OR send_started_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z');

-- Click-to-call from a lead's page: each request is sent to Aircall (`POST /v1/users/:id/dial`)
-- by the `aircall` queue, and shows in the lead's timeline with who asked. `send_started_at`
-- plays the same part as on `messages`: an interrupted dial is never repeated.
CREATE TABLE call_requests (
    id              INTEGER PRIMARY KEY,
    lead_id         INTEGER NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    user_id         INTEGER REFERENCES users (id) ON DELETE SET NULL,
    aircall_user_id INTEGER NOT NULL,
    phone           TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'dialed', 'failed')),
    error           TEXT,
    send_started_at TEXT    CHECK (send_started_at IS NULL OR send_started_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    created_at      TEXT    NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    updated_at      TEXT    NOT NULL CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z')
);
CREATE INDEX call_requests_lead ON call_requests (lead_id, created_at);

-- HubSpot sync: `revision` counts the changes made here (creation, staff edits); the sync
-- records the revision HubSpot has seen, so a lead is pending while HubSpot is behind — an edit
-- made while its batch is in flight stays pending (no timestamp ties). Changes that came from
-- HubSpot do not bump the revision: they are never sent back. HubSpot's refusal of one contact
-- is kept in `hubspot_sync_error` and holds that lead out of the sync until staff change it (or
-- `mini-crm hubspot sync --full`).
ALTER TABLE leads ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
ALTER TABLE leads ADD COLUMN hubspot_synced_revision INTEGER;
ALTER TABLE leads ADD COLUMN hubspot_sync_error TEXT;
UPDATE leads SET hubspot_synced_revision = revision
WHERE hubspot_synced_at IS NOT NULL AND hubspot_synced_at >= updated_at;
CREATE INDEX leads_hubspot_pending ON leads (id)
    WHERE hubspot_sync_error IS NULL
      AND (hubspot_synced_revision IS NULL OR hubspot_synced_revision < revision);
-- "Is a job of this kind already waiting?" (coalesced jobs such as the HubSpot sync).
CREATE INDEX jobs_pending_kind ON jobs (kind) WHERE status = 'pending';
