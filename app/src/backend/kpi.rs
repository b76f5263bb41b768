//! The KPI computation of Informes (SPEC §3), shared by the page's server function and the JSON
//! API.
//!
//! The windows' edges (now−24h, the local midnights of the seven days) are computed here in the
//! clinic's time zone and bound as parameters; each query is one range scan over an index whose
//! leading column is the metric's own timestamp, counting rows per day with `FILTER` clauses, so
//! the cost follows the size of the window and not of the history.

use super::db::Db;
use crate::domain::{rate, KpiCounts, KpiDay, KpiFilters, KpiReport, KpiTotals, Source, Timestamp};
use anyhow::Context;
use chrono::{Days, NaiveDate, TimeZone};
use chrono_tz::Tz;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

/// The instants that bound a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub now: Timestamp,
    /// now − 24 h.
    pub day_ago: Timestamp,
    /// The local calendar days of the series, oldest first; the last one contains `now`.
    pub dates: [NaiveDate; 7],
    /// Local midnight starting each of `dates`; `day_starts[0]` opens the 7-day window.
    pub day_starts: [Timestamp; 7],
}

impl Window {
    pub fn new(now: Timestamp, tz: Tz) -> Self {
        let today = now.as_datetime().with_timezone(&tz).date_naive();
        let dates: [NaiveDate; 7] = std::array::from_fn(|i| {
            today
                .checked_sub_days(Days::new(6 - i as u64))
                .expect("dates near today exist")
        });
        let day_starts = dates.map(|date| local_midnight(date, tz));
        Self {
            now,
            day_ago: now.plus_seconds(-24 * 3600),
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

/// `COUNT(*) FILTER (WHERE column >= $n)` for the starts of days 2–7 (parameters $3–$8): the
/// count of day i is the difference of consecutive thresholds.
fn day_thresholds(column: &str) -> String {
    (3..=8)
        .map(|n| format!(", COUNT(*) FILTER (WHERE {column} >= ${n})"))
        .collect()
}

/// Binds $1 = window start, $2 = now, $3–$8 = starts of days 2–7, $9 = source (or NULL).
fn bind_window<'q>(
    sql: &'q str,
    window: &Window,
    source: Option<Source>,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    let mut query = sqlx::query(sql).bind(window.start()).bind(window.now);
    for start in &window.day_starts[1..] {
        query = query.bind(*start);
    }
    query.bind(source.map(Source::as_str))
}

/// Per-day counts from a row holding a total at `first` and the six thresholds after it.
fn per_day(row: &SqliteRow, first: usize) -> sqlx::Result<[i64; 7]> {
    let mut at_least = [0i64; 8];
    for (i, slot) in at_least.iter_mut().take(7).enumerate() {
        *slot = row.try_get(first + i)?;
    }
    Ok(std::array::from_fn(|day| at_least[day] - at_least[day + 1]))
}

#[derive(Default)]
struct LeadCounts {
    per_day: [i64; 7],
    last_24h: i64,
    with_appointment: i64,
    with_treatment: i64,
}

async fn count_leads(db: &Db, window: &Window, source: Option<Source>) -> sqlx::Result<LeadCounts> {
    let sql = format!(
        "SELECT COUNT(*){days},
             COUNT(*) FILTER (WHERE l.created_at >= $10),
             COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM appointments a
                 WHERE a.lead_id = l.id AND a.created_at BETWEEN $1 AND $2)),
             COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM treatments t
                 WHERE t.lead_id = l.id AND t.created_at BETWEEN $1 AND $2))
         FROM leads l
         WHERE l.created_at BETWEEN $1 AND $2 AND ($9 IS NULL OR l.source = $9)",
        days = day_thresholds("l.created_at")
    );
    let row = bind_window(&sql, window, source)
        .bind(window.day_ago)
        .fetch_one(&db.reader)
        .await?;
    Ok(LeadCounts {
        per_day: per_day(&row, 0)?,
        last_24h: row.try_get(7)?,
        with_appointment: row.try_get(8)?,
        with_treatment: row.try_get(9)?,
    })
}

