//! Demo data for `mini-crm migrate --fresh --seed [--now T]`: a clinic's last 90 days.
//!
//! Deterministic: a fixed-seed ChaCha generator drives every choice and every instant is an offset
//! from `now`, so the same `now` always gives byte-identical tables (the admin's password salt
//! included).

use super::auth::hash_password_with_salt;
use super::db::Db;
use super::store::appointments::{self, NewAppointment};
use super::store::calls::{self, NewCall};
use super::store::leads::{self, NewLead};
use super::store::messages::{self, NewMessage};
use super::store::settings;
use super::store::treatments::{self, NewTreatment};
use super::store::users::{self, NewUser};
use crate::domain::{
    AppointmentStatus, Direction, Email, LeadStage, MessageStatus, Phone, Role, Source, Timestamp,
};
use anyhow::Context;
use argon2::password_hash::SaltString;
use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SEED: u64 = 0x6d69_6e69_2d63_726d; // "mini-crm"
const DAYS: i64 = 90;
const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// Names of the demo clinic (and of the search benchmark's million leads).
pub const FIRST_NAMES: &[&str] = &[
    "Lucía", "María", "Carmen", "Laura", "Marta", "Elena", "Sara", "Paula", "Ana", "Cristina",
    "Isabel", "Raquel", "Nuria", "Beatriz", "Alba", "Irene", "Claudia", "Silvia", "Pilar", "Rocío",
    "Javier", "David", "Carlos", "José", "Daniel", "Pablo", "Sergio", "Jorge", "Álvaro", "Miguel",
];
pub const SURNAMES: &[&str] = &[
    "García",
    "Fernández",
    "González",
    "Rodríguez",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Martín",
    "Jiménez",
    "Ruiz",
    "Hernández",
    "Díaz",
    "Moreno",
    "Muñoz",
    "Álvarez",
    "Romero",
    "Navarro",
    "Torres",
    "Domínguez",
    "Vázquez",
    "Ramos",
    "Gil",
    "Serrano",
    "Molina",
];
const TREATMENTS: &[(&str, i64)] = &[
    ("Depilación láser", 9_000),
    ("Tratamiento facial", 12_000),
    ("Mesoterapia", 15_000),
    ("Radiofrecuencia", 11_000),
    ("Presoterapia", 6_000),
    ("Peeling químico", 13_000),
    ("Carboxiterapia", 10_000),
];
const FIRST_MESSAGES: &[&str] = &[
    "Hola, quería información sobre los tratamientos.",
    "Buenas, ¿qué precio tiene la depilación láser?",
    "Hola, vi el anuncio y me gustaría pedir cita.",
    "¿Tenéis cita esta semana para una valoración?",
];

/// What the seed wrote, for the command's summary and the tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedSummary {
    pub leads: usize,
    pub appointments: usize,
    pub treatments: usize,
    pub messages: usize,
    pub calls: usize,
}

/// One lead's whole story, decided before anything is written so its stage is known.
struct Journey {
    lead: LeadPlan,
    valoracion: Option<(Timestamp, Timestamp, AppointmentStatus)>,
    treatment: Option<TreatmentPlan>,
}

struct LeadPlan {
    name: String,
    phone: Phone,
    email: Option<Email>,
    source: Source,
    created_at: Timestamp,
    lost_reason: Option<&'static str>,
}

struct TreatmentPlan {
    name: &'static str,
    sessions_count: i64,
    price_cents: i64,
    sold_at: Timestamp,
    /// (created_at, scheduled_at, status), in booking order.
    sessions: Vec<(Timestamp, Timestamp, AppointmentStatus)>,
}

impl TreatmentPlan {
    fn completed(&self) -> bool {
        let attended = self
            .sessions
            .iter()
            .filter(|s| s.2 == AppointmentStatus::Attended)
            .count();
        attended as i64 >= self.sessions_count
    }
}

