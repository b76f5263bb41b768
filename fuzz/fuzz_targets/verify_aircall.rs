//! Aircall's token in the body: any body, never a panic; what is accepted is stored without the
//! token.
#![no_main]
use app::backend::webhooks::verify::aircall;
use libfuzzer_sys::fuzz_target;

const TOKEN: &str = "the-webhook-token";

fuzz_target!(|body: &[u8]| {
    if let Ok(stored) = aircall(TOKEN, body) {
        assert!(!String::from_utf8_lossy(&stored).contains(TOKEN));
    }
});
