//! `/ajustes`: the flags and clinic settings admins steer (server HTML, one plain form), and the
//! API tokens admins hand to API consumers (an island: a new token is shown once, in place).

use crate::api::settings::{get_settings, SaveSettings};
use crate::api::tokens::{list_api_tokens, CreateApiToken, RevokeApiToken};
use crate::components::field_error::error_alert;
use crate::domain::{ApiTokenView, SettingsView};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn AjustesPage() -> impl IntoView {
    let tokens = Resource::new_blocking(|| (), |_| list_api_tokens());
    let settings = Resource::new_blocking(|| (), |_| get_settings());
    view! {
        <Title text="Ajustes" />
        <h1>"Ajustes"</h1>
        <Suspense>
            {move || Suspend::new(async move {
                match settings.await {
                    Ok(settings) => Some(view! { <Flags settings /> }),
                    Err(_) => None,
                }
            })}
        </Suspense>
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
                Err(err) => error_alert(err).into_any(),
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
        Some(Err(err)) => Some(error_alert(err).into_any()),
        None => None,
    }
    };
    let revoke_error = move || match revoke.value().get() {
        Some(Err(err)) => Some(error_alert(err)),
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
            // Written out, not <DataTable>: in an island the component costs the bundle 5 KB
            // gzipped (docs/performance.md).
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

/// Sending flags, telephony, HubSpot mode, the backup phone and provider queue pauses.
#[component]
fn Flags(settings: SettingsView) -> impl IntoView {
    let save = ServerAction::<SaveSettings>::new();
    let on_off = |name: &'static str, id: &'static str, on: bool| {
        view! {
            <select id=id name=name>
                <option value="on" selected=on>"Activado"</option>
                <option value="off" selected=!on>"Desactivado"</option>
            </select>
        }
    };
    let modes = [
        ("live", "En directo"),
        ("deferred", "Diferida (se acumula en la cola)"),
        ("off", "Desactivada"),
    ]
    .map(|(value, label)| {
        view! { <option value=value selected=settings.hubspot_sync_mode == value>{label}</option> }
    })
    .into_iter()
    .collect_view();
    let pauses = settings
        .paused
        .iter()
        .map(|(queue, paused)| {
            let id = format!("paused-{queue}");
            let name = format!("paused_{queue}");
            let label = match queue.as_str() {
                "whatsapp" => "Pausar la cola de WhatsApp",
                "aircall" => "Pausar la cola de Aircall",
                _ => "Pausar la cola de HubSpot",
            };
            view! {
                <p class="check">
                    <input type="checkbox" id=id.clone() name=name value="on" checked=*paused />
                    <label for=id>{label}</label>
                </p>
            }
        })
        .collect_view();
    view! {
        <section class="panel" aria-labelledby="flags-title">
            <h2 id="flags-title">"Integraciones y telefonía"</h2>
            <p class="lead-text">
                "Se aplican al momento en todos los procesos. Detener un envío no pierde trabajo: queda en su cola y sale al reactivarlo."
            </p>
            <ActionForm action=save attr:class="form compact" attr:aria-label="Ajustes de integraciones">
                <input type="hidden" name="version" value=settings.version.clone() />
                <label for="whatsapp-outbound">"Envío de WhatsApp"</label>
                {on_off("whatsapp_outbound", "whatsapp-outbound", settings.whatsapp_outbound)}
                <label for="calls-ui">"Llamadas desde la ficha (Aircall)"</label>
                {on_off("calls_ui", "calls-ui", settings.calls_ui)}
                <label for="hubspot-mode">"Sincronización con HubSpot"</label>
                <select id="hubspot-mode" name="hubspot_sync_mode">{modes}</select>
                <label for="backup-phone">"Teléfono de respaldo de la clínica"</label>
                <input id="backup-phone" name="backup_phone" type="tel" value=settings.backup_phone.clone()
                    placeholder="+34 910 000 000" />
                <p class="help">"Se muestra en la ficha del lead cuando la telefonía no está disponible."</p>
                {pauses}
                {move || save.value().get().and_then(Result::err).map(|err| view! { <p class="field-error" role="alert">{err.to_string()}</p> })}
                <button type="submit" class="button primary">"Guardar ajustes"</button>
            </ActionForm>
        </section>
    }
}
