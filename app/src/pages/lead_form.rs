//! `/leads/nuevo` and `/leads/:id/editar`: a lead's name, phone, e-mail and source.

use crate::api::leads::SaveLead;
use crate::components::field_error::{error_alert, FieldError, GeneralError};
use crate::domain::Source;
use crate::error::AppError;
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

/// What the form starts with: empty for a new lead, the lead's data when editing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LeadFormValues {
    pub id: Option<i64>,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub source: String,
}

#[component]
pub fn NewLeadPage() -> impl IntoView {
    view! {
        <Title text="Nuevo lead" />
        <p class="breadcrumb"><a href="/leads">"Leads"</a></p>
        <h1>"Nuevo lead"</h1>
        <LeadForm values=LeadFormValues::default() />
    }
}

#[component]
pub fn EditLeadPage() -> impl IntoView {
    let lead = super::lead::route_lead();
    view! {
        <Title text="Editar lead" />
        <Suspense>
            {move || Suspend::new(async move {
                match lead.await {
                    Ok(lead) => Either::Left(view! {
                        <p class="breadcrumb">
                            <a href="/leads">"Leads"</a> " › " <a href=format!("/leads/{}", lead.id)>{lead.name.clone()}</a>
                        </p>
                        <h1>"Editar lead"</h1>
                        <LeadForm values=LeadFormValues {
                            id: Some(lead.id),
                            name: lead.name,
                            phone: lead.phone.unwrap_or_default(),
                            email: lead.email.unwrap_or_default(),
                            source: lead.source.as_str().to_string(),
                        } />
                    }),
                    Err(err) => Either::Right({
                        super::not_found::set_page_status(err.status());
                        view! {
                            <h1>"Editar lead"</h1>
                            {error_alert(err)}
                        }
                    }),
                }
            })}
        </Suspense>
    }
}

/// An island: a refused save is explained next to each field and keeps what was typed; a
/// phone that already belongs to a lead links to that lead. Saved, the browser opens the lead.
#[island]
fn LeadForm(values: LeadFormValues) -> impl IntoView {
    let save = ServerAction::<SaveLead>::new();
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    let taken = move || match error.get() {
        Some(AppError::PhoneTaken { lead_id, name }) => Some(view! {
            <p class="field-error" role="alert">
                "Este teléfono ya pertenece a " <a href=format!("/leads/{lead_id}")>{name}</a> "."
            </p>
        }),
        _ => None,
    };
    let general = Signal::derive(move || {
        error
            .get()
            .filter(|e| !matches!(e, AppError::PhoneTaken { .. }))
    });
    let sources = Source::ALL
        .map(|s| {
            let selected = values.source == s.as_str();
            view! { <option value=s.as_str() selected=selected>{s.label()}</option> }
        })
        .into_iter()
        .collect_view();
    view! {
        <ActionForm action=save attr:class="panel form">
            {values.id.map(|id| view! { <input type="hidden" name="id" value=id /> })}
            <GeneralError error=general />
            <label for="lead-name">"Nombre"</label>
            <input id="lead-name" name="name" type="text" required maxlength="120" autocomplete="off" value=values.name />
            <FieldError error field="name" />
            <label for="lead-phone">"Teléfono"</label>
            // Required, except for a lead that has none yet (a WhatsApp username).
            <input id="lead-phone" name="phone" type="tel" required=values.id.is_none() || !values.phone.is_empty() autocomplete="off" value=values.phone.clone()
                aria-describedby="lead-phone-help" />
            <p id="lead-phone-help" class="help">"Con prefijo internacional; los números españoles pueden ir sin +34."</p>
            <FieldError error field="phone" />
            {taken}
            <label for="lead-email">"Correo electrónico (opcional)"</label>
            <input id="lead-email" name="email" type="email" autocomplete="off" value=values.email />
            <FieldError error field="email" />
            <label for="lead-source">"Origen"</label>
            <select id="lead-source" name="source" required>
                <option value="" disabled selected=values.source.is_empty()>"Elige el origen"</option>
                {sources}
            </select>
            <FieldError error field="source" />
            <button type="submit" class="button primary" disabled=move || save.pending().get()>
                {move || if save.pending().get() { "Guardando…" } else { "Guardar" }}
            </button>
        </ActionForm>
    }
}
