//! The whatsapp payload parser and what it applies, on any body a verified sender could send.
#![no_main]
mod common;
use app::backend::webhooks::whatsapp;
use app::domain::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let fixture = common::fixture();
    fixture.runtime.block_on(async {
        let mut tx = fixture.db.writer.begin().await.expect("a transaction");
        let _ = whatsapp::event_type(body);
        let _ = whatsapp::process(&mut tx, common::EVENT_ID, body, Timestamp::now()).await;
        tx.rollback().await.expect("a rollback");
    });
});
