//! The KPI computation of Informes (SPEC §3), shared by the page's server function and the JSON
//! API.
//!
//! The windows' edges (now−24h, the local midnights of the seven days) are computed here in the
//! clinic's time zone and bound as parameters. Every figure is a count over an index range led by
//! the metric's own timestamp, all of them in one statement, so the cost follows the size of the
//! window and not of the history.

use super::db::Db;
use crate::domain::{rate, KpiCounts, KpiDay, KpiFilters, KpiReport, KpiTotals, Source, Timestamp};
use anyhow::Context;
use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use sqlx::Row;

/// The instants that bound a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// The last whole second at or before the report's instant (rows carry whole seconds).
    pub now: Timestamp,
    /// The first whole second at or after the instant − 24 h: with `now`, the rows of exactly the
    /// 24 hours before an `as_of` that has a fraction of a second.
    pub day_ago: Timestamp,
    /// The local calendar days of the series, oldest first; the last one contains `now`.
    pub dates: [NaiveDate; 7],
    /// Local midnight starting each of `dates`; `day_starts[0]` opens the 7-day window.
    pub day_starts: [Timestamp; 7],
}

impl Window {
    pub fn new(as_of: DateTime<Utc>, tz: Tz) -> Self {
        let today = as_of.with_timezone(&tz).date_naive();
        let dates: [NaiveDate; 7] = std::array::from_fn(|i| {
            today
                .checked_sub_days(Days::new(6 - i as u64))
                .expect("dates near today exist")
        });
        let day_starts = dates.map(|date| local_midnight(date, tz));
        Self {
            now: Timestamp::from(as_of),
            day_ago: Timestamp::at_or_after(as_of - chrono::TimeDelta::hours(24)),
            dates,
            day_starts,
        }
    }

    pub fn start(&self) -> Timestamp {
        self.day_starts[0]
    }
}

/// The first instant of `date` in `tz`. Where a time zone skips midnight (a DST change at 00:00),
/// the day starts at the first local time that exists.
fn local_midnight(date: NaiveDate, tz: Tz) -> Timestamp {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight is a valid time");
    (0..=180)
        .find_map(|minutes| {
            tz.from_local_datetime(&(midnight + chrono::Duration::minutes(minutes)))
                .earliest()
        })
        .map(|t| Timestamp::from(t.with_timezone(&chrono::Utc)))
        .expect("every day has a local time within three hours of midnight")
}

/// Parameters of the report query: $1–$7 the local midnights starting each day, $8 now,
/// $9 now − 24 h, and $10 the source when the report is filtered.
const NOW: &str = "$8";

/// The condition a filtered report adds to every count. Two statements rather than one with
/// `($10 IS NULL OR …)`, so SQLite plans each for what it is.
fn source_condition(filtered: bool) -> &'static str {
    if filtered {
        " AND source = $10"
    } else {
        ""
    }
}

/// Seven scalar subqueries counting `table` rows whose `column` falls on each local day of the
/// window (the last day ends at now, inclusive). Each is a range count over an index led by
/// `column` that SQLite answers from the index alone: far cheaper than one scan with a
/// conditional aggregate per day.
fn per_day(table: &str, column: &str, condition: &str, filtered: bool) -> Vec<String> {
    (1..=7)
        .map(|day| {
            let end = if day < 7 {
                format!("{column} < ${}", day + 1)
            } else {
                format!("{column} <= {NOW}")
            };
            let source = source_condition(filtered);
            format!("(SELECT COUNT(*) FROM {table} WHERE {column} >= ${day} AND {end}{condition}{source})")
        })
        .collect()
}

/// The one query of the report: 52 counts in one round trip.
fn report_sql(filtered: bool) -> String {
    let source = source_condition(filtered);
    let mut counts = Vec::with_capacity(52);
    counts.extend(per_day("leads", "created_at", "", filtered));
    counts.extend(per_day("appointments", "created_at", "", filtered));
    for status in ["attended", "no_show", "cancelled"] {
        counts.extend(per_day(
            "appointments",
            "scheduled_at",
            &format!(" AND status = '{status}'"),
            filtered,
        ));
    }
    counts.extend(per_day("treatments", "created_at", "", filtered));
    counts.extend(per_day("treatments", "completed_at", "", filtered));
    counts.push(format!(
        "(SELECT COUNT(*) FROM leads WHERE created_at BETWEEN $9 AND {NOW}{source})"
    ));
    // A window lead's first booking (sale) is at or after its creation, so it is in the window
    // exactly when the lead has one created in the window.
    for first in ["first_appointment_at", "first_treatment_at"] {
        counts.push(format!(
            "(SELECT COUNT(*) FROM leads WHERE {first} BETWEEN $1 AND {NOW} AND created_at >= $1{source})"
        ));
    }
    format!("SELECT {}", counts.join(",\n"))
}

