-- Deliveries stored before issue 11 kept Aircall's webhook token in their body and the providers'
-- signatures in their headers; intake now stores neither. Redact what is already stored, so a
-- payload shown to an admin or a backup made from now on does not hold them. (Backups made
-- earlier still do: rotate AIRCALL_WEBHOOK_TOKEN, as docs/security.md says.)
UPDATE webhook_events
SET body = CAST(json_replace(CAST(body AS TEXT), '$.token', '[redacted]') AS BLOB)
WHERE provider = 'aircall'
  AND json_valid(CAST(body AS TEXT))
  AND json_type(CAST(body AS TEXT), '$.token') IS NOT NULL;

UPDATE webhook_events
SET headers = json_replace(headers,
        '$."x-hub-signature"', '[redacted]',
        '$."x-hub-signature-256"', '[redacted]',
        '$."x-hubspot-signature"', '[redacted]',
        '$."x-hubspot-signature-v3"', '[redacted]')
WHERE json_valid(headers);