/// Writes the demo clinic into an empty database in one transaction. Refused when any of
/// [`OWNED_DATA`]'s tables has a row: the record of what the seed wrote (by which `migrate
/// --fresh` tells the demo from someone's data) must cover the seed's rows and nothing else.
pub async fn seed(db: &Db, now: Timestamp) -> anyhow::Result<SeedSummary> {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut summary = SeedSummary::default();
    let mut tx = db.begin_write().await?;
    let mut held = Vec::new();
    for (table, counted) in OWNED_DATA {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut *tx)
            .await?;
        if rows > 0 {
            held.push(format!("{rows} {counted}"));
        }
    }
    if !held.is_empty() {
        anyhow::bail!(
            "the demo clinic is only loaded into an empty database, and this one holds {}; \
             migrate --fresh --seed starts from an empty one",
            held.join(", ")
        );
    }

    let mut salt = [0u8; 16];
    rng.fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let admin_hash = hash_password_with_salt("password", salt)?;
    let admin_email = Email::parse("admin@example.com")?;
    users::upsert(
        &mut *tx,
        NewUser {
            email: &admin_email,
            name: "Administración",
            password_hash: &admin_hash,
            role: Role::Admin,
        },
        now,
    )
    .await
    .context("seeding the admin user")?;

    let start = now.plus_seconds(-DAYS * DAY);
    let mut index = 0u32;
    for day in 0..DAYS {
        let per_day = rng.gen_range(10..=24);
        // In arrival order, as a live clinic registers them (lists are newest-id first).
        let mut arrivals: Vec<Timestamp> = (0..per_day)
            .map(|_| start.plus_seconds(day * DAY + rng.gen_range(0..DAY)))
            .collect();
        arrivals.sort();
        for created_at in arrivals {
            let journey = plan_journey(&mut rng, index, created_at, now);
            write_journey(&mut tx, &mut rng, &journey, index, now, &mut summary).await?;
            index += 1;
        }
    }
    mark_seeded(&mut tx, now).await?;
    tx.commit().await?;
    Ok(summary)
}

/// The tables whose rows are someone's data (patients, staff, deliveries, API consumers), with
/// the words that count them: a row the seed did not write makes a database more than a demo.
const OWNED_DATA: [(&str, &str); 8] = [
    ("users", "user(s)"),
    ("leads", "lead(s)"),
    ("appointments", "appointment(s)"),
    ("treatments", "treatment(s)"),
    ("messages", "message(s)"),
    ("calls", "call(s)"),
    ("webhook_events", "webhook delivery(ies)"),
    ("api_tokens", "API token(s)"),
];

/// The settings key holding the highest id the seed wrote in each of [`OWNED_DATA`]'s tables.
const SEEDED_IDS: &str = "demo.seeded_ids";

async fn mark_seeded(tx: &mut sqlx::SqliteConnection, now: Timestamp) -> anyhow::Result<()> {
    let mut highest = serde_json::Map::new();
    for (table, _) in OWNED_DATA {
        let id: i64 = sqlx::query_scalar(&format!("SELECT COALESCE(MAX(id), 0) FROM {table}"))
            .fetch_one(&mut *tx)
            .await?;
        highest.insert(table.to_string(), id.into());
    }
    settings::set(
        &mut *tx,
        SEEDED_IDS,
        &serde_json::Value::Object(highest).to_string(),
        now,
    )
    .await
    .context("recording what the seed wrote")?;
    Ok(())
}

/// What a database holds beyond the demo clinic, counted per table ("3 lead(s)"); empty when it
/// holds nothing or only what `seed` wrote (edited or not). A row is the seed's when its id is at
/// most the highest the seed recorded for its table; without that record every row counts.
/// Tables a database does not have yet (an old or half-made file) hold nothing.
pub async fn data_beyond_seed(conn: &mut sqlx::SqliteConnection) -> anyhow::Result<Vec<String>> {
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut *conn)
            .await?;
    let seeded: serde_json::Map<String, serde_json::Value> =
        if tables.iter().any(|t| t == "settings") {
            settings::get(&mut *conn, SEEDED_IDS)
                .await?
                .and_then(|value| serde_json::from_str(&value).ok())
                .unwrap_or_default()
        } else {
            Default::default()
        };
    let mut beyond = Vec::new();
    for (table, counted) in OWNED_DATA {
        if !tables.iter().any(|t| t == table) {
            continue;
        }
        let seeded_up_to = seeded.get(table).and_then(|id| id.as_i64()).unwrap_or(0);
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE id > $1"))
            .bind(seeded_up_to)
            .fetch_one(&mut *conn)
            .await?;
        if rows > 0 {
            beyond.push(format!("{rows} {counted}"));
        }
    }
    Ok(beyond)
}

