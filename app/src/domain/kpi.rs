//! The Informes report (SPEC §3): the JSON of `GET /api/reports/kpis` and what the page shows.
//! Field names are a public contract.

use super::{Source, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KpiReport {
    pub filters: KpiFilters,
    /// Wall-clock time the report was computed.
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime, example = "2025-01-07T10:00:00Z"))]
    pub generated_at: Timestamp,
    /// IANA name of the clinic time zone that defines the days.
    #[cfg_attr(feature = "ssr", schema(example = "Europe/Madrid"))]
    pub timezone: String,
    pub totals: KpiTotals,
    pub counts: KpiCounts,
    /// Exactly seven days, oldest first, the last one being the day of `as_of`.
    pub series_7d: Vec<KpiDay>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KpiFilters {
    /// The lead source filter; null for every source.
    pub source: Option<Source>,
    /// The instant the report describes (the request time unless `as_of` was given).
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime, example = "2025-01-07T10:00:00Z"))]
    pub as_of: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KpiTotals {
    pub leads_24h: i64,
    pub leads_7d: i64,
    /// Rates: 2 decimals, rounded half up on the exact fraction; 0 when the denominator is 0.
    pub appointment_rate_7d: f64,
    pub attendance_rate_7d: f64,
    pub conversion_rate_7d: f64,
    pub no_show_rate_7d: f64,
    pub sessions_completed_7d: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KpiCounts {
    pub leads_with_appointment_7d: i64,
    pub leads_with_treatment_7d: i64,
    pub attended_7d: i64,
    pub no_show_7d: i64,
    pub cancelled_7d: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KpiDay {
    /// The local calendar day, `YYYY-MM-DD`.
    #[cfg_attr(feature = "ssr", schema(example = "2025-01-01"))]
    pub date: String,
    pub leads: i64,
    /// Appointments created that day (valoraciones and sessions).
    pub appointments: i64,
    pub attended: i64,
    pub no_show: i64,
    pub cancelled: i64,
    /// Treatments sold that day.
    pub treatments: i64,
    pub sessions_completed: i64,
}

impl KpiCounts {
    /// attended + no_show + cancelled: the denominator of attendance and no-show rates.
    pub fn outcomes_7d(&self) -> i64 {
        self.attended_7d + self.no_show_7d + self.cancelled_7d
    }
}

/// `numerator / denominator` to 2 decimals, half up on the exact fraction (integer arithmetic, so
/// 57/200 = 0.285 gives 0.29 where binary floating point would give 0.28); 0 when the denominator
/// is 0.
pub fn rate(numerator: i64, denominator: i64) -> f64 {
    if denominator <= 0 {
        return 0.0;
    }
    let hundredths = (200 * numerator + denominator) / (2 * denominator);
    hundredths as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::rate;

    #[test]
    fn rates_round_half_up_on_the_exact_fraction() {
        assert_eq!(rate(2, 3), 0.67);
        assert_eq!(rate(57, 200), 0.29);
        assert_eq!(rate(1, 8), 0.13);
        assert_eq!(rate(1, 200), 0.01);
        assert_eq!(rate(1, 201), 0.0);
        assert_eq!(rate(1, 3), 0.33);
        assert_eq!(rate(5, 5), 1.0);
        assert_eq!(rate(0, 7), 0.0);
        assert_eq!(rate(3, 0), 0.0);
    }
}
