//! Authenticity of webhook deliveries, checked on the raw bytes before anything is parsed (Aircall
//! excepted: its token travels inside the JSON). Every comparison is constant-time.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Why a delivery was refused (logged and counted, never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("signature header missing")]
    MissingSignature,
    #[error("signature header malformed")]
    MalformedSignature,
    #[error("signature does not match the body")]
    BadSignature,
    #[error("timestamp missing, malformed or more than 5 minutes away")]
    StaleTimestamp,
    #[error("body is not JSON with a token")]
    Unparsable,
    #[error("token does not match")]
    BadToken,
}

/// Meta: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(body, app secret)>`.
pub fn whatsapp(app_secret: &str, header: Option<&str>, body: &[u8]) -> Result<(), Rejection> {
    let header = header.ok_or(Rejection::MissingSignature)?;
    let hex_digest = header
        .strip_prefix("sha256=")
        .ok_or(Rejection::MalformedSignature)?;
    let expected = hex::decode(hex_digest.trim()).map_err(|_| Rejection::MalformedSignature)?;
    let mut mac =
        HmacSha256::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| Rejection::BadSignature)
}

/// What replaces a secret in what is stored of a verified delivery.
pub const REDACTED: &str = "[redacted]";

/// Headers that carry a delivery's proof of origin. Checked once at intake; what is stored (and
/// shown to admins, and copied into backups) has [`REDACTED`] in their place.
pub const SIGNATURE_HEADERS: [&str; 4] = [
    "x-hub-signature",
    "x-hub-signature-256",
    "x-hubspot-signature",
    "x-hubspot-signature-v3",
];

/// Aircall: the body's `token` equals the configured one. Returns the body to store: the same
/// JSON with the token [`REDACTED`] (it is the webhook secret itself; once verified, nothing
/// needs it, and stored it would be read by whoever reads payloads or backups).
pub fn aircall(webhook_token: &str, body: &[u8]) -> Result<Vec<u8>, Rejection> {
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| Rejection::Unparsable)?;
    let token = json
        .get("token")
        .and_then(|t| t.as_str())
        .ok_or(Rejection::Unparsable)?;
    if !bool::from(token.as_bytes().ct_eq(webhook_token.as_bytes())) {
        return Err(Rejection::BadToken);
    }
    let mut json = json;
    json["token"] = serde_json::Value::from(REDACTED);
    Ok(serde_json::to_vec(&json).expect("a JSON value serialises"))
}

