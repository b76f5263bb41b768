//! `/integraciones`: queue depth and age, failed jobs (retry one or all), and the webhooks
//! received (filter by provider and status, raw payload, replay one).
//!
//! Server HTML only: every action is a plain form posting to its server function, which sends
//! the browser back here (with the error in the URL when it refuses), so the page works the same
//! with or without wasm and costs the bundle nothing.

use crate::api::integrations::{
    get_webhook_payload, list_breakers, list_failed_jobs, list_queues, list_webhook_events,
    ReplayWebhook, RetryJobs,
};
use crate::components::field_error::error_alert;
use crate::components::loaded::Loaded;
use crate::components::shell::SignedInUser;
use crate::components::table::DataTable;
use crate::domain::{
    BreakerView, FailedJobView, Provider, QueueView, Role, WebhookEventView, WebhookStatus,
};
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn IntegracionesPage() -> impl IntoView {
    let retry = ServerAction::<RetryJobs>::new();
    let replay = ServerAction::<ReplayWebhook>::new();
    let queues = Resource::new(|| (), |_| list_queues());
    let breakers = Resource::new(|| (), |_| list_breakers());
    let failed = Resource::new(|| (), |_| list_failed_jobs());
    view! {
        <Title text="Integraciones" />
        <h1>"Integraciones"</h1>
        <section class="panel" aria-labelledby="providers-title">
            <h2 id="providers-title">"Proveedores"</h2>
            <Loaded resource=breakers loading="Cargando proveedores…" let:breakers>
                <ProviderTable breakers />
            </Loaded>
        </section>
        <section class="panel" aria-labelledby="queues-title">
            <h2 id="queues-title">"Colas de trabajo"</h2>
            <Loaded resource=queues loading="Cargando colas…" let:queues>
                <QueueTable queues />
            </Loaded>
        </section>
        <section class="panel" aria-labelledby="failed-title">
            <h2 id="failed-title">"Trabajos fallidos"</h2>
            // A refused retry comes back in the URL; a done one shows in the tables.
            {move || retry.value().get().and_then(Result::err).map(error_alert)}
            <Loaded resource=failed loading="Cargando trabajos…" let:jobs>
                <FailedJobs jobs retry />
            </Loaded>
        </section>
        <WebhookEvents replay />
    }
}

