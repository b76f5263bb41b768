-- WhatsApp users with a username write with no phone number, only a business-scoped user id
-- (BSUID, `from_user_id`): such a patient is a lead with no phone yet, identified by that id. A
-- lead erased at a person's request (HubSpot's privacyDeletion) keeps neither.
--
-- `leads.phone` loses its NOT NULL. SQLite cannot ALTER a column's constraints, and rebuilding
-- the table is not safe here: sqlx runs every migration inside a transaction, where foreign keys
-- cannot be switched off, so dropping the old table would cascade-delete every message,
-- appointment and call. SQLite documents a simpler procedure for removing a NOT NULL (a change
-- that needs no row rewritten): edit the table's definition in sqlite_schema, after the ALTER
-- TABLEs (which rewrite that text themselves); the CREATE TRIGGERs after it change the schema
-- cookie, so every other connection reads the new definition, and the connection that migrates
-- is closed afterwards (`Db::connect`), never reused with the old one.
-- (CHECK on phone already lets NULL through: a CHECK fails only when false.)

-- WhatsApp's business-scoped user id (`ES.1349…`) and the username the patient shows.
ALTER TABLE leads ADD COLUMN whatsapp_user_id TEXT
    CHECK (whatsapp_user_id IS NULL OR length(whatsapp_user_id) BETWEEN 4 AND 160);
CREATE UNIQUE INDEX leads_whatsapp_user ON leads (whatsapp_user_id) WHERE whatsapp_user_id IS NOT NULL;
ALTER TABLE leads ADD COLUMN whatsapp_username TEXT;
-- The HubSpot contact was deleted there: the lead stays, unlinked, and is not sent again.
ALTER TABLE leads ADD COLUMN hubspot_deleted_at TEXT
    CHECK (hubspot_deleted_at IS NULL OR hubspot_deleted_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z');
-- The person asked to be erased: their personal data is gone, the rows reports count stay.
ALTER TABLE leads ADD COLUMN erased_at TEXT
    CHECK (erased_at IS NULL OR erased_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z');

-- Last of the changes to `leads`' own text: NOT NULL off its phone.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, 'phone             TEXT    NOT NULL UNIQUE', 'phone             TEXT    UNIQUE')
WHERE type = 'table' AND name = 'leads';
PRAGMA writable_schema = OFF;
-- Stop here (the whole migration rolls back) if the definition did not read as expected.
CREATE TEMP TABLE migration_0010_done (done INTEGER NOT NULL CHECK (done = 1));
INSERT INTO migration_0010_done
SELECT instr(sql, 'phone             TEXT    UNIQUE') > 0 FROM sqlite_schema
WHERE type = 'table' AND name = 'leads';
DROP TABLE migration_0010_done;

-- A lead is someone the clinic can reach, until they ask to be forgotten (a table CHECK cannot
-- be added to an existing table; these triggers say the same).
CREATE TRIGGER leads_reachable_insert BEFORE INSERT ON leads
WHEN NEW.phone IS NULL AND NEW.whatsapp_user_id IS NULL AND NEW.erased_at IS NULL BEGIN
    SELECT RAISE(ABORT, 'a lead needs a phone or a WhatsApp user id');
END;
CREATE TRIGGER leads_reachable_update BEFORE UPDATE OF phone, whatsapp_user_id, erased_at ON leads
WHEN NEW.phone IS NULL AND NEW.whatsapp_user_id IS NULL AND NEW.erased_at IS NULL BEGIN
    SELECT RAISE(ABORT, 'a lead needs a phone or a WhatsApp user id');
END;

-- Search: a lead without a phone is found by its WhatsApp username too.
DROP TRIGGER leads_search_insert;
CREATE TRIGGER leads_search_insert AFTER INSERT ON leads BEGIN
    INSERT INTO leads_search (rowid, name, phone, email)
    VALUES (NEW.id, trim(NEW.name || ' ' || coalesce(NEW.whatsapp_username, '')),
            substr(NEW.phone, 2) || CASE WHEN NEW.phone LIKE '+34%' THEN ' ' || substr(NEW.phone, 4) ELSE '' END,
            NEW.email);
END;
DROP TRIGGER leads_search_update;
CREATE TRIGGER leads_search_update AFTER UPDATE OF name, phone, email, whatsapp_username ON leads BEGIN
    UPDATE leads_search SET
        name = trim(NEW.name || ' ' || coalesce(NEW.whatsapp_username, '')),
        phone = substr(NEW.phone, 2) || CASE WHEN NEW.phone LIKE '+34%' THEN ' ' || substr(NEW.phone, 4) ELSE '' END,
        email = NEW.email
    WHERE rowid = NEW.id;
END;
