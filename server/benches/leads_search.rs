//! Leads list benchmark (issue 5): the `/sfn/leads` server function the Leads page calls,
//! through real HTTP on loopback, on a SQLite clinic of 1,000,000 leads with the demo's Spanish
//! names, phones and e-mails (so a common surname matches a tenth of them). Each row is one
//! kind of search; its terms vary on every request.
//!
//!   cargo bench -p server --bench leads_search
//!   LEADS_BENCH_LEADS=200000 LEADS_BENCH_REQUESTS=100 cargo bench -p server --bench leads_search
//!
//! The generated database is kept in target/bench/ and reused by later runs.

use app::backend::seed::{ascii, FIRST_NAMES, SURNAMES};
use app::backend::{config::Config, db::Db};
use app::domain::{Role, Timestamp};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::QueryBuilder;
use std::time::{Duration, Instant};

const END: &str = "2026-11-01T00:00:00Z";
/// Builds one request's form from the generator and the number of leads.
type MakeForm = fn(&mut ChaCha8Rng, i64) -> Vec<(&'static str, String)>;

const STAGES: [&str; 4] = ["new", "booked", "in_treatment", "completed"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let leads: i64 = env_or("LEADS_BENCH_LEADS", 1_000_000)?;
    let requests: usize = env_or("LEADS_BENCH_REQUESTS", 200)?;
    let path = format!(
        "{}/../target/bench/leads-{leads}.sqlite",
        env!("CARGO_MANIFEST_DIR")
    );
    let db = open_or_generate(&path, leads).await?;
    let (base, cookie) = serve(&path, &db).await?;
    let client = reqwest::Client::new();
    let mut rng = ChaCha8Rng::seed_from_u64(11);

    println!("/sfn/leads through HTTP on {leads} leads, {requests} requests per row");
    println!("| search | example | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|");
    let kinds: [(&str, MakeForm); 8] = [
        ("first page, no filter", |_, _| vec![]),
        ("stage filter (en tratamiento), page 3", |_, _| {
            vec![("stage", "in_treatment".into()), ("page", "3".into())]
        }),
        ("a surname (~10 % of leads)", |rng, _| {
            vec![("q", SURNAMES.choose(rng).unwrap().to_lowercase())]
        }),
        ("first name + surname", |rng, _| {
            let q = format!(
                "{} {}",
                FIRST_NAMES.choose(rng).unwrap(),
                SURNAMES.choose(rng).unwrap()
            );
            vec![("q", q)]
        }),
        ("name + surname + source + stage", |rng, _| {
            let q = format!(
                "{} {}",
                FIRST_NAMES.choose(rng).unwrap(),
                SURNAMES.choose(rng).unwrap()
            );
            vec![
                ("q", q),
                ("source", "meta".into()),
                ("stage", "booked".into()),
            ]
        }),
        ("a whole phone, as dictated", |rng, leads| {
            let n = phone_number(rng.gen_range(1..=leads));
            vec![("q", format!("{} {} {}", &n[3..6], &n[6..9], &n[9..]))]
        }),
        ("the first 6 digits of a phone", |rng, leads| {
            vec![(
                "q",
                phone_number(rng.gen_range(1..=leads))[3..9].to_string(),
            )]
        }),
        ("an e-mail address", |rng, leads| {
            let id = rng.gen_range(1..=leads);
            vec![("q", email(&mut ChaCha8Rng::seed_from_u64(id as u64), id))]
        }),
    ];
    for (label, make) in kinds {
        let mut latencies = Vec::with_capacity(requests);
        let mut example = String::new();
        for i in 0..requests + 10 {
            let form = make(&mut rng, leads);
            if i == 0 {
                example = form
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&");
            }
            let started = Instant::now();
            let response = client
                .post(format!("{base}/sfn/leads"))
                .header("cookie", &cookie)
                .header("origin", &base)
                .form(&form)
                .send()
                .await?;
            anyhow::ensure!(
                response.status().is_success(),
                "{label}: {}",
                response.status()
            );
            let body = response.bytes().await?;
            let elapsed = started.elapsed();
            anyhow::ensure!(body.starts_with(b"{\"rows\""), "unexpected body");
            if i >= 10 {
                latencies.push(elapsed); // the first ones warm the caches
            }
        }
        latencies.sort();
        let at = |q: f64| ms(latencies[((latencies.len() - 1) as f64 * q).round() as usize]);
        println!(
            "| {label} | `{example}` | {:.2} | {:.2} | {:.2} |",
            at(0.5),
            at(0.95),
            at(1.0)
        );
    }
    Ok(())
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(value) => value.parse().map_err(|e| anyhow::anyhow!("{name}: {e}")),
        Err(_) => Ok(default),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn phone_number(id: i64) -> String {
    format!("+346{:08}", 10_000_000 + id * 7 % 89_999_999)
}

fn name(rng: &mut ChaCha8Rng) -> (String, &'static str, &'static str) {
    let first = *FIRST_NAMES.choose(rng).unwrap();
    let surname = *SURNAMES.choose(rng).unwrap();
    let second = *SURNAMES.choose(rng).unwrap();
    (format!("{first} {surname} {second}"), first, surname)
}

/// Lead `id`'s e-mail, drawn from its own seeded generator (so the benchmark can ask for it).
fn email(rng: &mut ChaCha8Rng, id: i64) -> String {
    let (_, first, surname) = name(rng);
    format!("{}.{}{id}@example.com", ascii(first), ascii(surname))
}

/// Serves the real router on a loopback port with a signed-in staff user; returns its base
/// URL and session cookie.
async fn serve(path: &str, db: &Db) -> anyhow::Result<(String, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let config = Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(format!("sqlite://{path}")),
        "APP_URL" => Some(base.clone()),
        _ => None,
    })?;
    let state = server::http::app_state(config).await?;
    tokio::spawn(async move { axum::serve(listener, server::http::router(state)).await });
    let email = format!("bench{}@clinic.test", std::process::id());
    app::backend::users::create(db, &email, "Bench", Role::Staff, "bench password").await?;
    let response = reqwest::Client::new()
        .post(format!("{base}/sfn/login"))
        .header("origin", &base)
        .form(&[("email", email.as_str()), ("password", "bench password")])
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "login: {}",
        response.status()
    );
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .ok_or_else(|| anyhow::anyhow!("no session cookie"))?
        .to_string();
    Ok((base, cookie))
}

