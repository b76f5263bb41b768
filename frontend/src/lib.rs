//! The browser entry point: the server-rendered page stays as it is, and only its islands
//! (the interactive parts, see `app::islands`) are hydrated.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    app::hydrate();
}
