//! Informes. This page's own content arrives with its issue; the route and the shell are final.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn InformesPage() -> impl IntoView {
    view! {
        <Title text="Informes" />
        <h1>"Informes"</h1>
        <p class="lead-text">"Indicadores de leads, citas y tratamientos de los últimos 7 días."</p>
        <p class="placeholder" role="status">"Esta sección está en preparación."</p>
    }
}
