//! Integraciones. This page's own content arrives with its issue; the route and the shell are final.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn IntegracionesPage() -> impl IntoView {
    view! {
        <Title text="Integraciones" />
        <h1>"Integraciones"</h1>
        <p class="lead-text">"Webhooks recibidos, cola de trabajos y estado de WhatsApp, Aircall y HubSpot."</p>
        <p class="placeholder" role="status">"Esta sección está en preparación."</p>
    }
}
