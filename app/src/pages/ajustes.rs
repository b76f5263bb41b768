//! `/ajustes`: settings. For now, the API tokens admins hand to API consumers.

use crate::api::tokens::{list_api_tokens, CreateApiToken, RevokeApiToken};
use crate::domain::ApiTokenView;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn AjustesPage() -> impl IntoView {
    let tokens = Resource::new_blocking(|| (), |_| list_api_tokens());
    view! {
        <Title text="Ajustes" />
        <h1>"Ajustes"</h1>
        <Suspense>
            {move || Suspend::new(async move {
                let initial = tokens.await;
                view! { <ApiTokens initial /> }
            })}
        </Suspense>
    }
}

/// An island: a new token is shown once, in place, and the list follows each change.
#[island]
fn ApiTokens(initial: Result<Vec<ApiTokenView>, AppError>) -> impl IntoView {
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let tokens = RwSignal::new(initial);
    Effect::watch(
        move || (create.version().get(), revoke.version().get()),
        move |_, _, _| {
            leptos::task::spawn_local(async move { tokens.set(list_api_tokens().await) })
        },
        false,
    );
    view! {
        <section class="panel" aria-labelledby="tokens-title">
            <h2 id="tokens-title">"Tokens de API"</h2>
            <p class="lead-text">
                "Dan acceso de solo lectura a la API JSON (" <code>"Authorization: Bearer …"</code>
                "). El token se muestra una única vez al crearlo."
            </p>
            {move || match tokens.get() {
                Ok(tokens) => view! { <TokenAdmin tokens create revoke /> }.into_any(),
                Err(AppError::Forbidden) => {
                    view! {
                        <p class="placeholder" role="status">
                            "Solo los administradores pueden gestionar los tokens de API."
                        </p>
                    }
                        .into_any()
                }
                Err(err) => view! { <p class="alert error" role="alert">{err.to_string()}</p> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn TokenAdmin(
    tokens: Vec<ApiTokenView>,
    create: ServerAction<CreateApiToken>,
    revoke: ServerAction<RevokeApiToken>,
) -> impl IntoView {
    let created = move || {
        match create.value().get() {
        Some(Ok(token)) => Some(
            view! {
                <div class="alert success" role="status">
                    <p>"Token «" {token.name} "» creado. Cópialo ahora: no se volverá a mostrar."</p>
                    <code class="secret" aria-label="Nuevo token">{token.token}</code>
                </div>
            }
            .into_any(),
        ),
        Some(Err(err)) => Some(view! { <p class="alert error" role="alert">{err.to_string()}</p> }.into_any()),
        None => None,
    }
    };
    let revoke_error = move || match revoke.value().get() {
        Some(Err(err)) => Some(view! { <p class="alert error" role="alert">{err.to_string()}</p> }),
        _ => None,
    };
    let empty = tokens.is_empty();
    view! {
        <ActionForm action=create attr:class="inline-form">
            <label for="token-name">"Nombre del token"</label>
            <div class="row">
                <input id="token-name" name="name" type="text" maxlength="100" required placeholder="Panel de dirección" />
                <button type="submit" class="button primary">"Crear token"</button>
            </div>
        </ActionForm>
        {created}
        {revoke_error}
        {if empty {
            view! { <p class="placeholder">"Todavía no hay tokens."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                    <table>
                        <caption class="visually-hidden">"Tokens de API"</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Nombre"</th>
                                <th scope="col">"Creado"</th>
                                <th scope="col">"Último uso"</th>
                                <th scope="col">"Estado"</th>
                                <th scope="col"><span class="visually-hidden">"Acciones"</span></th>
                            </tr>
                        </thead>
                        <tbody>
                            {tokens
                                .into_iter()
                                .map(|token| {
                                    let active = token.revoked.is_none();
                                    view! {
                                        <tr>
                                            <td>{token.name.clone()}</td>
                                            <td>{token.created}</td>
                                            <td>{token.last_used.unwrap_or_else(|| "Nunca".into())}</td>
                                            <td>
                                                {token
                                                    .revoked
                                                    .map_or("Activo".to_string(), |at| format!("Revocado el {at}"))}
                                            </td>
                                            <td>
                                                {active
                                                    .then(|| {
                                                        view! {
                                                            <ActionForm action=revoke>
                                                                <input type="hidden" name="id" value=token.id />
                                                                <button
                                                                    type="submit"
                                                                    class="button danger"
                                                                    aria-label=format!("Revocar {}", token.name)
                                                                >
                                                                    "Revocar"
                                                                </button>
                                                            </ActionForm>
                                                        }
                                                    })}
                                            </td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                </div>
            }
                .into_any()
        }}
    }
}