/// The report as of `as_of` (a fraction of a second included) for `source` (every source when
/// `None`).
pub async fn get_kpi_report(
    db: &Db,
    tz: Tz,
    source: Option<Source>,
    as_of: DateTime<Utc>,
) -> anyhow::Result<KpiReport> {
    let window = Window::new(as_of, tz);
    static ALL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| report_sql(false));
    static FILTERED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| report_sql(true));
    let mut query = sqlx::query(if source.is_some() { &FILTERED } else { &ALL });
    for start in window.day_starts {
        query = query.bind(start);
    }
    query = query.bind(window.now).bind(window.day_ago);
    if let Some(source) = source {
        query = query.bind(source.as_str());
    }
    let row = query
        .fetch_one(&db.reader)
        .await
        .context("computing the KPI report")?;
    let figures: Vec<i64> = (0..row.len())
        .map(|i| row.try_get(i))
        .collect::<Result<_, _>>()?;
    let days = |block: usize| -> [i64; 7] { std::array::from_fn(|day| figures[block * 7 + day]) };
    let (leads, appointments, attended, no_show, cancelled, treatments, completed) = (
        days(0),
        days(1),
        days(2),
        days(3),
        days(4),
        days(5),
        days(6),
    );
    let (leads_24h, leads_with_appointment, leads_with_treatment) =
        (figures[49], figures[50], figures[51]);

    let series_7d: Vec<KpiDay> = (0..7)
        .map(|i| KpiDay {
            date: window.dates[i].format("%Y-%m-%d").to_string(),
            leads: leads[i],
            appointments: appointments[i],
            attended: attended[i],
            no_show: no_show[i],
            cancelled: cancelled[i],
            treatments: treatments[i],
            sessions_completed: completed[i],
        })
        .collect();
    let counts = KpiCounts {
        leads_with_appointment_7d: leads_with_appointment,
        leads_with_treatment_7d: leads_with_treatment,
        attended_7d: attended.iter().sum(),
        no_show_7d: no_show.iter().sum(),
        cancelled_7d: cancelled.iter().sum(),
    };
    let leads_7d: i64 = leads.iter().sum();
    let totals = KpiTotals {
        leads_24h,
        leads_7d,
        appointment_rate_7d: rate(counts.leads_with_appointment_7d, leads_7d),
        attendance_rate_7d: rate(counts.attended_7d, counts.outcomes_7d()),
        conversion_rate_7d: rate(counts.leads_with_treatment_7d, leads_7d),
        no_show_rate_7d: rate(counts.no_show_7d, counts.outcomes_7d()),
        sessions_completed_7d: completed.iter().sum(),
    };
    Ok(KpiReport {
        filters: KpiFilters {
            source,
            as_of: window.now,
        },
        generated_at: Timestamp::now(),
        timezone: tz.name().to_string(),
        totals,
        counts,
        series_7d,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Madrid;

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn instant(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn the_window_starts_at_local_midnight_six_days_ago() {
        let window = Window::new(instant("2025-01-07T10:00:00Z"), Madrid);
        assert_eq!(
            window.start(),
            ts("2024-12-31T23:00:00Z"),
            "00:00 in Madrid (UTC+1)"
        );
        assert_eq!(window.dates[0].to_string(), "2025-01-01");
        assert_eq!(window.dates[6].to_string(), "2025-01-07");
        assert_eq!(window.day_ago, ts("2025-01-06T10:00:00Z"));
    }

    #[test]
    fn a_fraction_of_a_second_moves_both_ends_of_the_day_exactly() {
        let window = Window::new(instant("2026-03-31T08:30:00.500Z"), Madrid);
        // 08:30:00 the day before is half a second too early; 08:30:00 today is within.
        assert_eq!(window.day_ago, ts("2026-03-30T08:30:01Z"));
        assert_eq!(window.now, ts("2026-03-31T08:30:00Z"));
    }

    #[test]
    fn days_follow_daylight_saving_changes() {
        // Spring forward on Sunday 30 March 2025: that day lasts 23 hours.
        let window = Window::new(instant("2025-04-01T12:00:00Z"), Madrid);
        assert_eq!(window.dates[0].to_string(), "2025-03-26");
        assert_eq!(
            window.day_starts[4],
            ts("2025-03-29T23:00:00Z"),
            "30 March starts at UTC+1"
        );
        assert_eq!(
            window.day_starts[5],
            ts("2025-03-30T22:00:00Z"),
            "31 March starts at UTC+2"
        );
        // Fall back on Sunday 26 October 2025: that day lasts 25 hours.
        let window = Window::new(instant("2025-10-27T12:00:00Z"), Madrid);
        assert_eq!(window.day_starts[5], ts("2025-10-25T22:00:00Z"));
        assert_eq!(window.day_starts[6], ts("2025-10-26T23:00:00Z"));
    }

    #[test]
    fn a_time_zone_that_skips_midnight_starts_the_day_at_its_first_hour() {
        // America/Santiago moved clocks from 00:00 to 01:00 on 2024-09-08.
        let tz: Tz = "America/Santiago".parse().unwrap();
        assert_eq!(
            local_midnight(NaiveDate::from_ymd_opt(2024, 9, 8).unwrap(), tz),
            ts("2024-09-08T04:00:00Z")
        );
    }
}
