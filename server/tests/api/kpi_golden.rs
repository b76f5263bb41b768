//! Golden tests of the KPI engine: hand-built clinics with the expected numbers written out.

use crate::clinic::{ts, Clinic};
use crate::helpers::TestApp;
use app::backend::kpi::get_kpi_report;
use app::domain::{AppointmentStatus::*, KpiReport, Source};
use chrono_tz::Europe::Madrid;

async fn clinic() -> (TestApp, Clinic) {
    let app = TestApp::spawn().await;
    let clinic = Clinic::new(app.state.db.clone());
    (app, clinic)
}

async fn report(clinic: &Clinic, source: Option<Source>, as_of: &str) -> KpiReport {
    get_kpi_report(&clinic.db, Madrid, source, ts(as_of).as_datetime())
        .await
        .unwrap()
}

fn column(report: &KpiReport, pick: fn(&app::domain::KpiDay) -> i64) -> Vec<i64> {
    report.series_7d.iter().map(pick).collect()
}

fn dates(report: &KpiReport) -> Vec<&str> {
    report.series_7d.iter().map(|d| d.date.as_str()).collect()
}

#[tokio::test]
async fn window_edges_are_inclusive_and_nothing_after_now_counts() {
    let (_app, mut c) = clinic().await;
    // as_of 2025-01-07T10:00:00Z = 11:00 in Madrid (UTC+1); 7-day window from 2024-12-31T23:00:00Z.
    for at in [
        "2024-12-31T22:59:59Z", // one second before local midnight six days ago: out
        "2024-12-31T23:00:00Z", // exactly local midnight six days ago: in, day 1 Jan
        "2025-01-06T09:59:59Z", // one second before now−24h: 7d only
        "2025-01-06T10:00:00Z", // exactly now−24h: 24h and 7d
        "2025-01-07T10:00:00Z", // exactly now: in
        "2025-01-07T10:00:01Z", // after now: never
    ] {
        c.lead(Source::Google, ts(at)).await;
    }
    let r = report(&c, None, "2025-01-07T10:00:00Z").await;
    assert_eq!(r.totals.leads_24h, 2);
    assert_eq!(r.totals.leads_7d, 4);
    assert_eq!(
        dates(&r),
        [
            "2025-01-01",
            "2025-01-02",
            "2025-01-03",
            "2025-01-04",
            "2025-01-05",
            "2025-01-06",
            "2025-01-07"
        ]
    );
    assert_eq!(column(&r, |d| d.leads), [1, 0, 0, 0, 0, 2, 1]);
    assert_eq!(r.filters.as_of, ts("2025-01-07T10:00:00Z"));
    assert_eq!(r.timezone, "Europe/Madrid");
}

#[tokio::test]
async fn the_spring_daylight_saving_week_has_a_23_hour_day() {
    let (_app, mut c) = clinic().await;
    // Sunday 30 March 2025: 00:00 CET = 2025-03-29T23:00:00Z; 00:00 CEST on 31 March = 2025-03-30T22:00:00Z.
    for at in [
        "2025-03-25T22:59:59Z", // 25 March 23:59:59 local: before the window
        "2025-03-25T23:00:00Z", // 26 March 00:00 local: first day
        "2025-03-29T22:59:59Z", // 29 March 23:59:59
        "2025-03-29T23:00:00Z", // 30 March 00:00
        "2025-03-30T21:59:59Z", // 30 March 23:59:59 (CEST)
        "2025-03-30T22:00:00Z", // 31 March 00:00
    ] {
        c.lead(Source::Meta, ts(at)).await;
    }
    let r = report(&c, None, "2025-04-01T12:00:00Z").await;
    assert_eq!(dates(&r)[0], "2025-03-26");
    assert_eq!(column(&r, |d| d.leads), [1, 0, 0, 1, 2, 1, 0]);
    assert_eq!(r.totals.leads_7d, 5);
}

#[tokio::test]
async fn the_autumn_daylight_saving_week_has_a_25_hour_day() {
    let (_app, mut c) = clinic().await;
    // Sunday 26 October 2025 runs from 2025-10-25T22:00:00Z (00:00 CEST) to 2025-10-26T23:00:00Z (00:00 CET).
    for at in [
        "2025-10-20T21:59:59Z", // 20 October 23:59:59 CEST: out
        "2025-10-20T22:00:00Z", // 21 October 00:00 CEST: first day
        "2025-10-25T21:59:59Z", // 25 October 23:59:59
        "2025-10-25T22:00:00Z", // 26 October 00:00
        "2025-10-26T22:59:59Z", // 26 October 23:59:59 CET (the 25th hour)
        "2025-10-26T23:00:00Z", // 27 October 00:00
    ] {
        c.lead(Source::Organic, ts(at)).await;
    }
    let r = report(&c, None, "2025-10-27T12:00:00Z").await;
    assert_eq!(dates(&r)[0], "2025-10-21");
    assert_eq!(column(&r, |d| d.leads), [1, 0, 0, 0, 1, 2, 1]);
}

