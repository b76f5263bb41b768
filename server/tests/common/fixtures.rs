//! Fixtures both test binaries read: stored provider deliveries, and the WhatsApp app secret the
//! test installations sign them with.

/// `WHATSAPP_APP_SECRET` of the test installations.
pub const WA_SECRET: &str = "wa-app-secret";

/// A file of `tests/api/fixtures/`.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/api/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}
