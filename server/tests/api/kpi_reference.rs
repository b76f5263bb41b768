//! The KPI engine against a deliberately naive reference: every row loaded into memory, every
//! definition of SPEC §3 applied word for word, on random clinics spanning both daylight-saving
//! weeks. Plus the invariants that tie the report's fields together.

use crate::clinic::{ts, Clinic};
use crate::helpers::TestApp;
use app::backend::kpi::get_kpi_report;
use app::domain::{
    rate, AppointmentStatus, KpiCounts, KpiDay, KpiReport, KpiTotals, Source, Timestamp,
};
use chrono::{Duration, NaiveDate, TimeZone};
use chrono_tz::{Europe::Madrid, Tz};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Lead {
    id: i64,
    source: Source,
    created_at: Timestamp,
}
struct Appointment {
    id: i64,
    lead_id: i64,
    treatment_id: Option<i64>,
    created_at: Timestamp,
    scheduled_at: Timestamp,
    status: String,
}
struct Treatment {
    id: i64,
    lead_id: i64,
    sessions_count: i64,
    created_at: Timestamp,
}

struct Rows {
    leads: Vec<Lead>,
    appointments: Vec<Appointment>,
    treatments: Vec<Treatment>,
}

async fn load(clinic: &Clinic) -> Rows {
    let db = &clinic.db.reader;
    let leads =
        sqlx::query_as::<_, (i64, String, Timestamp)>("SELECT id, source, created_at FROM leads")
            .fetch_all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|(id, source, created_at)| Lead {
                id,
                source: source.parse().unwrap(),
                created_at,
            })
            .collect();
    let appointments = sqlx::query_as::<_, (i64, i64, Option<i64>, Timestamp, Timestamp, String)>(
        "SELECT id, lead_id, treatment_id, created_at, scheduled_at, status FROM appointments",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .into_iter()
    .map(
        |(id, lead_id, treatment_id, created_at, scheduled_at, status)| Appointment {
            id,
            lead_id,
            treatment_id,
            created_at,
            scheduled_at,
            status,
        },
    )
    .collect();
    let treatments = sqlx::query_as::<_, (i64, i64, i64, Timestamp)>(
        "SELECT id, lead_id, sessions_count, created_at FROM treatments",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .into_iter()
    .map(|(id, lead_id, sessions_count, created_at)| Treatment {
        id,
        lead_id,
        sessions_count,
        created_at,
    })
    .collect();
    Rows {
        leads,
        appointments,
        treatments,
    }
}

/// SPEC §3 read literally.
fn reference(
    rows: &Rows,
    tz: Tz,
    source: Option<Source>,
    now: Timestamp,
) -> (KpiTotals, KpiCounts, Vec<KpiDay>) {
    let local_date = |t: Timestamp| t.as_datetime().with_timezone(&tz).date_naive();
    let today = local_date(now);
    let days: Vec<NaiveDate> = (0..7)
        .rev()
        .map(|back| today - Duration::days(back))
        .collect();
    let midnight = tz
        .from_local_datetime(&days[0].and_hms_opt(0, 0, 0).unwrap())
        .earliest()
        .unwrap();
    let start = Timestamp::from(midnight.with_timezone(&chrono::Utc));
    let day_ago = Timestamp::from(now.as_datetime() - Duration::hours(24));
    let in_7d = |t: Timestamp| start <= t && t <= now;
    let in_24h = |t: Timestamp| day_ago <= t && t <= now;
    let lead_source = |lead_id: i64| rows.leads.iter().find(|l| l.id == lead_id).unwrap().source;
    let passes = |lead_id: i64| source.is_none_or(|s| lead_source(lead_id) == s);

    let leads_7d: Vec<&Lead> = rows
        .leads
        .iter()
        .filter(|l| passes(l.id) && in_7d(l.created_at))
        .collect();
    let leads_24h = rows
        .leads
        .iter()
        .filter(|l| passes(l.id) && in_24h(l.created_at))
        .count() as i64;
    let with_appointment = leads_7d
        .iter()
        .filter(|l| {
            rows.appointments
                .iter()
                .any(|a| a.lead_id == l.id && in_7d(a.created_at))
        })
        .count() as i64;
    let with_treatment = leads_7d
        .iter()
        .filter(|l| {
            rows.treatments
                .iter()
                .any(|t| t.lead_id == l.id && in_7d(t.created_at))
        })
        .count() as i64;
    let outcome = |status: &str| -> Vec<&Appointment> {
        rows.appointments
            .iter()
            .filter(|a| passes(a.lead_id) && a.status == status && in_7d(a.scheduled_at))
            .collect()
    };
    let (attended, no_show, cancelled) = (
        outcome("attended"),
        outcome("no_show"),
        outcome("cancelled"),
    );
    // The session that reached sessions_count: the sessions_count-th attended one by scheduled_at.
    let completions: Vec<Timestamp> = rows
        .treatments
        .iter()
        .filter(|t| passes(t.lead_id))
        .filter_map(|t| {
            let mut sessions: Vec<&Appointment> = rows
                .appointments
                .iter()
                .filter(|a| a.treatment_id == Some(t.id) && a.status == "attended")
                .collect();
            sessions.sort_by_key(|a| (a.scheduled_at, a.id));
            sessions
                .get(t.sessions_count as usize - 1)
                .map(|a| a.scheduled_at)
        })
        .filter(|&at| in_7d(at))
        .collect();

    let series = days
        .iter()
        .map(|&day| {
            let on = |t: Timestamp| in_7d(t) && local_date(t) == day;
            KpiDay {
                date: day.format("%Y-%m-%d").to_string(),
                leads: leads_7d.iter().filter(|l| on(l.created_at)).count() as i64,
                appointments: rows
                    .appointments
                    .iter()
                    .filter(|a| passes(a.lead_id) && on(a.created_at))
                    .count() as i64,
                attended: attended.iter().filter(|a| on(a.scheduled_at)).count() as i64,
                no_show: no_show.iter().filter(|a| on(a.scheduled_at)).count() as i64,
                cancelled: cancelled.iter().filter(|a| on(a.scheduled_at)).count() as i64,
                treatments: rows
                    .treatments
                    .iter()
                    .filter(|t| passes(t.lead_id) && on(t.created_at))
                    .count() as i64,
                sessions_completed: completions.iter().filter(|&&at| on(at)).count() as i64,
            }
        })
        .collect();
    let outcomes = (attended.len() + no_show.len() + cancelled.len()) as i64;
    let counts = KpiCounts {
        leads_with_appointment_7d: with_appointment,
        leads_with_treatment_7d: with_treatment,
        attended_7d: attended.len() as i64,
        no_show_7d: no_show.len() as i64,
        cancelled_7d: cancelled.len() as i64,
    };
    let leads_7d = leads_7d.len() as i64;
    let totals = KpiTotals {
        leads_24h,
        leads_7d,
        appointment_rate_7d: rate(with_appointment, leads_7d),
        attendance_rate_7d: rate(attended.len() as i64, outcomes),
        conversion_rate_7d: rate(with_treatment, leads_7d),
        no_show_rate_7d: rate(no_show.len() as i64, outcomes),
        sessions_completed_7d: completions.len() as i64,
    };
    (totals, counts, series)
}

/// A random clinic: leads over `days` days from `from`, each with random appointments (any
/// status, some in the future) and treatments with sessions.
async fn random_clinic(seed: u64, from: Timestamp, days: i64) -> (TestApp, Clinic) {
    let app = TestApp::spawn().await;
    let mut clinic = Clinic::new(app.state.db.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let span = days * 86_400;
    let statuses = [
        AppointmentStatus::Scheduled,
        AppointmentStatus::Attended,
        AppointmentStatus::NoShow,
        AppointmentStatus::Cancelled,
    ];
    for _ in 0..rng.gen_range(150..250) {
        let source = Source::ALL[rng.gen_range(0..3)];
        // Whole hours and exact local midnights are frequent, to land on window edges.
        let created = from.plus_seconds(rng.gen_range(0..span / 1800) * 1800);
        let lead = clinic.lead(source, created).await;
        for _ in 0..rng.gen_range(0..3) {
            let booked = created.plus_seconds(rng.gen_range(0..4 * 86_400));
            let scheduled = booked.plus_seconds(rng.gen_range(-86_400..6 * 86_400) / 3600 * 3600);
            clinic
                .appointment(lead, booked, scheduled, statuses[rng.gen_range(0..4)])
                .await;
        }
        if rng.gen_bool(0.35) {
            let sold = created.plus_seconds(rng.gen_range(0..5 * 86_400));
            let sessions_count = rng.gen_range(1..=4);
            let sessions: Vec<_> = (0..rng.gen_range(0..=6))
                .map(|_| {
                    (
                        sold.plus_seconds(rng.gen_range(0..8 * 86_400) / 1800 * 1800),
                        statuses[rng.gen_range(0..4)],
                    )
                })
                .collect();
            clinic
                .treatment(lead, sold, sessions_count, &sessions)
                .await;
        }
    }
    (app, clinic)
}

fn assert_invariants(report: &KpiReport) {
    let sum = |pick: fn(&KpiDay) -> i64| report.series_7d.iter().map(pick).sum::<i64>();
    assert_eq!(report.series_7d.len(), 7);
    assert_eq!(sum(|d| d.leads), report.totals.leads_7d);
    assert_eq!(sum(|d| d.attended), report.counts.attended_7d);
    assert_eq!(sum(|d| d.no_show), report.counts.no_show_7d);
    assert_eq!(sum(|d| d.cancelled), report.counts.cancelled_7d);
    assert_eq!(
        sum(|d| d.sessions_completed),
        report.totals.sessions_completed_7d
    );
    let outcomes = report.counts.outcomes_7d();
    assert_eq!(
        report.totals.appointment_rate_7d,
        rate(
            report.counts.leads_with_appointment_7d,
            report.totals.leads_7d
        )
    );
    assert_eq!(
        report.totals.conversion_rate_7d,
        rate(
            report.counts.leads_with_treatment_7d,
            report.totals.leads_7d
        )
    );
    assert_eq!(
        report.totals.attendance_rate_7d,
        rate(report.counts.attended_7d, outcomes)
    );
    assert_eq!(
        report.totals.no_show_rate_7d,
        rate(report.counts.no_show_7d, outcomes)
    );
    assert!(report.totals.leads_24h <= report.totals.leads_7d);
}

async fn compare_around(seed: u64, from: &str, as_ofs: &[&str]) {
    let (_app, clinic) = random_clinic(seed, ts(from), 16).await;
    let rows = load(&clinic).await;
    let mut completions_seen = 0;
    for as_of in as_ofs {
        let now = ts(as_of);
        let mut by_source = Vec::new();
        for source in [
            None,
            Some(Source::Google),
            Some(Source::Meta),
            Some(Source::Organic),
        ] {
            let report = get_kpi_report(&clinic.db, Madrid, source, now.as_datetime())
                .await
                .unwrap();
            let (totals, counts, series) = reference(&rows, Madrid, source, now);
            let context = format!("seed {seed}, as_of {as_of}, source {source:?}");
            assert_eq!(report.series_7d, series, "{context}");
            assert_eq!(report.counts, counts, "{context}");
            assert_eq!(report.totals, totals, "{context}");
            assert_eq!(report.filters.as_of, now);
            assert_invariants(&report);
            by_source.push(report);
        }
        // The sources partition the leads: their counts add up to the unfiltered report's.
        let (all, parts) = by_source.split_first().unwrap();
        assert!(
            all.totals.leads_7d > 0 && all.counts.outcomes_7d() > 0,
            "the random clinic is busy in every window"
        );
        completions_seen += all.totals.sessions_completed_7d;
        let add = |pick: fn(&KpiReport) -> i64| parts.iter().map(pick).sum::<i64>();
        assert_eq!(add(|r| r.totals.leads_7d), all.totals.leads_7d);
        assert_eq!(add(|r| r.totals.leads_24h), all.totals.leads_24h);
        assert_eq!(add(|r| r.counts.attended_7d), all.counts.attended_7d);
        assert_eq!(
            add(|r| r.counts.leads_with_treatment_7d),
            all.counts.leads_with_treatment_7d
        );
        assert_eq!(
            add(|r| r.totals.sessions_completed_7d),
            all.totals.sessions_completed_7d
        );
    }
    assert!(completions_seen > 0, "completed treatments are exercised");
}

#[tokio::test]
async fn matches_the_reference_across_the_spring_daylight_saving_week() {
    compare_around(
        1,
        "2025-03-22T00:00:00Z",
        &[
            "2025-03-30T12:00:00Z",
            "2025-04-02T21:59:59Z",
            "2025-04-02T22:00:00Z",
            "2025-04-04T09:30:00Z",
        ],
    )
    .await;
}

#[tokio::test]
async fn matches_the_reference_across_the_autumn_daylight_saving_week() {
    compare_around(
        2,
        "2025-10-18T00:00:00Z",
        &[
            "2025-10-26T01:30:00Z",
            "2025-10-27T23:00:00Z",
            "2025-10-29T22:59:59Z",
            "2025-10-31T16:00:00Z",
        ],
    )
    .await;
}

#[tokio::test]
async fn matches_the_reference_on_an_ordinary_week() {
    compare_around(
        3,
        "2025-01-01T00:00:00Z",
        &["2025-01-09T10:00:00Z", "2025-01-12T23:00:00Z"],
    )
    .await;
}
