-- mini-crm schema (SPEC §2). Table and column names are a contract: reports, runbooks and outside
-- tools read them.
--
-- Timestamps: TEXT 'YYYY-MM-DDTHH:MM:SSZ' (UTC, whole seconds), written only from Rust and checked
-- below, so text order is time order and no row can hold SQLite's own datetime('now') format.
-- Booleans: INTEGER 0/1. Money: integer cents.

CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    email           TEXT    NOT NULL UNIQUE CHECK (email = lower(email) AND email LIKE '%_@_%'),
    name            TEXT    NOT NULL CHECK (length(trim(name)) > 0),
    password_hash   TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('admin', 'staff')),
    aircall_user_id INTEGER,
    created_at      TEXT    NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z')
);

CREATE TABLE leads (
    id                INTEGER PRIMARY KEY,
    name              TEXT    NOT NULL CHECK (length(trim(name)) > 0),
    phone             TEXT    NOT NULL UNIQUE CHECK (phone GLOB '+[1-9][0-9][0-9][0-9][0-9][0-9][0-9]*' AND length(phone) <= 16 AND NOT substr(phone, 2) GLOB '*[^0-9]*'),
    email             TEXT    CHECK (email IS NULL OR (email = lower(email) AND email LIKE '%_@_%')),
    source            TEXT    NOT NULL CHECK (source IN ('google', 'meta', 'organic')),
    stage             TEXT    NOT NULL DEFAULT 'new' CHECK (stage IN ('new', 'booked', 'in_treatment', 'completed')),
    lost              INTEGER NOT NULL DEFAULT 0 CHECK (lost IN (0, 1)),
    lost_reason       TEXT    CHECK (lost = 1 OR lost_reason IS NULL),
    -- created_at of the lead's first appointment and first treatment sale, kept by the triggers
    -- below. Every child row is created after its lead (CHECKs on the child tables), so "a lead
    -- of the window has one created in the window" is "its first one is in the window".
    first_appointment_at TEXT,
    first_treatment_at   TEXT,
    hubspot_id        TEXT    UNIQUE,
    hubspot_synced_at TEXT    CHECK (hubspot_synced_at IS NULL OR hubspot_synced_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    created_at        TEXT    NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    updated_at        TEXT    NOT NULL CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    -- Target of the (lead_id, source, lead_created_at) foreign keys below: a child row's copy of
    -- its lead's source and creation time follows the lead (ON UPDATE CASCADE), so reports filter
    -- and count child rows without a join.
    UNIQUE (id, source, created_at)
);
CREATE INDEX leads_created_at ON leads (created_at, source);
CREATE INDEX leads_first_appointment_at ON leads (first_appointment_at, created_at, source) WHERE first_appointment_at IS NOT NULL;
CREATE INDEX leads_first_treatment_at ON leads (first_treatment_at, created_at, source) WHERE first_treatment_at IS NOT NULL;
CREATE INDEX leads_email ON leads (email);
CREATE INDEX leads_stage ON leads (stage, created_at);

CREATE TABLE treatments (
    id              INTEGER PRIMARY KEY,
    lead_id         INTEGER NOT NULL,
    source          TEXT    NOT NULL,
    lead_created_at TEXT    NOT NULL,
    name           TEXT    NOT NULL CHECK (length(trim(name)) > 0),
    sessions_count INTEGER NOT NULL CHECK (sessions_count >= 1),
    price_cents    INTEGER NOT NULL CHECK (price_cents >= 0),
    -- scheduled_at of the sessions_count-th attended session; NULL while incomplete. Written in
    -- the same transaction as the appointment change that completes (or un-completes) it.
    completed_at   TEXT    CHECK (completed_at IS NULL OR completed_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    created_at     TEXT    NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    UNIQUE (id, lead_id),
    CHECK (created_at >= lead_created_at),
    FOREIGN KEY (lead_id, source, lead_created_at) REFERENCES leads (id, source, created_at)
        ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX treatments_lead ON treatments (lead_id);
CREATE INDEX treatments_created_at ON treatments (created_at, source);
CREATE INDEX treatments_completed_at ON treatments (completed_at, source) WHERE completed_at IS NOT NULL;

CREATE TABLE appointments (
    id           INTEGER PRIMARY KEY,
    lead_id      INTEGER NOT NULL,
    -- NULL for a valoración; otherwise a session of that treatment, which must be this lead's
    -- (the composite foreign key below enforces it).
    treatment_id INTEGER,
    source       TEXT    NOT NULL,
    lead_created_at TEXT NOT NULL,
    scheduled_at TEXT    NOT NULL CHECK (scheduled_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    status       TEXT    NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'attended', 'no_show', 'cancelled')),
    created_at   TEXT    NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    updated_at   TEXT    NOT NULL CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    -- Nobody books an appointment for a lead that does not exist yet.
    CHECK (created_at >= lead_created_at),
    FOREIGN KEY (lead_id, source, lead_created_at) REFERENCES leads (id, source, created_at)
        ON UPDATE CASCADE ON DELETE CASCADE,
    FOREIGN KEY (treatment_id, lead_id) REFERENCES treatments (id, lead_id) ON DELETE CASCADE
);
CREATE INDEX appointments_lead ON appointments (lead_id, created_at);
CREATE INDEX appointments_treatment ON appointments (treatment_id, status, scheduled_at) WHERE treatment_id IS NOT NULL;
CREATE INDEX appointments_created_at ON appointments (created_at, source);
-- Outcomes per day: one range per status.
CREATE INDEX appointments_outcomes ON appointments (status, scheduled_at, source);

-- leads.first_appointment_at / first_treatment_at follow their child rows, whatever writes them.
CREATE TRIGGER appointments_first_insert AFTER INSERT ON appointments BEGIN
    UPDATE leads SET first_appointment_at = NEW.created_at
    WHERE id = NEW.lead_id AND (first_appointment_at IS NULL OR first_appointment_at > NEW.created_at);
END;
CREATE TRIGGER appointments_first_change AFTER UPDATE OF lead_id, created_at ON appointments BEGIN
    UPDATE leads SET first_appointment_at =
        (SELECT MIN(created_at) FROM appointments WHERE lead_id = leads.id)
    WHERE id IN (OLD.lead_id, NEW.lead_id);
END;
CREATE TRIGGER appointments_first_delete AFTER DELETE ON appointments BEGIN
    UPDATE leads SET first_appointment_at =
        (SELECT MIN(created_at) FROM appointments WHERE lead_id = OLD.lead_id)
    WHERE id = OLD.lead_id;
END;
CREATE TRIGGER treatments_first_insert AFTER INSERT ON treatments BEGIN
    UPDATE leads SET first_treatment_at = NEW.created_at
    WHERE id = NEW.lead_id AND (first_treatment_at IS NULL OR first_treatment_at > NEW.created_at);
END;
CREATE TRIGGER treatments_first_change AFTER UPDATE OF lead_id, created_at ON treatments BEGIN
    UPDATE leads SET first_treatment_at =
        (SELECT MIN(created_at) FROM treatments WHERE lead_id = leads.id)
    WHERE id IN (OLD.lead_id, NEW.lead_id);
END;
CREATE TRIGGER treatments_first_delete AFTER DELETE ON treatments BEGIN
    UPDATE leads SET first_treatment_at =
        (SELECT MIN(created_at) FROM treatments WHERE lead_id = OLD.lead_id)
    WHERE id = OLD.lead_id;
END;

CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    lead_id          INTEGER NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    direction        TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- NULL only while an outbound message has not been accepted by Meta yet.
    wamid            TEXT    UNIQUE CHECK (wamid IS NOT NULL OR direction = 'outbound'),
    kind             TEXT    NOT NULL CHECK (kind IN ('text', 'template', 'media', 'other')),
    body             TEXT,
    template_name    TEXT    CHECK (kind <> 'template' OR template_name IS NOT NULL),
    -- Outbound: queued → sent → delivered → read, failed (SPEC §2). Inbound messages are 'received'.
    status           TEXT    NOT NULL CHECK ((direction = 'inbound' AND status = 'received') OR (direction = 'outbound' AND status IN ('queued', 'sent', 'delivered', 'read', 'failed'))),
    error_code       INTEGER,
    error_reason     TEXT,
    appointment_id   INTEGER REFERENCES appointments (id) ON DELETE SET NULL,
    user_id          INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at       TEXT    NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    status_at        TEXT    NOT NULL CHECK (status_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z')
);
CREATE INDEX messages_lead ON messages (lead_id, created_at);
-- One reminder per appointment, ever.
CREATE UNIQUE INDEX messages_one_reminder ON messages (appointment_id) WHERE appointment_id IS NOT NULL;

CREATE TABLE calls (
    id               INTEGER PRIMARY KEY,
    lead_id          INTEGER REFERENCES leads (id) ON DELETE SET NULL,
    provider_call_id TEXT    NOT NULL UNIQUE,
    direction        TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    status           TEXT    NOT NULL,
    started_at       TEXT    CHECK (started_at IS NULL OR started_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    answered_at      TEXT    CHECK (answered_at IS NULL OR answered_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    ended_at         TEXT    CHECK (ended_at IS NULL OR ended_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    duration_seconds INTEGER NOT NULL DEFAULT 0 CHECK (duration_seconds >= 0),
    from_number      TEXT,
    to_number        TEXT,
    missed           INTEGER NOT NULL DEFAULT 0 CHECK (missed IN (0, 1)),
    missed_reason    TEXT,
    user_id          INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at       TEXT    NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    updated_at       TEXT    NOT NULL CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z')
);
CREATE INDEX calls_lead ON calls (lead_id, started_at);

-- Every accepted delivery exactly as received. Rejected ones are logged and counted, never stored.
CREATE TABLE webhook_events (
    id           INTEGER PRIMARY KEY,
    provider     TEXT    NOT NULL CHECK (provider IN ('whatsapp', 'aircall', 'hubspot')),
    -- SHA-256 (hex) of the raw body: a redelivery of the same bytes adds nothing.
    delivery_key TEXT    NOT NULL,
    event_type   TEXT,
    headers      TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    received_at  TEXT    NOT NULL CHECK (received_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    status       TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error   TEXT,
    processed_at TEXT    CHECK (processed_at IS NULL OR processed_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    UNIQUE (provider, delivery_key)
);
CREATE INDEX webhook_events_received ON webhook_events (provider, received_at);
CREATE INDEX webhook_events_status ON webhook_events (status, received_at);

-- Item keys (wa:msg:{wamid}, wa:st:{wamid}:{status}, ac:{event}:{id}:{ts}, hs:{eventId}) already
-- applied: one item never has two effects, whichever delivery carried it.
CREATE TABLE webhook_items (
    item_key         TEXT    PRIMARY KEY,
    webhook_event_id INTEGER NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    processed_at     TEXT    NOT NULL CHECK (processed_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z')
);

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL,
    queue        TEXT    NOT NULL CHECK (queue IN ('inbound', 'whatsapp', 'aircall', 'hubspot')),
    payload      TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    run_at       TEXT    NOT NULL CHECK (run_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    locked_at    TEXT    CHECK (locked_at IS NULL OR locked_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    locked_by    TEXT,
    last_error   TEXT,
    created_at   TEXT    NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    updated_at   TEXT    NOT NULL CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    CHECK ((status = 'running') = (locked_at IS NOT NULL))
);
CREATE INDEX jobs_claim ON jobs (status, queue, run_at);

-- Per-provider circuit breakers, shared by every process through the database.
CREATE TABLE provider_breakers (
    provider        TEXT    PRIMARY KEY CHECK (provider IN ('whatsapp', 'aircall', 'hubspot')),
    state           TEXT    NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    failures        INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    opened_at       TEXT,
    last_success_at TEXT,
    last_error_at   TEXT,
    last_error      TEXT
);
INSERT INTO provider_breakers (provider) VALUES ('whatsapp'), ('aircall'), ('hubspot');

-- Settings and feature flags (whatsapp.outbound, calls.ui, hubspot.sync_mode, queue.paused.<q>,
-- maintenance, clinic.backup_phone, …): text values, read by every process.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z')
);

CREATE TABLE api_tokens (
    id                 INTEGER PRIMARY KEY,
    name               TEXT    NOT NULL CHECK (length(trim(name)) > 0),
    -- SHA-256 (hex) of the token; the token itself is shown once and never stored.
    token_hash         TEXT    NOT NULL UNIQUE,
    created_by_user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at         TEXT    NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'),
    last_used_at       TEXT,
    revoked_at         TEXT
);

-- What staff did to a lead, for its timeline.
CREATE TABLE lead_activities (
    id         INTEGER PRIMARY KEY,
    lead_id    INTEGER NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    user_id    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    action     TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '',
    created_at TEXT    NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z')
);
CREATE INDEX lead_activities_lead ON lead_activities (lead_id, created_at);

-- Failed logins, for throttling per account and per client address across processes.
CREATE TABLE login_failures (
    id        INTEGER PRIMARY KEY,
    scope     TEXT    NOT NULL CHECK (scope IN ('account', 'ip')),
    subject   TEXT    NOT NULL,
    failed_at TEXT    NOT NULL CHECK (failed_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z')
);
CREATE INDEX login_failures_subject ON login_failures (scope, subject, failed_at);

-- tower-sessions' store (tower-sessions-sqlx-store's layout, under the name SPEC §2 gives it).
CREATE TABLE sessions (
    id          TEXT    PRIMARY KEY NOT NULL,
    data        BLOB    NOT NULL,
    expiry_date INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry_date);
