//! `/leads`: every lead, newest first, searched by name, phone or e-mail and filtered by source
//! and stage, with the count of each stage. Server HTML: the search is a GET form and every
//! filter and page is a link, so the URL always says what is shown.

use crate::api::leads::list_leads;
use crate::components::loaded::Loaded;
use crate::components::table::DataTable;
use crate::domain::{LeadList, LeadRow, Source, StageFilter, LEAD_COUNT_CAP as COUNT_CAP};
use crate::format::count;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

/// The list's filters as read from the URL.
#[derive(Clone, Default)]
struct Filters {
    q: String,
    source: String,
    stage: String,
}

impl Filters {
    /// `/leads?…` with these filters, another stage and a page.
    fn href(&self, stage: &str, page: i64) -> String {
        let mut params = ParamsMap::new();
        for (key, value) in [
            ("q", self.q.as_str()),
            ("source", self.source.as_str()),
            ("stage", stage),
        ] {
            if !value.is_empty() {
                params.insert(key, value.to_string());
            }
        }
        if page > 1 {
            params.insert("page", page.to_string());
        }
        format!("/leads{}", params.to_query_string())
    }
}

#[component]
pub fn LeadsPage() -> impl IntoView {
    let query = use_query_map().get_untracked();
    let param = |name: &str| query.get(name).unwrap_or_default();
    let filters = Filters {
        q: param("q"),
        source: param("source"),
        stage: param("stage"),
    };
    let page = param("page");
    let list = Resource::new_blocking(
        {
            let f = filters.clone();
            move || (f.q.clone(), f.source.clone(), f.stage.clone(), page.clone())
        },
        |(q, source, stage, page)| list_leads(Some(q), Some(source), Some(stage), Some(page)),
    );
    let source_options = std::iter::once(("", "Todos"))
        .chain(Source::ALL.map(|s| (s.as_str(), s.label())))
        .map(|(value, label)| {
            view! { <option value=value selected=filters.source == value>{label}</option> }
        })
        .collect_view();
    view! {
        <Title text="Leads" />
        <div class="page-header">
            <h1>"Leads"</h1>
            <a class="button primary" href="/leads/nuevo">"Nuevo lead"</a>
        </div>
        <form method="get" action="/leads" class="filters" role="search" aria-label="Buscar leads">
            <label for="q">"Buscar"</label>
            <input
                id="q"
                name="q"
                type="search"
                value=filters.q.clone()
                placeholder="Nombre, teléfono o correo"
                autocomplete="off"
            />
            <label for="source">"Origen"</label>
            <select id="source" name="source">{source_options}</select>
            <input type="hidden" name="stage" value=filters.stage.clone() />
            <button type="submit" class="button secondary">"Buscar"</button>
        </form>
        <Loaded resource=list loading="Cargando leads…" let:list>
            <LeadResults list filters=filters.clone() />
        </Loaded>
    }
}

#[component]
fn LeadResults(list: LeadList, filters: Filters) -> impl IntoView {
    let counts = list.stage_counts.clone();
    let all = counts
        .as_ref()
        .map(|counts| counts.iter().map(|(_, n)| n).sum::<i64>());
    let stages = std::iter::once(("", "Todos", all))
        .chain(StageFilter::ALL.into_iter().map(|f| {
            let n = counts
                .as_ref()
                .map(|counts| counts.iter().find(|(c, _)| *c == f).map_or(0, |(_, n)| *n));
            (f.as_str(), f.label(), n)
        }))
        .map(|(value, label, n)| {
            let current = (filters.stage == value).then_some("true");
            view! {
                <a href=filters.href(value, 1) aria-current=current>
                    {label}
                    {n.map(|n| view! { " " <span class="count">{count(n)}</span> })}
                </a>
            }
        })
        .collect_view();
    let summary = match (list.total, list.pages) {
        (Some(0), _) => "Ningún lead con estos filtros.".to_string(),
        (Some(1), _) => "1 lead".to_string(),
        (Some(n), Some(pages)) => format!("{} leads · página {} de {}", count(n), list.page, pages),
        _ => format!(
            "Más de {} leads · página {}: afina la búsqueda para ver menos.",
            count(COUNT_CAP),
            list.page
        ),
    };
    let previous = (list.page > 1).then(|| filters.href(&filters.stage, list.page - 1));
    let next = list
        .has_next
        .then(|| filters.href(&filters.stage, list.page + 1));
    view! {
        <nav class="segmented stages" aria-label="Filtrar por etapa">{stages}</nav>
        <p class="summary" role="status">{summary}</p>
        {(!list.rows.is_empty()).then(|| view! { <LeadTable rows=list.rows /> })}
        <nav class="pager" aria-label="Páginas">
            {previous.map(|href| view! { <a class="button secondary" href=href rel="prev">"Anterior"</a> })}
            {next.map(|href| view! { <a class="button secondary" href=href rel="next">"Siguiente"</a> })}
        </nav>
    }
}

#[component]
fn LeadTable(rows: Vec<LeadRow>) -> impl IntoView {
    view! {
        <DataTable
            caption="Leads"
            columns=&["Nombre", "Teléfono", "Correo", "Origen", "Etapa", "Creado"]
            class="leads"
        >
            {rows
                .into_iter()
                .map(|lead| {
                    let stage = if lead.lost { StageFilter::Lost } else { StageFilter::Stage(lead.stage) };
                    view! {
                        <tr>
                            <th scope="row"><a href=format!("/leads/{}", lead.id)>{lead.name}</a></th>
                            <td class="nowrap">{lead.phone.unwrap_or_else(|| "—".into())}</td>
                            <td>{lead.email.unwrap_or_default()}</td>
                            <td>{lead.source.label()}</td>
                            <td><span class=format!("badge stage-{}", stage.as_str())>{stage.label()}</span></td>
                            <td class="nowrap">{lead.created}</td>
                        </tr>
                    }
                })
                .collect_view()}
        </DataTable>
    }
}