/// Rows per local day of `column` in the window, for one table.
async fn count_per_day(
    db: &Db,
    window: &Window,
    source: Option<Source>,
    table: &str,
    column: &str,
) -> sqlx::Result<[i64; 7]> {
    let sql = format!(
        "SELECT COUNT(*){days} FROM {table}
         WHERE {column} BETWEEN $1 AND $2 AND ($9 IS NULL OR source = $9)",
        days = day_thresholds(column)
    );
    let row = bind_window(&sql, window, source)
        .fetch_one(&db.reader)
        .await?;
    per_day(&row, 0)
}

#[derive(Default)]
struct Outcomes {
    attended: [i64; 7],
    no_show: [i64; 7],
    cancelled: [i64; 7],
}

/// Appointment outcomes by the local day they were scheduled for.
async fn count_outcomes(
    db: &Db,
    window: &Window,
    source: Option<Source>,
) -> sqlx::Result<Outcomes> {
    let sql = format!(
        "SELECT status, COUNT(*){days} FROM appointments
         WHERE scheduled_at BETWEEN $1 AND $2 AND ($9 IS NULL OR source = $9)
           AND status IN ('attended', 'no_show', 'cancelled')
         GROUP BY status",
        days = day_thresholds("scheduled_at")
    );
    let rows = bind_window(&sql, window, source)
        .fetch_all(&db.reader)
        .await?;
    let mut outcomes = Outcomes::default();
    for row in rows {
        let counts = per_day(&row, 1)?;
        match row.try_get::<&str, _>(0)? {
            "attended" => outcomes.attended = counts,
            "no_show" => outcomes.no_show = counts,
            _ => outcomes.cancelled = counts,
        }
    }
    Ok(outcomes)
}

/// The report as of `now` for `source` (every source when `None`).
pub async fn get_kpi_report(
    db: &Db,
    tz: Tz,
    source: Option<Source>,
    now: Timestamp,
) -> anyhow::Result<KpiReport> {
    let window = Window::new(now, tz);
    // Independent reads, each on its own pooled connection: the report takes as long as the
    // slowest of them.
    let (leads, appointments, outcomes, treatments, completed) = tokio::try_join!(
        count_leads(db, &window, source),
        count_per_day(db, &window, source, "appointments", "created_at"),
        count_outcomes(db, &window, source),
        count_per_day(db, &window, source, "treatments", "created_at"),
        count_per_day(db, &window, source, "treatments", "completed_at"),
    )
    .context("computing the KPI report")?;

    let series_7d: Vec<KpiDay> = (0..7)
        .map(|i| KpiDay {
            date: window.dates[i].format("%Y-%m-%d").to_string(),
            leads: leads.per_day[i],
            appointments: appointments[i],
            attended: outcomes.attended[i],
            no_show: outcomes.no_show[i],
            cancelled: outcomes.cancelled[i],
            treatments: treatments[i],
            sessions_completed: completed[i],
        })
        .collect();
    let counts = KpiCounts {
        leads_with_appointment_7d: leads.with_appointment,
        leads_with_treatment_7d: leads.with_treatment,
        attended_7d: outcomes.attended.iter().sum(),
        no_show_7d: outcomes.no_show.iter().sum(),
        cancelled_7d: outcomes.cancelled.iter().sum(),
    };
    let leads_7d: i64 = leads.per_day.iter().sum();
    let totals = KpiTotals {
        leads_24h: leads.last_24h,
        leads_7d,
        appointment_rate_7d: rate(counts.leads_with_appointment_7d, leads_7d),
        attendance_rate_7d: rate(counts.attended_7d, counts.outcomes_7d()),
        conversion_rate_7d: rate(counts.leads_with_treatment_7d, leads_7d),
        no_show_rate_7d: rate(counts.no_show_7d, counts.outcomes_7d()),
        sessions_completed_7d: completed.iter().sum(),
    };
    Ok(KpiReport {
        filters: KpiFilters { source, as_of: now },
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

    #[test]
    fn the_window_starts_at_local_midnight_six_days_ago() {
        let window = Window::new(ts("2025-01-07T10:00:00Z"), Madrid);
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
    fn days_follow_daylight_saving_changes() {
        // Spring forward on Sunday 30 March 2025: that day lasts 23 hours.
        let window = Window::new(ts("2025-04-01T12:00:00Z"), Madrid);
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
        let window = Window::new(ts("2025-10-27T12:00:00Z"), Madrid);
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
