//! KPI API benchmark (SPEC §7): `GET /api/reports/kpis` through real HTTP on loopback, against
//! SQLite clinics of ~1,400 leads a day with one month, one year and two years of history.
//! `as_of` varies on every request (random instants in the last 21 days, so every 7-day window
//! is full even with one month of history), so no cache answers.
//!
//!   cargo bench -p server --bench kpi_api                      # 1 month, 1 year, 2 years
//!   KPI_BENCH_DAYS=30,365 KPI_BENCH_REQUESTS=200 cargo bench -p server --bench kpi_api
//!
//! Generated databases are kept in target/bench/ and reused by later runs.

use app::backend::{config::Config, db::Db, tokens};
use app::domain::{Source, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::QueryBuilder;
use std::time::{Duration, Instant};

const LEADS_PER_DAY: i64 = 1_400;
const DAY: i64 = 86_400;
/// The clinic's history ends here (a fixed instant keeps generated files reusable).
const END: &str = "2026-11-01T00:00:00Z";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let days: Vec<i64> = std::env::var("KPI_BENCH_DAYS")
        .unwrap_or_else(|_| "30,365,730".into())
        .split(',')
        .map(|d| d.trim().parse())
        .collect::<Result<_, _>>()?;
    let requests: usize = std::env::var("KPI_BENCH_REQUESTS")
        .unwrap_or_else(|_| "400".into())
        .parse()?;
    let end = Timestamp::parse_rfc3339(END)?;

    println!("KPI API through HTTP, {requests} requests per row, as_of random in the last 21 days");
    println!("| history | leads | filter | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    for days in days {
        let path = format!(
            "{}/../target/bench/kpi-{days}d.sqlite",
            env!("CARGO_MANIFEST_DIR")
        );
        let db = open_or_generate(&path, days, end).await?;
        let leads: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leads")
            .fetch_one(&db.reader)
            .await?;
        let (_, token) = tokens::create(&db, "bench", None).await?;
        let base = serve(&path).await?;
        let client = reqwest::Client::new();
        let mut rng = ChaCha8Rng::seed_from_u64(days as u64);
        for source in [None, Some(Source::Meta)] {
            let mut latencies = Vec::with_capacity(requests);
            for i in 0..requests + 20 {
                let as_of = end.plus_seconds(-rng.gen_range(0..21 * DAY));
                let mut url = format!("{base}/api/reports/kpis?as_of={as_of}");
                if let Some(source) = source {
                    url.push_str(&format!("&source={source}"));
                }
                let started = Instant::now();
                let response = client.get(&url).bearer_auth(&token).send().await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "{url}: {}",
                    response.status()
                );
                let body = response.bytes().await?;
                let elapsed = started.elapsed();
                anyhow::ensure!(body.starts_with(b"{\"filters\""), "unexpected body");
                if i >= 20 {
                    latencies.push(elapsed); // the first 20 warm the caches
                }
            }
            latencies.sort();
            let at = |q: f64| ms(latencies[((latencies.len() - 1) as f64 * q).round() as usize]);
            let filter = source.map_or("all", Source::as_str);
            println!(
                "| {days} days | {leads} | {filter} | {:.2} | {:.2} | {:.2} |",
                at(0.5),
                at(0.95),
                at(1.0)
            );
        }
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Serves the real router on a loopback port; returns its base URL.
async fn serve(path: &str) -> anyhow::Result<String> {
    let config = Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(format!("sqlite://{path}")),
        _ => None,
    })?;
    let state = server::http::app_state(config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, server::http::router(state)).await });
    Ok(format!("http://{addr}"))
}