fn plan_journey(
    rng: &mut ChaCha8Rng,
    index: u32,
    created_at: Timestamp,
    now: Timestamp,
) -> Journey {
    let source = match rng.gen_range(0..100) {
        0..45 => Source::Google,
        45..80 => Source::Meta,
        _ => Source::Organic,
    };
    let first = *FIRST_NAMES.choose(rng).expect("names");
    let surname = *SURNAMES.choose(rng).expect("surnames");
    let second = *SURNAMES.choose(rng).expect("surnames");
    let email = rng.gen_bool(0.7).then(|| {
        Email::parse(&format!(
            "{}.{}{index}@example.com",
            ascii(first),
            ascii(surname)
        ))
        .expect("valid")
    });
    let phone = Phone::parse(&format!("+346{:08}", 10_000_000 + index * 7)).expect("valid phone");
    let lead = LeadPlan {
        name: format!("{first} {surname} {second}"),
        phone,
        email,
        source,
        created_at,
        lost_reason: None,
    };

    let mut journey = Journey {
        lead,
        valoracion: None,
        treatment: None,
    };
    let booked_at = created_at.plus_seconds(rng.gen_range(5 * 60..2 * DAY));
    if rng.gen_bool(0.7) && booked_at <= now {
        let scheduled_at = clinic_hour(booked_at.plus_seconds(rng.gen_range(1..10) * DAY), rng);
        let status = outcome(rng, scheduled_at, now, [62, 23, 15]);
        journey.valoracion = Some((booked_at, scheduled_at, status));
        let sold_at = scheduled_at.plus_seconds(HOUR);
        if status == AppointmentStatus::Attended && sold_at <= now && rng.gen_bool(0.5) {
            journey.treatment = Some(plan_treatment(rng, sold_at, now));
        }
    }
    let stage = stage_of(&journey);
    let old = now.unix() - created_at.unix() > 30 * DAY;
    if old && matches!(stage, LeadStage::New | LeadStage::Booked) && rng.gen_bool(0.3) {
        journey.lead.lost_reason = Some(if rng.gen_bool(0.5) {
            "No contesta"
        } else {
            "Precio"
        });
    }
    journey
}

/// A treatment sold at `sold_at` with all its sessions booked weekly at the sale; a missed
/// session is rebooked at the end of the series.
fn plan_treatment(rng: &mut ChaCha8Rng, sold_at: Timestamp, now: Timestamp) -> TreatmentPlan {
    let (name, base_price) = *TREATMENTS.choose(rng).expect("treatments");
    let sessions_count = if rng.gen_bool(0.6) {
        6
    } else {
        rng.gen_range(1..=8)
    };
    let mut slot = sold_at;
    let mut next_slot = |rng: &mut ChaCha8Rng| {
        slot = clinic_hour(slot.plus_seconds(7 * DAY + rng.gen_range(-HOUR..HOUR)), rng);
        slot
    };
    let mut sessions = Vec::new();
    for _ in 0..sessions_count {
        let scheduled_at = next_slot(rng);
        sessions.push((sold_at, scheduled_at, AppointmentStatus::Scheduled));
    }
    let mut attended = 0;
    let mut i = 0;
    while i < sessions.len() {
        let scheduled_at = sessions[i].1;
        let status = outcome(rng, scheduled_at, now, [85, 10, 5]);
        sessions[i].2 = status;
        match status {
            AppointmentStatus::Attended => attended += 1,
            AppointmentStatus::NoShow | AppointmentStatus::Cancelled
                if attended < sessions_count =>
            {
                let rebooked_at = scheduled_at.plus_seconds(HOUR).min(now);
                sessions.push((rebooked_at, next_slot(rng), AppointmentStatus::Scheduled));
            }
            _ => {}
        }
        i += 1;
    }
    TreatmentPlan {
        name,
        sessions_count,
        price_cents: sessions_count * base_price + rng.gen_range(0..10) * 500,
        sold_at,
        sessions,
    }
}

