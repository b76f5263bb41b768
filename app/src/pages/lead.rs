//! `/leads/:id`: one lead's journey and what staff do next. Server HTML: every action is a
//! plain form posting to its server function, which brings the browser back here (with the
//! error, shown beside that form, when the change is refused), so the page works before and
//! without wasm and the timeline is always the database's.

use crate::api::leads::{
    get_lead, CallLead, MarkLeadLost, ReopenLead, RescheduleAppointment, ScheduleAppointment,
    SellTreatment, SendWhatsapp, SetAppointmentStatus,
};
use crate::components::field_error::error_alert;
use crate::domain::{
    AppointmentStatus, AppointmentView, LeadDetail, StageFilter, Telephony, TimelineEntry,
    TreatmentView,
};
use crate::error::AppError;
use leptos::either::{Either, EitherOf3};
use leptos::prelude::*;
use leptos::server::ServerAction;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// The lead named by the route's `:id` (not found for anything that is not a number).
pub(super) fn route_lead() -> Resource<Result<LeadDetail, AppError>> {
    let id = use_params_map()
        .get_untracked()
        .get("id")
        .and_then(|id| id.parse::<i64>().ok());
    Resource::new_blocking(
        move || id,
        |id| async move {
            match id {
                Some(id) => get_lead(id).await,
                None => Err(AppError::NotFound),
            }
        },
    )
}

#[component]
pub fn LeadPage() -> impl IntoView {
    let lead = route_lead();
    view! {
        <Suspense>
            {move || Suspend::new(async move {
                match lead.await {
                    Ok(lead) => Either::Left(view! { <LeadWorkspace lead /> }),
                    Err(err) => Either::Right({
                        super::not_found::set_page_status(err.status());
                        view! {
                        <Title text="Lead" />
                        <p class="breadcrumb"><a href="/leads">"Leads"</a></p>
                        {error_alert(err)}
                        }
                    }),
                }
            })}
        </Suspense>
    }
}

/// The refusal a server function sent back for this form, if any.
fn refusal<S>(action: ServerAction<S>) -> impl IntoView
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .map(|err| view! { <p class="field-error" role="alert">{err.to_string()}</p> })
    }
}

#[component]
fn LeadWorkspace(lead: LeadDetail) -> impl IntoView {
    let stage = match lead.lost_reason {
        Some(_) => StageFilter::Lost,
        None => StageFilter::Stage(lead.stage),
    };
    let title = lead.name.clone();
    view! {
        <Title text=title />
        <p class="breadcrumb"><a href="/leads">"Leads"</a></p>
        <div class="page-header">
            <div>
                <h1>{lead.name.clone()}</h1>
                <p class="lead-meta">
                    <span class=format!("badge stage-{}", stage.as_str())>{stage.label()}</span>
                    " " {lead.source.label()} " · desde el " {lead.created.clone()}
                </p>
            </div>
            <a class="button secondary" href=format!("/leads/{}/editar", lead.id)>"Editar"</a>
        </div>
        <dl class="contact">
            <dt>"Teléfono"</dt>
            <dd>{lead.phone.clone().unwrap_or_else(|| "—".into())}</dd>
            {lead.whatsapp_username.clone().map(|u| view! { <dt>"WhatsApp"</dt> <dd>{format!("@{u}")}</dd> })}
            <dt>"Correo"</dt>
            <dd>{lead.email.clone().unwrap_or_else(|| "—".into())}</dd>
            {lead.ad.clone().map(|ad| view! { <dt>"Anuncio"</dt> <dd class="ad">{ad}</dd> })}
        </dl>
        <div class="workspace">
            <div class="workspace-actions">
                <Call lead_id=lead.id telephony=lead.telephony.clone() />
                <Appointments lead_id=lead.id appointments=lead.appointments.clone() treatments=lead.treatments.clone() />
                <Treatments lead_id=lead.id treatments=lead.treatments.clone() />
                <Whatsapp lead_id=lead.id window_open=lead.whatsapp_window_open template=lead.default_template.clone() />
                <Lost lead_id=lead.id reason=lead.lost_reason.clone() />
            </div>
            <Timeline entries=lead.timeline />
        </div>
    }
}