#[tokio::test]
async fn an_empty_clinic_gives_zeros_not_errors() {
    let (_app, c) = clinic().await;
    let r = report(&c, Some(Source::Meta), "2025-01-07T10:00:00Z").await;
    assert_eq!(r.totals.leads_7d, 0);
    assert_eq!(r.totals.appointment_rate_7d, 0.0);
    assert_eq!(r.totals.attendance_rate_7d, 0.0);
    assert_eq!(r.totals.conversion_rate_7d, 0.0);
    assert_eq!(r.totals.no_show_rate_7d, 0.0);
    assert_eq!(r.series_7d.len(), 7);
    assert!(r
        .series_7d
        .iter()
        .all(|d| d.leads + d.appointments + d.attended + d.treatments == 0));
    assert_eq!(r.filters.source, Some(Source::Meta));
}

#[tokio::test]
async fn rates_counts_and_each_source() {
    let (_app, mut c) = clinic().await;
    let now = "2025-01-07T10:00:00Z";
    let day = |d: u32, h: u32| ts(&format!("2025-01-{d:02}T{h:02}:00:00Z"));
    // Google: 3 leads; 2 booked (one twice), 1 bought. Outcomes: attended, no-show, attended, cancelled.
    let g1 = c.lead(Source::Google, day(2, 9)).await;
    let g2 = c.lead(Source::Google, day(3, 9)).await;
    c.lead(Source::Google, day(6, 12)).await;
    c.appointment(g1, day(2, 10), day(4, 10), Attended).await;
    c.appointment(g1, day(4, 11), day(5, 10), NoShow).await;
    c.appointment(g2, day(3, 10), day(5, 11), Attended).await;
    c.appointment(g2, day(3, 11), day(6, 11), Cancelled).await;
    c.treatment(g1, day(4, 12), 6, &[]).await;
    // Meta: 2 leads; one booked a valoración still in the future (created in the window).
    let m1 = c.lead(Source::Meta, day(5, 9)).await;
    c.lead(Source::Meta, day(7, 9)).await;
    c.appointment(m1, day(5, 10), day(9, 10), Scheduled).await;
    // Organic: an old lead (before the window) whose appointment today counts only as an outcome
    // and as a booking of the day, not in the rates of the window's leads.
    let o1 = c.lead(Source::Organic, ts("2024-12-20T10:00:00Z")).await;
    c.appointment(o1, day(7, 8), day(7, 9), NoShow).await;

    let all = report(&c, None, now).await;
    assert_eq!(all.totals.leads_7d, 5);
    assert_eq!(all.totals.leads_24h, 2, "6 Jan 12:00 and 7 Jan 09:00");
    assert_eq!(all.counts.leads_with_appointment_7d, 3);
    assert_eq!(all.totals.appointment_rate_7d, 0.6);
    assert_eq!(all.counts.leads_with_treatment_7d, 1);
    assert_eq!(all.totals.conversion_rate_7d, 0.2);
    assert_eq!(
        (
            all.counts.attended_7d,
            all.counts.no_show_7d,
            all.counts.cancelled_7d
        ),
        (2, 2, 1)
    );
    assert_eq!(all.totals.attendance_rate_7d, 0.4);
    assert_eq!(all.totals.no_show_rate_7d, 0.4);
    assert_eq!(column(&all, |d| d.appointments), [0, 1, 2, 1, 1, 0, 1]);
    assert_eq!(column(&all, |d| d.attended), [0, 0, 0, 1, 1, 0, 0]);
    assert_eq!(column(&all, |d| d.no_show), [0, 0, 0, 0, 1, 0, 1]);
    assert_eq!(column(&all, |d| d.cancelled), [0, 0, 0, 0, 0, 1, 0]);
    assert_eq!(column(&all, |d| d.treatments), [0, 0, 0, 1, 0, 0, 0]);

    let google = report(&c, Some(Source::Google), now).await;
    assert_eq!(google.totals.leads_7d, 3);
    assert_eq!(google.counts.leads_with_appointment_7d, 2);
    assert_eq!(google.totals.appointment_rate_7d, 0.67);
    assert_eq!(google.totals.conversion_rate_7d, 0.33);
    assert_eq!(
        (
            google.counts.attended_7d,
            google.counts.no_show_7d,
            google.counts.cancelled_7d
        ),
        (2, 1, 1)
    );
    assert_eq!(google.totals.attendance_rate_7d, 0.5);
    assert_eq!(google.totals.no_show_rate_7d, 0.25);

    let meta = report(&c, Some(Source::Meta), now).await;
    assert_eq!(meta.totals.leads_7d, 2);
    assert_eq!(meta.totals.appointment_rate_7d, 0.5);
    assert_eq!(
        meta.counts.attended_7d + meta.counts.no_show_7d + meta.counts.cancelled_7d,
        0
    );
    assert_eq!(column(&meta, |d| d.appointments), [0, 0, 0, 0, 1, 0, 0]);

    let organic = report(&c, Some(Source::Organic), now).await;
    assert_eq!(organic.totals.leads_7d, 0);
    assert_eq!(organic.totals.appointment_rate_7d, 0.0);
    assert_eq!(organic.counts.no_show_7d, 1);
    assert_eq!(organic.totals.no_show_rate_7d, 1.0);
    assert_eq!(column(&organic, |d| d.appointments), [0, 0, 0, 0, 0, 0, 1]);
}

