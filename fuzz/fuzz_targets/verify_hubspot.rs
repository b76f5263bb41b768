//! HubSpot's v3 signature: any method, URI, body, signature and timestamp, never a panic
//! (timestamps at the ends of i64 included); a request signed now always passes.
#![no_main]
use app::backend::webhooks::verify::{hubspot, sign};
use libfuzzer_sys::fuzz_target;

const NOW_MS: i64 = 1_764_000_000_000;

fuzz_target!(|input: (&str, &str, &[u8], &str, &str)| {
    let (method, uri, body, signature, timestamp) = input;
    let _ = hubspot("secret", method, uri, body, Some(signature), Some(timestamp), NOW_MS);
    let good = sign::hubspot("secret", method, uri, body, NOW_MS);
    let now = NOW_MS.to_string();
    assert!(hubspot("secret", method, uri, body, Some(&good), Some(&now), NOW_MS).is_ok());
});