#[component]
fn Call(lead_id: i64, telephony: Telephony) -> impl IntoView {
    let call = ServerAction::<CallLead>::new();
    let body = match telephony {
        Telephony::Available { has_line: true } => EitherOf3::A(view! {
            <ActionForm action=call>
                <input type="hidden" name="lead_id" value=lead_id />
                <p class="help">"Aircall marca el número en tu aplicación."</p>
                {refusal(call)}
                <button type="submit" class="button primary">"Llamar"</button>
            </ActionForm>
        }),
        Telephony::Available { has_line: false } => EitherOf3::B(view! {
            <p class="placeholder">
                "Tu usuario no tiene una línea de Aircall asignada; pídesela a un administrador."
            </p>
        }),
        Telephony::Degraded { backup_phone } => EitherOf3::C(view! {
            <p class="alert warning" role="status">
                "La telefonía no está disponible ahora mismo. "
                {match backup_phone {
                    Some(backup) => Either::Left(view! { "Llama desde el teléfono de respaldo de la clínica: " <strong>{backup}</strong> }),
                    None => Either::Right(view! { "Llama desde un teléfono de la clínica." }),
                }}
            </p>
        }),
    };
    view! {
        <section class="panel" aria-labelledby="call-title">
            <h2 id="call-title">"Llamar"</h2>
            {body}
        </section>
    }
}

#[component]
fn Appointments(
    lead_id: i64,
    appointments: Vec<AppointmentView>,
    treatments: Vec<TreatmentView>,
) -> impl IntoView {
    let schedule = ServerAction::<ScheduleAppointment>::new();
    let status = ServerAction::<SetAppointmentStatus>::new();
    let reschedule = ServerAction::<RescheduleAppointment>::new();
    let open_treatments = treatments
        .into_iter()
        .filter(|t| !t.completed)
        .map(|t| {
            view! { <option value=t.id>{format!("Sesión de {} ({}/{})", t.name, t.attended, t.sessions_count)}</option> }
        })
        .collect_view();
    view! {
        <section class="panel" aria-labelledby="appointments-title">
            <h2 id="appointments-title">"Citas"</h2>
            <ActionForm action=schedule attr:class="form compact" attr:aria-label="Programar una cita">
                <input type="hidden" name="lead_id" value=lead_id />
                <label for="schedule-kind">"Tipo de cita"</label>
                <select id="schedule-kind" name="treatment_id">
                    <option value="">"Valoración"</option>
                    {open_treatments}
                </select>
                <label for="schedule-at">"Fecha y hora"</label>
                <input id="schedule-at" name="scheduled_at" type="datetime-local" required />
                {refusal(schedule)}
                <button type="submit" class="button primary">"Programar cita"</button>
            </ActionForm>
            {refusal(status)}
            {refusal(reschedule)}
            {if appointments.is_empty() {
                Either::Left(view! { <p class="placeholder">"Sin citas todavía."</p> })
            } else {
                Either::Right(view! {
                    <ul class="appointments">
                        {appointments
                            .into_iter()
                            .map(|a| view! { <AppointmentItem appointment=a status reschedule /> })
                            .collect_view()}
                    </ul>
                })
            }}
        </section>
    }
}

#[component]
fn AppointmentItem(
    appointment: AppointmentView,
    status: ServerAction<SetAppointmentStatus>,
    reschedule: ServerAction<RescheduleAppointment>,
) -> impl IntoView {
    let label = format!("{} del {}", appointment.kind, appointment.when);
    let move_label = format!("Nueva fecha: {label}");
    let item_label = label.clone();
    let scheduled = appointment.status == AppointmentStatus::Scheduled;
    let outcomes = [
        (AppointmentStatus::Attended, "Asistió", appointment.due),
        (AppointmentStatus::NoShow, "No se presentó", appointment.due),
        (AppointmentStatus::Cancelled, "Cancelar", true),
    ];
    view! {
        <li class="appointment" aria-label=item_label>
            <p>
                <strong>{appointment.kind.clone()}</strong> " · " {appointment.when.clone()} " · "
                <span class=format!("badge status-{}", appointment.status.as_str())>{appointment.status.label()}</span>
            </p>
            {scheduled.then(move || view! {
                <ActionForm action=status attr:class="row">
                    <input type="hidden" name="appointment_id" value=appointment.id />
                    {outcomes
                        .into_iter()
                        .filter(|(_, _, allowed)| *allowed)
                        .map(|(value, text, _)| view! {
                            <button type="submit" name="status" value=value.as_str() class="button secondary"
                                aria-label=format!("{text}: {label}")>{text}</button>
                        })
                        .collect_view()}
                </ActionForm>
                <ActionForm action=reschedule attr:class="row">
                    <input type="hidden" name="appointment_id" value=appointment.id />
                    <label class="visually-hidden" for=format!("move-{}", appointment.id)>{move_label}</label>
                    <input id=format!("move-{}", appointment.id) name="scheduled_at" type="datetime-local" required value=appointment.when_input.clone() />
                    <button type="submit" class="button secondary">"Cambiar fecha"</button>
                </ActionForm>
            })}
        </li>
    }
}

