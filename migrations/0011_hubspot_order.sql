-- HubSpot delivers late and out of order: per contact and property, the instant (HubSpot's
-- `occurredAt`, ms) of the change last applied. An older change arriving after it is skipped.
CREATE TABLE hubspot_property_versions (
    hubspot_id  TEXT    NOT NULL,
    property    TEXT    NOT NULL,
    occurred_at INTEGER NOT NULL,
    PRIMARY KEY (hubspot_id, property)
) WITHOUT ROWID;
