//! `/informes`: the KPI cards, the source filter (kept in the URL) and the 7-day charts.

use crate::api::reports::{get_kpi_dashboard, KpiDashboard};
use crate::components::charts::CHART_IDS;
use crate::domain::{KpiReport, Source};
use crate::format::{count, day_month, percent};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

const CHART_TITLES: [&str; 3] = [
    "Leads por día",
    "Resultado de las citas por día",
    "Ventas y tratamientos completados por día",
];

#[component]
pub fn InformesPage() -> impl IntoView {
    let query = use_query_map();
    let source = Memo::new(move |_| query.read().get("source").filter(|s| !s.is_empty()));
    let dashboard = Resource::new(move || source.get(), get_kpi_dashboard);
    let api_href = move || match source.get() {
        Some(source) => format!("/api/reports/kpis?source={source}"),
        None => "/api/reports/kpis".to_string(),
    };

    // Charts are drawn once hydrated, and again whenever a new report arrives.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(Ok(dashboard)) = dashboard.get() {
            for (id, option) in CHART_IDS.iter().zip(&dashboard.chart_options) {
                crate::components::charts::draw(id, option);
            }
        }
    });

    view! {
        <Title text="Informes" />
        <div class="page-header">
            <h1>"Informes"</h1>
            <a class="button secondary" href=api_href target="_blank" rel="noopener">
                "API JSON"
            </a>
        </div>
        <SourceFilter current=source />
        <Transition fallback=|| view! { <p class="loading" role="status">"Cargando indicadores…"</p> }>
            {move || Suspend::new(async move {
                match dashboard.await {
                    Ok(KpiDashboard { report, .. }) => view! { <KpiCards report /> }.into_any(),
                    Err(err) => {
                        view! { <p class="alert error" role="alert">{err.to_string()}</p> }.into_any()
                    }
                }
            })}
        </Transition>
        <section class="charts" aria-label="Gráficas de los últimos 7 días">
            {CHART_IDS
                .into_iter()
                .zip(CHART_TITLES)
                .map(|(id, title)| {
                    let heading = format!("{id}-title");
                    let labelled_by = heading.clone();
                    view! {
                        <figure class="chart-card" aria-labelledby=labelled_by>
                            <h2 id=heading>{title}</h2>
                            <div id=id class="chart" role="img" aria-label=title></div>
                        </figure>
                    }
                })
                .collect_view()}
        </section>
    }
}

/// Todas · Google · Meta · Orgánico, as links: the filter lives in the URL, so a reload or a
/// shared link shows the same view, and the router swaps the data without reloading the page.
#[component]
fn SourceFilter(current: Memo<Option<String>>) -> impl IntoView {
    let options = std::iter::once((None, "Todas"))
        .chain(Source::ALL.map(|s| (Some(s.as_str()), s.label())))
        .collect::<Vec<_>>();
    view! {
        <nav class="segmented" aria-label="Filtrar por origen">
            {options
                .into_iter()
                .map(|(value, label)| {
                    let href = value.map_or("/informes".to_string(), |v| format!("/informes?source={v}"));
                    let selected = move || (current.get().as_deref() == value).then_some("true");
                    view! {
                        <a href=href aria-current=selected>
                            {label}
                        </a>
                    }
                })
                .collect_view()}
        </nav>
    }
}

#[component]
fn KpiCards(report: KpiReport) -> impl IntoView {
    let totals = &report.totals;
    let counts = &report.counts;
    let outcomes = counts.outcomes_7d();
    let period = match (report.series_7d.first(), report.series_7d.last()) {
        (Some(first), Some(last)) => {
            format!(
                "Del {} al {}",
                day_month(&first.date),
                day_month(&last.date)
            )
        }
        _ => String::new(),
    };
    let empty = totals.leads_7d == 0 && outcomes == 0 && totals.sessions_completed_7d == 0;
    let cards = [
        ("leads_24h", "Leads 24 h", count(totals.leads_24h), None),
        ("leads_7d", "Leads 7 días", count(totals.leads_7d), None),
        (
            "appointment_rate_7d",
            "Tasa de cita",
            percent(totals.appointment_rate_7d),
            Some(format!(
                "{} de {} leads",
                count(counts.leads_with_appointment_7d),
                count(totals.leads_7d)
            )),
        ),
        (
            "attendance_rate_7d",
            "Asistencia",
            percent(totals.attendance_rate_7d),
            Some(format!(
                "{} de {} citas",
                count(counts.attended_7d),
                count(outcomes)
            )),
        ),
        (
            "conversion_rate_7d",
            "Conversión",
            percent(totals.conversion_rate_7d),
            Some(format!(
                "{} de {} leads",
                count(counts.leads_with_treatment_7d),
                count(totals.leads_7d)
            )),
        ),
        (
            "no_show_rate_7d",
            "No presentados",
            percent(totals.no_show_rate_7d),
            Some(format!(
                "{} de {} citas",
                count(counts.no_show_7d),
                count(outcomes)
            )),
        ),
        (
            "sessions_completed_7d",
            "Tratamientos completados",
            count(totals.sessions_completed_7d),
            None,
        ),
    ];
    view! {
        <p class="period">{period}" · zona horaria "{report.timezone.clone()}</p>
        {empty
            .then(|| {
                view! {
                    <p class="empty-state" role="status">
                        "No hay actividad en los últimos 7 días con este filtro."
                    </p>
                }
            })}
        <section class="kpis" aria-label="Indicadores de los últimos 7 días">
            {cards
                .into_iter()
                .map(|(key, label, value, detail)| {
                    let heading = format!("kpi-{key}");
                    let labelled_by = heading.clone();
                    view! {
                        <article class="kpi" aria-labelledby=labelled_by data-kpi=key>
                            <h2 id=heading>{label}</h2>
                            <p class="value">{value}</p>
                            {detail.map(|d| view! { <p class="detail">{d}</p> })}
                        </article>
                    }
                })
                .collect_view()}
        </section>
    }
}