/// The outcome of an appointment at `scheduled_at`: still scheduled in the future (a few
/// cancelled ahead of time), otherwise attended / no-show / cancelled by the given weights.
fn outcome(
    rng: &mut ChaCha8Rng,
    scheduled_at: Timestamp,
    now: Timestamp,
    weights: [u32; 3],
) -> AppointmentStatus {
    if scheduled_at > now {
        return if rng.gen_bool(0.05) {
            AppointmentStatus::Cancelled
        } else {
            AppointmentStatus::Scheduled
        };
    }
    let roll = rng.gen_range(0..weights.iter().sum::<u32>());
    if roll < weights[0] {
        AppointmentStatus::Attended
    } else if roll < weights[0] + weights[1] {
        AppointmentStatus::NoShow
    } else {
        AppointmentStatus::Cancelled
    }
}

/// Moves an instant to a round hour of the clinic's day (09:00–19:00 UTC, near enough for demo).
fn clinic_hour(t: Timestamp, rng: &mut ChaCha8Rng) -> Timestamp {
    let day_start = t.unix() - t.unix().rem_euclid(DAY);
    Timestamp::from_unix(day_start + rng.gen_range(9..19) * HOUR).expect("in range")
}

fn stage_of(journey: &Journey) -> LeadStage {
    let treatments = usize::from(journey.treatment.is_some());
    let completed = usize::from(
        journey
            .treatment
            .as_ref()
            .is_some_and(TreatmentPlan::completed),
    );
    let appointments = usize::from(journey.valoracion.is_some());
    LeadStage::derive(appointments, treatments, completed)
}

async fn write_journey(
    tx: &mut sqlx::SqliteConnection,
    rng: &mut ChaCha8Rng,
    journey: &Journey,
    index: u32,
    now: Timestamp,
    summary: &mut SeedSummary,
) -> anyhow::Result<()> {
    let plan = &journey.lead;
    let lead_id = leads::insert(
        &mut *tx,
        NewLead {
            name: &plan.name,
            phone: Some(&plan.phone),
            whatsapp_user: None,
            email: plan.email.as_ref(),
            source: plan.source,
            stage: stage_of(journey),
            lost_reason: plan.lost_reason,
            created_at: plan.created_at,
        },
    )
    .await
    .with_context(|| format!("seeding lead {index}"))?;
    summary.leads += 1;

    if let Some((created_at, scheduled_at, status)) = journey.valoracion {
        let appointment = NewAppointment {
            lead_id,
            treatment_id: None,
            scheduled_at,
            status,
            created_at,
        };
        appointments::insert(&mut *tx, appointment).await?;
        summary.appointments += 1;
    }
    if let Some(treatment) = &journey.treatment {
        let treatment_id = treatments::insert(
            &mut *tx,
            NewTreatment {
                lead_id,
                name: treatment.name,
                sessions_count: treatment.sessions_count,
                price_cents: treatment.price_cents,
                created_at: treatment.sold_at,
            },
        )
        .await?;
        summary.treatments += 1;
        for &(created_at, scheduled_at, status) in &treatment.sessions {
            let session = NewAppointment {
                lead_id,
                treatment_id: Some(treatment_id),
                scheduled_at,
                status,
                created_at,
            };
            appointments::insert(&mut *tx, session).await?;
            summary.appointments += 1;
        }
        treatments::refresh_completion(&mut *tx, treatment_id).await?;
    }
    summary.messages += write_conversation(tx, rng, lead_id, plan, index, now).await?;
    summary.calls += write_calls(tx, rng, lead_id, plan, index, now).await?;
    Ok(())
}

