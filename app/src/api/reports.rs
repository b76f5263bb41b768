//! Informes' data.

use crate::domain::KpiReport;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the Informes page shows: the report, and its charts as ECharts options (JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KpiDashboard {
    pub report: KpiReport,
    pub chart_options: Vec<String>,
}

/// The KPI report as of now, for one source or (`None` / empty) all of them.
#[server(prefix = "/sfn", endpoint = "kpi_dashboard")]
pub async fn get_kpi_dashboard(source: Option<String>) -> Result<KpiDashboard, AppError> {
    use crate::backend::{auth, kpi};
    use crate::components::charts::chart_options;
    use crate::domain::Source;
    use anyhow::Context;
    let (state, _) = auth::require_user().await?;
    let source = Source::parse_filter(source.as_deref()).map_err(|_| {
        AppError::invalid(
            "source",
            "Origen desconocido: elige Google, Meta u Orgánico.",
        )
    })?;
    let report = kpi::get_kpi_report(&state.db, state.config.timezone, source, chrono::Utc::now())
        .await
        .context("computing the KPI report")?;
    let chart_options = chart_options(&report.series_7d);
    Ok(KpiDashboard {
        report,
        chart_options,
    })
}