#[tokio::test]
async fn a_treatment_completes_on_the_day_of_its_last_needed_attended_session() {
    let (_app, mut c) = clinic().await;
    let lead = c.lead(Source::Google, ts("2024-11-01T10:00:00Z")).await;
    // Three sessions needed, no-show and cancellation in between: completes on 5 January.
    c.treatment(
        lead,
        ts("2024-12-01T10:00:00Z"),
        3,
        &[
            (ts("2024-12-30T10:00:00Z"), Attended), // before the window
            (ts("2025-01-02T10:00:00Z"), NoShow),
            (ts("2025-01-03T10:00:00Z"), Attended),
            (ts("2025-01-04T10:00:00Z"), Cancelled),
            (ts("2025-01-05T10:00:00Z"), Attended),
        ],
    )
    .await;
    // Two needed, three attended: completes once, on the second (4 January).
    c.treatment(
        lead,
        ts("2024-12-01T11:00:00Z"),
        2,
        &[
            (ts("2025-01-01T10:00:00Z"), Attended),
            (ts("2025-01-04T12:00:00Z"), Attended),
            (ts("2025-01-06T10:00:00Z"), Attended),
        ],
    )
    .await;
    // Completed before the window: not counted.
    c.treatment(
        lead,
        ts("2024-12-01T12:00:00Z"),
        1,
        &[(ts("2024-12-20T10:00:00Z"), Attended)],
    )
    .await;
    // Completing session scheduled after now: not counted (yet).
    c.treatment(
        lead,
        ts("2024-12-01T13:00:00Z"),
        2,
        &[
            (ts("2025-01-03T12:00:00Z"), Attended),
            (ts("2025-01-07T10:00:01Z"), Attended),
        ],
    )
    .await;
    // Not enough attended sessions.
    c.treatment(
        lead,
        ts("2024-12-01T14:00:00Z"),
        6,
        &[(ts("2025-01-03T13:00:00Z"), Attended)],
    )
    .await;

    let r = report(&c, None, "2025-01-07T10:00:00Z").await;
    assert_eq!(r.totals.sessions_completed_7d, 2);
    assert_eq!(column(&r, |d| d.sessions_completed), [0, 0, 0, 1, 1, 0, 0]);
    // Sessions booked at the sale were created on 1 December: they are not bookings of the week.
    assert_eq!(column(&r, |d| d.appointments), [0; 7]);

    let later = report(&c, None, "2025-01-07T10:00:01Z").await;
    assert_eq!(
        later.totals.sessions_completed_7d, 3,
        "the future session counts once it is past"
    );
}

#[tokio::test]
async fn exact_halves_round_up() {
    let (_app, mut c) = clinic().await;
    let at = ts("2025-01-06T10:00:00Z");
    // 8 leads, 1 with an appointment: 0.125 → 0.13.
    for i in 0..8 {
        let lead = c.lead(Source::Meta, at).await;
        if i == 0 {
            c.appointment(lead, at, ts("2025-01-06T12:00:00Z"), Attended)
                .await;
        }
    }
    let r = report(&c, None, "2025-01-07T10:00:00Z").await;
    assert_eq!(r.counts.leads_with_appointment_7d, 1);
    assert_eq!(r.totals.appointment_rate_7d, 0.13);

    // 200 leads, 57 with a treatment: 0.285 → 0.29 (binary floating point would say 0.28).
    let (_app2, mut c) = clinic().await;
    for i in 0..200 {
        let lead = c.lead(Source::Google, at).await;
        if i < 57 {
            c.treatment(lead, at, 6, &[]).await;
        }
    }
    let r = report(&c, None, "2025-01-07T10:00:00Z").await;
    assert_eq!(r.counts.leads_with_treatment_7d, 57);
    assert_eq!(r.totals.conversion_rate_7d, 0.29);
}