/// "3 min", "2 h", "4 d": how long the oldest pending job has waited.
fn age(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// Each provider's circuit breaker: an open one holds its queue until a probe succeeds.
#[component]
fn ProviderTable(breakers: Vec<BreakerView>) -> impl IntoView {
    view! {
        <DataTable
            caption="Proveedores"
            columns=&["Proveedor", "Estado", "Fallos seguidos", "Último éxito", "Último error"]
        >
            {breakers
                .into_iter()
                .map(|b| {
                    let state = match (&b.opened, b.open) {
                        (Some(at), true) => format!("Caído (circuito abierto desde {at})"),
                        (None, true) => "Caído (circuito abierto)".to_string(),
                        _ => "Operativo".to_string(),
                    };
                    let error = match (b.last_error_at, b.last_error) {
                        (Some(at), Some(error)) => format!("{at}: {error}"),
                        _ => "—".to_string(),
                    };
                    view! {
                        <tr>
                            <th scope="row">{b.provider}</th>
                            <td>{state}</td>
                            <td>{b.failures}</td>
                            <td>{b.last_success.unwrap_or_else(|| "—".into())}</td>
                            <td class="wrap">{error}</td>
                        </tr>
                    }
                })
                .collect_view()}
        </DataTable>
    }
}

#[component]
fn QueueTable(queues: Vec<QueueView>) -> impl IntoView {
    view! {
        <DataTable
            caption="Colas de trabajo"
            columns=&["Cola", "Pendientes", "En curso", "Fallidos", "Espera más larga", "Estado"]
        >
            {queues
                .into_iter()
                .map(|q| {
                    view! {
                        <tr>
                            <th scope="row">{q.queue}</th>
                            <td>{q.pending}</td>
                            <td>{q.running}</td>
                            <td>{q.failed}</td>
                            <td>{q.oldest_pending_seconds.map_or("—".to_string(), age)}</td>
                            <td>{q.held.unwrap_or_else(|| "Activa".to_string())}</td>
                        </tr>
                    }
                })
                .collect_view()}
        </DataTable>
    }
}

#[component]
fn FailedJobs(jobs: Vec<FailedJobView>, retry: ServerAction<RetryJobs>) -> impl IntoView {
    if jobs.is_empty() {
        return Either::Left(view! { <p class="placeholder">"No hay trabajos fallidos."</p> });
    }
    Either::Right(view! {
        <ActionForm action=retry>
            <button type="submit" class="button secondary">"Reintentar todos"</button>
        </ActionForm>
        <DataTable
            caption="Trabajos fallidos"
            columns=&["Trabajo", "Cola", "Intentos", "Creado", "Error"]
            actions=true
        >
            {jobs
                .into_iter()
                .map(|job| {
                    view! {
                        <tr>
                            <td>{format!("#{} {}", job.id, job.kind)}</td>
                            <td>{job.queue}</td>
                            <td>{format!("{}/{}", job.attempts, job.max_attempts)}</td>
                            <td>{job.created}</td>
                            <td class="wrap">{job.last_error}</td>
                            <td>
                                <ActionForm action=retry>
                                    <input type="hidden" name="id" value=job.id />
                                    <button
                                        type="submit"
                                        class="button secondary"
                                        aria-label=format!("Reintentar el trabajo {}", job.id)
                                    >
                                        "Reintentar"
                                    </button>
                                </ActionForm>
                            </td>
                        </tr>
                    }
                })
                .collect_view()}
        </DataTable>
    })
}

/// A filter's choices: every value, then each one by its name.
fn choices<T: Copy>(
    all: &[T],
    value: fn(T) -> &'static str,
    label: fn(T) -> &'static str,
) -> Vec<(&'static str, &'static str)> {
    std::iter::once(("", "Todos"))
        .chain(all.iter().map(|&item| (value(item), label(item))))
        .collect()
}

/// Received deliveries, filtered through the URL (`?provider=…&status=…`); `&ver=ID` shows one
/// delivery's raw headers and body.
#[component]
fn WebhookEvents(replay: ServerAction<ReplayWebhook>) -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &'static str| query.read_untracked().get(name).unwrap_or_default();
    let (provider, status) = (param("provider"), param("status"));
    let events = Resource::new(
        move || (param("provider"), param("status")),
        |(provider, status)| list_webhook_events(Some(provider), Some(status)),
    );
    let selected = param("ver").parse::<i64>().ok();
    let payload = Resource::new(
        move || selected,
        |id| async move {
            match id {
                Some(id) => get_webhook_payload(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let filter_href = format!("/integraciones?provider={provider}&status={status}");
    let select = move |name: &'static str,
                       label: &'static str,
                       options: Vec<(&'static str, &'static str)>| {
        let current = param(name);
        view! {
            <label for=name>{label}</label>
            <select id=name name=name>
                {options
                    .into_iter()
                    .map(|(value, text)| {
                        view! {
                            <option value=value selected=current == value>
                                {text}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        }
    };
    view! {
        <section class="panel" aria-labelledby="webhooks-title">
            <h2 id="webhooks-title">"Webhooks recibidos"</h2>
            <form method="get" action="/integraciones" class="filters">
                {select("provider", "Proveedor", choices(&Provider::ALL, Provider::as_str, Provider::label))}
                {select("status", "Estado", choices(&WebhookStatus::ALL, WebhookStatus::as_str, WebhookStatus::label))}
                <button type="submit" class="button secondary">"Filtrar"</button>
            </form>
            {move || replay.value().get().and_then(Result::err).map(error_alert)}
            // Not <Loaded>: the table waits for the signed-in user's role as well as the events.
            <Suspense fallback=|| view! { <p role="status">"Cargando webhooks…"</p> }>
                {move || {
                    let filter_href = filter_href.clone();
                    Suspend::new(async move {
                        // Raw payloads and replays are admins' (their server functions say so
                        // too): staff do not get buttons that can only refuse.
                        let admin = match use_context::<SignedInUser>() {
                            Some(user) => user.await.is_ok_and(|u| u.role == Role::Admin),
                            None => false,
                        };
                        match events.await {
                            Ok(events) => Either::Left(view! { <EventTable events replay filter_href admin /> }),
                            Err(err) => Either::Right(error_alert(err)),
                        }
                    })
                }}
            </Suspense>
            <Loaded resource=payload let:payload>
                {payload.map(|p| view! {
                    <section class="payload" aria-label=format!("Contenido del webhook {}", p.id)>
                        <h3>{format!("Webhook #{}", p.id)}</h3>
                        <h4>"Cabeceras"</h4>
                        <pre>{p.headers}</pre>
                        <h4>"Cuerpo"</h4>
                        <pre>{p.body}</pre>
                    </section>
                })}
            </Loaded>
        </section>
    }
}

#[component]
fn EventTable(
    events: Vec<WebhookEventView>,
    replay: ServerAction<ReplayWebhook>,
    /// This page with the current filter, to which "Ver" adds the delivery.
    filter_href: String,
    /// Whether to offer "Ver" and "Reprocesar".
    admin: bool,
) -> impl IntoView {
    if events.is_empty() {
        return Either::Left(
            view! { <p class="placeholder">"No hay webhooks con este filtro."</p> },
        );
    }
    Either::Right(view! {
        <DataTable
            caption="Webhooks recibidos"
            columns=&["Webhook", "Proveedor", "Tipo", "Estado", "Recibido", "Intentos", "Error"]
            actions=true
        >
            {events
                .into_iter()
                .map(|e| {
                    let id = e.id;
                    view! {
                        <tr>
                            <td>{format!("#{id}")}</td>
                            <td>{e.provider.as_str()}</td>
                            <td>{e.event_type.unwrap_or_else(|| "—".into())}</td>
                            <td>{e.status.label()}</td>
                            <td>{e.received}</td>
                            <td>{e.attempts}</td>
                            <td class="wrap">{e.last_error.unwrap_or_default()}</td>
                            <td class="actions">
                                {admin.then(|| view! {
                                    <a
                                        class="button secondary"
                                        href=format!("{filter_href}&ver={id}")
                                        aria-label=format!("Ver el webhook {id}")
                                    >
                                        "Ver"
                                    </a>
                                    <ActionForm action=replay>
                                        <input type="hidden" name="id" value=id />
                                        <button
                                            type="submit"
                                            class="button secondary"
                                            aria-label=format!("Reprocesar el webhook {id}")
                                        >
                                            "Reprocesar"
                                        </button>
                                    </ActionForm>
                                })}
                            </td>
                        </tr>
                    }
                })
                .collect_view()}
        </DataTable>
    })
}