async fn open_or_generate(path: &str, leads: i64) -> anyhow::Result<Db> {
    let existed = std::path::Path::new(path).exists();
    let db = Db::connect(&format!("sqlite://{path}")).await?;
    if !existed {
        let started = Instant::now();
        generate(&db, leads).await?;
        sqlx::query("ANALYZE").execute(&db.writer).await?;
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

/// `leads` leads over two years, oldest first; stages spread as in a busy clinic, one in ten
/// lost. The search index fills through the migration's triggers, as in production.
async fn generate(db: &Db, leads: i64) -> anyhow::Result<()> {
    let end = Timestamp::parse_rfc3339(END)?;
    let span = 730 * 86_400;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut tx = db.writer.begin().await?;
    for chunk in (1..=leads).collect::<Vec<_>>().chunks(3_000) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO leads (id, name, phone, email, source, stage, lost, lost_reason, created_at, updated_at) ",
        );
        insert.push_values(chunk, |mut row, &id| {
            let mut own = ChaCha8Rng::seed_from_u64(id as u64);
            let (name, _, _) = name(&mut own);
            let email = email(&mut ChaCha8Rng::seed_from_u64(id as u64), id);
            let created = end.plus_seconds(-span + span * id / leads);
            let lost = rng.gen_bool(0.1);
            row.push_bind(id)
                .push_bind(name)
                .push_bind(phone_number(id))
                .push_bind(rng.gen_bool(0.7).then_some(email))
                .push_bind(["google", "meta", "organic"][rng.gen_range(0..3)])
                .push_bind(STAGES[rng.gen_range(0..4)])
                .push_bind(lost)
                .push_bind(lost.then_some("No contesta"))
                .push_bind(created)
                .push_bind(created);
        });
        insert.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
