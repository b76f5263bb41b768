//! `/login`: the only page open to anonymous visitors.

use crate::api::session::Login;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let error = move || match login.value().get() {
        Some(Err(err)) => Some(err),
        _ => None,
    };
    let field_error = move |name: &'static str| {
        move || match error() {
            Some(AppError::InvalidInput {
                field: Some(field),
                message,
            }) if field == name => {
                Some(view! { <p class="field-error" role="alert">{message}</p> })
            }
            _ => None,
        }
    };
    let general_error = move || match error() {
        Some(AppError::InvalidInput { field: Some(_), .. }) | None => None,
        Some(other) => Some(other.to_string()),
    };
    view! {
        <Title text="Iniciar sesión" />
        <main class="login">
            <section class="login-card" aria-labelledby="login-title">
                <p class="brand">"mini-crm"</p>
                <h1 id="login-title">"Iniciar sesión"</h1>
                <ActionForm action=login>
                    <input type="hidden" name="next" prop:value=next />
                    {move || general_error().map(|message| view! { <p class="alert error" role="alert">{message}</p> })}
                    <label for="email">"Correo electrónico"</label>
                    <input id="email" name="email" type="email" autocomplete="username" required autofocus />
                    {field_error("email")}
                    <label for="password">"Contraseña"</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required />
                    {field_error("password")}
                    <button type="submit" class="button primary" disabled=move || login.pending().get()>
                        {move || if login.pending().get() { "Entrando…" } else { "Entrar" }}
                    </button>
                </ActionForm>
            </section>
        </main>
    }
}