#[component]
fn Treatments(lead_id: i64, treatments: Vec<TreatmentView>) -> impl IntoView {
    let sell = ServerAction::<SellTreatment>::new();
    view! {
        <section class="panel" aria-labelledby="treatments-title">
            <h2 id="treatments-title">"Tratamientos"</h2>
            <ul class="treatments">
                {treatments
                    .into_iter()
                    .map(|t| {
                        let progress = format!("{}/{}", t.attended, t.sessions_count);
                        let shown = format!("{progress} sesiones");
                        view! {
                            <li aria-label=format!("Tratamiento {}", t.name)>
                                <p>
                                    <strong>{t.name.clone()}</strong> " · " {t.price.clone()} " · vendido el " {t.sold.clone()}
                                </p>
                                <p class="progress-line">
                                    <progress max=t.sessions_count value=t.attended aria-hidden="true"></progress>
                                    <span class="progress" data-progress=progress>{shown}</span>
                                    {t.completed.then(|| view! { " · " <span class="badge stage-completed">"Completado"</span> })}
                                </p>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <ActionForm action=sell attr:class="form compact" attr:aria-label="Vender un tratamiento">
                <input type="hidden" name="lead_id" value=lead_id />
                <label for="treatment-name">"Tratamiento"</label>
                <input id="treatment-name" name="name" type="text" required maxlength="120" />
                <label for="treatment-sessions">"Sesiones"</label>
                <input id="treatment-sessions" name="sessions_count" type="number" min="1" max="100" value="1" required />
                <label for="treatment-price">"Precio (€)"</label>
                <input id="treatment-price" name="price" type="text" inputmode="decimal" required placeholder="1.200,00" />
                {refusal(sell)}
                <button type="submit" class="button primary">"Vender tratamiento"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn Whatsapp(lead_id: i64, window_open: bool, template: String) -> impl IntoView {
    let send = ServerAction::<SendWhatsapp>::new();
    let fields = if window_open {
        Either::Left(view! {
            <label for="whatsapp-body">"Mensaje"</label>
            <textarea id="whatsapp-body" name="body" rows="3" maxlength="4096" required></textarea>
        })
    } else {
        Either::Right(view! {
            <p class="alert warning" role="status">
                "Han pasado más de 24 horas desde el último mensaje del lead: WhatsApp solo permite enviar una plantilla aprobada."
            </p>
            <label for="whatsapp-template">"Plantilla"</label>
            <input id="whatsapp-template" name="template" type="text" required value=template pattern="[a-z0-9_]+" />
        })
    };
    view! {
        <section class="panel" aria-labelledby="whatsapp-title">
            <h2 id="whatsapp-title">"WhatsApp"</h2>
            <ActionForm action=send attr:class="form compact">
                <input type="hidden" name="lead_id" value=lead_id />
                {fields}
                {refusal(send)}
                <button type="submit" class="button primary">"Enviar por WhatsApp"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn Lost(lead_id: i64, reason: Option<String>) -> impl IntoView {
    let lost = ServerAction::<MarkLeadLost>::new();
    let reopen = ServerAction::<ReopenLead>::new();
    view! {
        <section class="panel" aria-labelledby="lost-title">
            <h2 id="lost-title">"Seguimiento"</h2>
            {match reason {
                Some(reason) => Either::Left(view! {
                    <p>"Marcado como perdido: " <em>{reason}</em></p>
                    <ActionForm action=reopen>
                        <input type="hidden" name="lead_id" value=lead_id />
                        {refusal(reopen)}
                        <button type="submit" class="button secondary">"Reabrir"</button>
                    </ActionForm>
                }),
                None => Either::Right(view! {
                    <ActionForm action=lost attr:class="form compact">
                        <input type="hidden" name="lead_id" value=lead_id />
                        <label for="lost-reason">"Motivo"</label>
                        <input id="lost-reason" name="reason" type="text" required maxlength="500" />
                        {refusal(lost)}
                        <button type="submit" class="button danger">"Marcar como perdido"</button>
                    </ActionForm>
                }),
            }}
        </section>
    }
}

#[component]
fn Timeline(entries: Vec<TimelineEntry>) -> impl IntoView {
    view! {
        <section class="panel timeline" aria-labelledby="timeline-title">
            <h2 id="timeline-title">"Historial"</h2>
            <ol>
                {entries
                    .into_iter()
                    .map(|e| view! {
                        <li class=format!("entry kind-{}", e.kind.as_str())>
                            <p class="entry-title">{e.title}</p>
                            {e.detail.map(|d| view! { <p class="entry-detail">{d}</p> })}
                            {e.link.map(|href| view! {
                                <p class="entry-detail">
                                    <a href=href target="_blank" rel="noopener noreferrer">"Ver en el mapa"</a>
                                </p>
                            })}
                            <p class="entry-meta">
                                {e.when}
                                {e.by.map(|by| view! { " · " {by} })}
                            </p>
                        </li>
                    })
                    .collect_view()}
            </ol>
        </section>
    }
}
