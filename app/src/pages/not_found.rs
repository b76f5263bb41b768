//! Any path the app does not know.

use leptos::prelude::*;
use leptos_meta::Title;

/// Gives the page being rendered an HTTP status other than 200 (a page of an error).
pub fn set_page_status(status: u16) {
    #[cfg(feature = "ssr")]
    if let (Some(response), Ok(status)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(status),
    ) {
        response.set_status(status);
    }
    #[cfg(not(feature = "ssr"))]
    let _ = status;
}

#[component]
pub fn NotFound() -> impl IntoView {
    set_page_status(404);
    view! {
        <Title text="Página no encontrada" />
        <main class="page narrow">
            <h1>"Página no encontrada"</h1>
            <p>"La dirección no existe. " <a href="/informes">"Volver a Informes"</a></p>
        </main>
    }
}
