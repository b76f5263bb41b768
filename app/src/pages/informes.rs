//! `/informes`: the KPI cards, the source filter (kept in the URL) and the 7-day charts.

use crate::api::reports::{get_kpi_dashboard, KpiDashboard};
use crate::components::charts::CHART_IDS;
use crate::components::field_error::error_alert;
use crate::domain::{KpiReport, Source};
use crate::error::AppError;
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
    let source = use_query_map()
        .read_untracked()
        .get("source")
        .filter(|s| !s.is_empty());
    let initial = Resource::new_blocking(
        {
            let source = source.clone();
            move || source.clone()
        },
        get_kpi_dashboard,
    );
    view! {
        <Title text="Informes" />
        <Suspense>
            {move || {
                let source = source.clone();
                Suspend::new(async move {
                    let initial = initial.await;
                    view! { <Dashboard source initial /> }
                })
            }}
        </Suspense>
    }
}

/// An island: the filter swaps cards and charts in place (no reload) and keeps the URL in step,
/// so a reload or a shared link shows the same view; the browser's back button follows it.
#[island]
fn Dashboard(source: Option<String>, initial: Result<KpiDashboard, AppError>) -> impl IntoView {
    let source = RwSignal::new(source);
    let dashboard = RwSignal::new(initial);
    let loading = RwSignal::new(false);
    // The latest choice wins: a slow answer for an earlier filter never replaces a newer one.
    let latest = StoredValue::new(0_u64);
    let show = move |next: Option<String>| {
        source.set(next.clone());
        latest.update_value(|n| *n += 1);
        let ticket = latest.get_value();
        loading.set(true);
        leptos::task::spawn_local(async move {
            let result = get_kpi_dashboard(next).await;
            if latest.get_value() == ticket {
                dashboard.set(result);
                loading.set(false);
            }
        });
    };

    #[cfg(feature = "hydrate")]
    {
        // Charts are drawn once hydrated, and again whenever a new report arrives.
        Effect::new(move |_| {
            dashboard.with(|dashboard| {
                if let Ok(dashboard) = dashboard {
                    for (id, option) in CHART_IDS.iter().zip(&dashboard.chart_options) {
                        crate::components::charts::draw(id, option);
                    }
                }
            })
        });
        let on_history =
            window_event_listener(
                leptos::ev::popstate,
                move |_| show(browser::source_in_url()),
            );
        on_cleanup(move || on_history.remove());
    }

    let api_href = move || match source.get() {
        Some(source) => format!("/api/reports/kpis?source={source}"),
        None => "/api/reports/kpis".to_string(),
    };
    view! {
        <div class="page-header">
            <h1>"Informes"</h1>
            <a class="button secondary" href=api_href target="_blank" rel="noopener">
                "API JSON"
            </a>
        </div>
        <SourceFilter current=source show />
        {move || {
            loading.get().then(|| view! { <p class="loading" role="status">"Cargando indicadores…"</p> })
        }}
        {move || match dashboard.get() {
            Ok(KpiDashboard { report, .. }) => view! { <KpiCards report /> }.into_any(),
            Err(err) => error_alert(err).into_any(),
        }}
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

/// Todas · Google · Meta · Orgánico, as real links: without wasm (or with a modifier key) they
/// load the page; hydrated, a click shows the new filter in place and pushes its URL.
#[component]
fn SourceFilter(
    current: RwSignal<Option<String>>,
    show: impl Fn(Option<String>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
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
                    let target = href.clone();
                    let on_click = move |ev: leptos::ev::MouseEvent| {
                        if ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.button() != 0 {
                            return;
                        }
                        ev.prevent_default();
                        #[cfg(feature = "hydrate")]
                        browser::push_url(&target);
                        #[cfg(not(feature = "hydrate"))]
                        let _ = &target;
                        show(value.map(str::to_string));
                    };
                    view! {
                        <a href=href aria-current=selected on:click=on_click>
                            {label}
                        </a>
                    }
                })
                .collect_view()}
        </nav>
    }
}

/// The address bar, read and written by the filter.
#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::window;

    pub fn push_url(href: &str) {
        if let Ok(history) = window().history() {
            let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(href));
        }
    }

    pub fn source_in_url() -> Option<String> {
        let search = window().location().search().ok()?;
        web_sys::UrlSearchParams::new_with_str(&search)
            .ok()?
            .get("source")
            .filter(|s| !s.is_empty())
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