/// The URI as HubSpot signs it: the escapes its documentation lists decoded (`%3A` → `:` …),
/// every other escape (`%20`, `%26`, `%3D`…) left as sent.
pub fn hubspot_signed_uri(uri: &str) -> String {
    const DECODED: [(&str, char); 12] = [
        ("3A", ':'),
        ("2F", '/'),
        ("3F", '?'),
        ("40", '@'),
        ("21", '!'),
        ("24", '$'),
        ("27", '\''),
        ("28", '('),
        ("29", ')'),
        ("2A", '*'),
        ("2C", ','),
        ("3B", ';'),
    ];
    let mut signed = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(at) = rest.find('%') {
        signed.push_str(&rest[..at]);
        let escape = rest.get(at + 1..at + 3).map(str::to_ascii_uppercase);
        match DECODED
            .iter()
            .find(|(hex, _)| Some(*hex) == escape.as_deref())
        {
            Some((_, c)) => {
                signed.push(*c);
                rest = &rest[at + 3..];
            }
            None => {
                signed.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    signed.push_str(rest);
    signed
}

/// HubSpot v3: `X-HubSpot-Signature-v3 = base64(HMAC-SHA256(client secret, method + uri + body +
/// timestamp))` over the URI as [`hubspot_signed_uri`] gives it, with
/// `X-HubSpot-Request-Timestamp` (ms) no more than 5 minutes from `now_ms`.
pub fn hubspot(
    client_secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    now_ms: i64,
) -> Result<(), Rejection> {
    let signature = signature.ok_or(Rejection::MissingSignature)?;
    let timestamp = timestamp.ok_or(Rejection::StaleTimestamp)?;
    let sent_ms: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Rejection::StaleTimestamp)?;
    // abs_diff: a timestamp of i64::MIN must be refused, not overflow.
    if now_ms.abs_diff(sent_ms) > 5 * 60 * 1000 {
        return Err(Rejection::StaleTimestamp);
    }
    let expected = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| Rejection::MalformedSignature)?;
    let mut mac =
        HmacSha256::new_from_slice(client_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(method.as_bytes());
    mac.update(hubspot_signed_uri(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp.trim().as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| Rejection::BadSignature)
}

/// The signatures the providers would send: for tests, fixtures and load generators.
pub mod sign {
    use super::*;

    pub fn whatsapp(app_secret: &str, body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(app_secret.as_bytes()).expect("any key length");
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    pub fn hubspot(
        client_secret: &str,
        method: &str,
        uri: &str,
        body: &[u8],
        timestamp_ms: i64,
    ) -> String {
        let mut mac = HmacSha256::new_from_slice(client_secret.as_bytes()).expect("any key length");
        mac.update(method.as_bytes());
        mac.update(super::hubspot_signed_uri(uri).as_bytes());
        mac.update(body);
        mac.update(timestamp_ms.to_string().as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hubspot_signs_the_uri_with_its_listed_escapes_decoded_and_no_others() {
        let sent = "https://crm.example/webhooks/hubspot?a=%3A%2f%3F%40%21%24%27%28%29%2A%2C%3B&b=%20%26%3D%25&c=%";
        let signed = "https://crm.example/webhooks/hubspot?a=:/?@!$'()*,;&b=%20%26%3D%25&c=%";
        assert_eq!(hubspot_signed_uri(sent), signed);
        // A signature made as HubSpot documents it (over the decoded URI) verifies against the
        // URI as the request carried it.
        let (secret, body, ts) = ("secret", br#"[{"eventId":1}]"#, 1_735_725_600_000i64);
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(b"POST");
        mac.update(signed.as_bytes());
        mac.update(body);
        mac.update(ts.to_string().as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let verified = hubspot(
            secret,
            "POST",
            sent,
            body,
            Some(&signature),
            Some(&ts.to_string()),
            ts,
        );
        assert!(verified.is_ok(), "{verified:?}");
    }

    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[]}"#;

    #[test]
    fn whatsapp_signature_vectors() {
        // Known vector: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
        let fox = b"The quick brown fox jumps over the lazy dog";
        let known = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
        assert_eq!(whatsapp("key", Some(known), fox), Ok(()));
        assert_eq!(sign::whatsapp("key", fox), known);

        let good = sign::whatsapp("secret", BODY);
        assert_eq!(whatsapp("secret", Some(&good), BODY), Ok(()));
        assert_eq!(
            whatsapp("other", Some(&good), BODY),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            whatsapp("secret", Some(&good), b"{}"),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            whatsapp("secret", None, BODY),
            Err(Rejection::MissingSignature)
        );
        let no_prefix = good.trim_start_matches("sha256=");
        assert_eq!(
            whatsapp("secret", Some(no_prefix), BODY),
            Err(Rejection::MalformedSignature)
        );
        assert_eq!(
            whatsapp("secret", Some("sha1=abcd"), BODY),
            Err(Rejection::MalformedSignature)
        );
        assert_eq!(
            whatsapp("secret", Some("sha256=zz"), BODY),
            Err(Rejection::MalformedSignature)
        );
    }

    #[test]
    fn aircall_token_vectors() {
        let body = br#"{"resource":"call","event":"call.created","token":"t0k3n","data":{"id":1}}"#;
        let stored: serde_json::Value =
            serde_json::from_slice(&aircall("t0k3n", body).unwrap()).unwrap();
        assert_eq!(
            stored,
            serde_json::json!({"resource": "call", "event": "call.created", "token": "[redacted]", "data": {"id": 1}}),
            "what is stored keeps everything but the secret"
        );
        assert_eq!(aircall("other", body).unwrap_err(), Rejection::BadToken);
        assert_eq!(
            aircall("t0k3n", b"not json").unwrap_err(),
            Rejection::Unparsable
        );
        assert_eq!(
            aircall("t0k3n", br#"{"event":"call.created"}"#).unwrap_err(),
            Rejection::Unparsable
        );
    }

    #[test]
    fn hubspot_signature_vectors() {
        let uri = "https://crm.clinica.example/webhooks/hubspot";
        let body = br#"[{"eventId":1}]"#;
        let now = 1_732_622_896_000;
        let good = sign::hubspot("secret", "POST", uri, body, now - 1000);
        let ts = (now - 1000).to_string();
        let check = |secret: &str, sig: Option<&str>, ts: Option<&str>, body: &[u8]| {
            hubspot(secret, "POST", uri, body, sig, ts, now)
        };
        assert_eq!(check("secret", Some(&good), Some(&ts), body), Ok(()));
        assert_eq!(
            check("other", Some(&good), Some(&ts), body),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            check("secret", Some(&good), Some(&ts), b"[]"),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            check("secret", None, Some(&ts), body),
            Err(Rejection::MissingSignature)
        );
        assert_eq!(
            check("secret", Some("%%%"), Some(&ts), body),
            Err(Rejection::MalformedSignature)
        );
        let stale_ts = (now - 5 * 60 * 1000 - 1).to_string();
        let stale = sign::hubspot("secret", "POST", uri, body, now - 5 * 60 * 1000 - 1);
        assert_eq!(
            check("secret", Some(&stale), Some(&stale_ts), body),
            Err(Rejection::StaleTimestamp)
        );
        assert_eq!(
            check("secret", Some(&good), None, body),
            Err(Rejection::StaleTimestamp)
        );
        for extreme in [i64::MIN, i64::MAX] {
            let ts = extreme.to_string();
            let sig = sign::hubspot("secret", "POST", uri, body, extreme);
            assert_eq!(
                check("secret", Some(&sig), Some(&ts), body),
                Err(Rejection::StaleTimestamp),
                "{extreme}"
            );
        }
        // The URI is part of what is signed.
        assert_eq!(
            hubspot(
                "secret",
                "POST",
                "https://evil.example/webhooks/hubspot",
                body,
                Some(&good),
                Some(&ts),
                now
            ),
            Err(Rejection::BadSignature)
        );
    }
}
