//! Leads. This page's own content arrives with its issue; the route and the shell are final.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn LeadsPage() -> impl IntoView {
    view! {
        <Title text="Leads" />
        <h1>"Leads"</h1>
        <p class="lead-text">"El listado de leads y la ficha de cada paciente."</p>
        <p class="placeholder" role="status">"Esta sección está en preparación."</p>
    }
}
