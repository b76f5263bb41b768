//! Ajustes. This page's own content arrives with its issue; the route and the shell are final.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn AjustesPage() -> impl IntoView {
    view! {
        <Title text="Ajustes" />
        <h1>"Ajustes"</h1>
        <p class="lead-text">"Usuarios, tokens de API, interruptores y datos de la clínica."</p>
        <p class="placeholder" role="status">"Esta sección está en preparación."</p>
    }
}
