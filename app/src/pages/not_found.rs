//! Any path the app does not know.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Página no encontrada" />
        <main class="page narrow">
            <h1>"Página no encontrada"</h1>
            <p>"La dirección no existe. " <a href="/informes">"Volver a Informes"</a></p>
        </main>
    }
}
