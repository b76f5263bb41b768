//! Meta's `X-Hub-Signature-256` check: any header and body, never a panic; a body signed with the
//! secret always passes, and the same signature over another body never does.
#![no_main]
use app::backend::webhooks::verify::{sign, whatsapp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &[u8])| {
    let (header, body) = input;
    let _ = whatsapp("app-secret", Some(header), body);
    let good = sign::whatsapp("app-secret", body);
    assert!(whatsapp("app-secret", Some(&good), body).is_ok());
    let mut other = body.to_vec();
    other.push(b' ');
    assert!(whatsapp("app-secret", Some(&good), &other).is_err());
});
