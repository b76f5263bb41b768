//! `/login`: the only page open to anonymous visitors.

use crate::api::session::Login;
use crate::components::field_error::{FieldError, GeneralError};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let next = use_query_map()
        .read_untracked()
        .get("next")
        .unwrap_or_default();
    view! {
        <Title text="Iniciar sesión" />
        <main class="login">
            <section class="login-card" aria-labelledby="login-title">
                <p class="brand">"mini-crm"</p>
                <h1 id="login-title">"Iniciar sesión"</h1>
                <LoginForm next />
            </section>
        </main>
    }
}

/// An island: a refused sign-in is explained without a reload and keeps what was typed.
#[island]
fn LoginForm(next: String) -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let error = Signal::derive(move || login.value().get().and_then(Result::err));
    view! {
        <ActionForm action=login>
            <input type="hidden" name="next" value=next />
            <GeneralError error />
            <label for="email">"Correo electrónico"</label>
            <input id="email" name="email" type="email" autocomplete="username" required autofocus />
            <FieldError error field="email" />
            <label for="password">"Contraseña"</label>
            <input id="password" name="password" type="password" autocomplete="current-password" required />
            <FieldError error field="password" />
            <button type="submit" class="button primary" disabled=move || login.pending().get()>
                {move || if login.pending().get() { "Entrando…" } else { "Entrar" }}
            </button>
        </ActionForm>
    }
}
