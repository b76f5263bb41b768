-- The Leads workspace (issue 5): list filters and counts by stage, and search by name, phone or
-- e-mail on a million leads without scanning them.

-- Stage counts and stage filters read this index alone; "lost" leads keep their stage (for when
-- they are reopened) and are listed apart.
DROP INDEX leads_stage;
CREATE INDEX leads_stage ON leads (stage, lost, source, created_at);
CREATE INDEX leads_lost ON leads (created_at) WHERE lost = 1;

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