async fn open_or_generate(path: &str, days: i64, end: Timestamp) -> anyhow::Result<Db> {
    let existed = std::path::Path::new(path).exists();
    let db = Db::connect(&format!("sqlite://{path}")).await?;
    if !existed {
        let started = Instant::now();
        generate(&db, days, end).await?;
        sqlx::query("ANALYZE").execute(&db.writer).await?;
        // Steady state: the history lives in the database file, not in a huge WAL.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&db.writer)
            .await?;
        println!(
            "<!-- generated {path} in {:.0} s -->",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(db)
}

/// ~1,400 leads a day; 70 % book a valoración (60 % attended), a third of those attended buy a
/// 6-session treatment with weekly sessions (90 % attended, misses rebooked at the end).
async fn generate(db: &Db, days: i64, end: Timestamp) -> anyhow::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let start = end.plus_seconds(-days * DAY);
    let mut tx = db.writer.begin().await?;
    let mut lead_id = 0i64;
    let mut treatment_id = 0i64;
    for day in 0..days {
        let mut leads = Vec::new();
        let mut appointments = Vec::new();
        let mut treatments = Vec::new();
        for i in 0..LEADS_PER_DAY {
            lead_id += 1;
            let created =
                start.plus_seconds(day * DAY + i * DAY / LEADS_PER_DAY + rng.gen_range(0..60));
            let source = ["google", "meta", "organic"][rng.gen_range(0..3)];
            leads.push((lead_id, source, created));
            if !rng.gen_bool(0.7) {
                continue;
            }
            let booked = created.plus_seconds(rng.gen_range(600..2 * DAY));
            let scheduled = booked.plus_seconds(rng.gen_range(1..8) * DAY);
            let status = outcome(&mut rng, scheduled, end, 0.6);
            appointments.push((lead_id, None, source, created, booked, scheduled, status));
            if status != "attended" || !rng.gen_bool(0.33) {
                continue;
            }
            treatment_id += 1;
            let sold = scheduled.plus_seconds(3600);
            let (mut slot, mut attended, mut completed_at) = (sold, 0, None);
            while attended < 6 {
                slot = slot.plus_seconds(7 * DAY);
                let status = outcome(&mut rng, slot, end, 0.9);
                appointments.push((
                    lead_id,
                    Some(treatment_id),
                    source,
                    created,
                    sold,
                    slot,
                    status,
                ));
                if status == "attended" {
                    attended += 1;
                    if attended == 6 {
                        completed_at = Some(slot);
                    }
                }
                if status == "scheduled" {
                    break;
                }
            }
            treatments.push((treatment_id, lead_id, source, created, sold, completed_at));
        }
        insert_day(&mut tx, &leads, &treatments, &appointments).await?;
    }
    tx.commit().await?;
    Ok(())
}

fn outcome(
    rng: &mut ChaCha8Rng,
    scheduled: Timestamp,
    end: Timestamp,
    attended: f64,
) -> &'static str {
    if scheduled > end {
        "scheduled"
    } else if rng.gen_bool(attended) {
        "attended"
    } else if rng.gen_bool(0.6) {
        "no_show"
    } else {
        "cancelled"
    }
}

/// (lead id, treatment id, source, lead created, created, scheduled, status)
type AppointmentRow = (
    i64,
    Option<i64>,
    &'static str,
    Timestamp,
    Timestamp,
    Timestamp,
    &'static str,
);
/// (id, lead id, source, lead created, sold, completed)
type TreatmentRow = (
    i64,
    i64,
    &'static str,
    Timestamp,
    Timestamp,
    Option<Timestamp>,
);

async fn insert_day(
    tx: &mut sqlx::SqliteConnection,
    leads: &[(i64, &'static str, Timestamp)],
    treatments: &[TreatmentRow],
    appointments: &[AppointmentRow],
) -> anyhow::Result<()> {
    for chunk in leads.chunks(1000) {
        let mut q = QueryBuilder::new(
            "INSERT INTO leads (id, name, phone, source, stage, created_at, updated_at) ",
        );
        q.push_values(chunk, |mut b, (id, source, created)| {
            b.push_bind(id)
                .push_bind("Paciente")
                .push_bind(format!("+3460{id:08}"))
                .push_bind(*source)
                .push_bind("new")
                .push_bind(*created)
                .push_bind(*created);
        });
        q.build().execute(&mut *tx).await?;
    }
    for chunk in treatments.chunks(1000) {
        let mut q = QueryBuilder::new(
            "INSERT INTO treatments (id, lead_id, source, lead_created_at, name, sessions_count, price_cents, completed_at, created_at) ",
        );
        q.push_values(
            chunk,
            |mut b, (id, lead_id, source, lead_created, sold, completed_at)| {
                b.push_bind(id)
                    .push_bind(lead_id)
                    .push_bind(*source)
                    .push_bind(*lead_created)
                    .push_bind("Tratamiento")
                    .push_bind(6)
                    .push_bind(60_000)
                    .push_bind(*completed_at)
                    .push_bind(*sold);
            },
        );
        q.build().execute(&mut *tx).await?;
    }
    for chunk in appointments.chunks(1000) {
        let mut q = QueryBuilder::new(
            "INSERT INTO appointments (lead_id, treatment_id, source, lead_created_at, created_at, scheduled_at, status, updated_at) ",
        );
        q.push_values(
            chunk,
            |mut b, (lead_id, treatment_id, source, lead_created, created, scheduled, status)| {
                b.push_bind(lead_id)
                    .push_bind(treatment_id)
                    .push_bind(*source)
                    .push_bind(*lead_created)
                    .push_bind(*created)
                    .push_bind(*scheduled)
                    .push_bind(*status)
                    .push_bind(*created);
            },
        );
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}