/// Meta and organic leads often start on WhatsApp; the clinic answers, and the answer's delivery
/// status covers every state (a few failed as undeliverable).
async fn write_conversation(
    tx: &mut sqlx::SqliteConnection,
    rng: &mut ChaCha8Rng,
    lead_id: i64,
    plan: &LeadPlan,
    index: u32,
    now: Timestamp,
) -> anyhow::Result<usize> {
    if plan.source == Source::Google || !rng.gen_bool(0.5) {
        return Ok(0);
    }
    let inbound_wamid = format!("wamid.seed.{index}.in");
    let body = *FIRST_MESSAGES.choose(rng).expect("messages");
    messages::insert(
        &mut *tx,
        NewMessage {
            lead_id,
            direction: Direction::Inbound,
            wamid: Some(&inbound_wamid),
            kind: "text",
            body: Some(body),
            template_name: None,
            status: MessageStatus::Received,
            error_code: None,
            error_reason: None,
            content: None,
            created_at: plan.created_at,
        },
    )
    .await?;
    let replied_at = plan
        .created_at
        .plus_seconds(rng.gen_range(60..3 * HOUR))
        .min(now);
    let outbound_wamid = format!("wamid.seed.{index}.out");
    let (status, error) = match rng.gen_range(0..100) {
        0..50 => (MessageStatus::Read, None),
        50..75 => (MessageStatus::Delivered, None),
        75..88 => (MessageStatus::Sent, None),
        88..95 => (
            MessageStatus::Failed,
            Some((131026, "Message undeliverable")),
        ),
        _ => (MessageStatus::Queued, None),
    };
    let name = plan.name.split(' ').next().unwrap_or_default();
    let reply = format!("¡Hola, {name}! Gracias por escribirnos. ¿Qué día te viene bien para una valoración gratuita?");
    messages::insert(
        &mut *tx,
        NewMessage {
            lead_id,
            direction: Direction::Outbound,
            wamid: (status != MessageStatus::Queued).then_some(outbound_wamid.as_str()),
            kind: "text",
            body: Some(&reply),
            template_name: None,
            status,
            error_code: error.map(|e| e.0),
            error_reason: error.map(|e| e.1),
            content: None,
            created_at: replied_at,
        },
    )
    .await?;
    Ok(2)
}

/// Some leads phone the clinic or are phoned; unanswered inbound calls are missed.
async fn write_calls(
    tx: &mut sqlx::SqliteConnection,
    rng: &mut ChaCha8Rng,
    lead_id: i64,
    plan: &LeadPlan,
    index: u32,
    now: Timestamp,
) -> anyhow::Result<usize> {
    if !rng.gen_bool(0.25) {
        return Ok(0);
    }
    let clinic_number = "+34910000000";
    let started_at = plan.created_at.plus_seconds(rng.gen_range(0..2 * DAY));
    let inbound = rng.gen_bool(0.5);
    let missed = inbound && rng.gen_bool(0.3);
    let ring = rng.gen_range(5..25);
    let duration = if missed { 0 } else { rng.gen_range(45..600) };
    let ended_at = started_at.plus_seconds(ring + duration);
    if ended_at > now {
        return Ok(0);
    }
    let (from, to) = if inbound {
        (plan.phone.as_str(), clinic_number)
    } else {
        (clinic_number, plan.phone.as_str())
    };
    calls::insert(
        &mut *tx,
        NewCall {
            lead_id: Some(lead_id),
            provider_call_id: &format!("{}", 7_000_000 + index),
            direction: if inbound {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            status: "done",
            started_at,
            answered_at: (!missed).then(|| started_at.plus_seconds(ring)),
            ended_at,
            duration_seconds: duration,
            from_number: from,
            to_number: to,
            missed_reason: missed.then_some("no_available_agent"),
        },
    )
    .await?;
    Ok(1)
}

/// Spanish letters folded to ASCII for demo e-mail addresses.
/// A name as it goes into an e-mail address: lowercase, no accents.
pub fn ascii(word: &str) -> String {
    word.chars()
        .map(|c| match c {
            'á' | 'Á' => 'a',
            'é' | 'É' => 'e',
            'í' | 'Í' => 'i',
            'ó' | 'Ó' => 'o',
            'ú' | 'Ú' => 'u',
            'ñ' | 'Ñ' => 'n',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}
