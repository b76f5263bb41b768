//! `mini-crm migrate` and `mini-crm db …`: the database's schema, demo data and health.

use super::file_stamp;
use anyhow::{bail, Context};
use app::backend::config::Config;
use app::backend::db::Db;
use app::backend::seed;
use app::domain::Timestamp;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Quick check: opens the database read-only, runs SQLite's quick_check, compares the
    /// migrations; exit status 1 when anything is wrong.
    Check,
}

pub async fn migrate(
    config: &Config,
    fresh: Option<app::backend::fresh::Consent<'_>>,
    seed: bool,
    now: Option<Timestamp>,
) -> anyhow::Result<()> {
    if seed && config.production {
        bail!(
            "APP_ENV=production: the demo clinic is not loaded into a production database (its \
             admin@example.com has a published password)"
        );
    }
    if let Some(consent) = fresh {
        let set_aside =
            app::backend::fresh::erase(&config.database_url, consent, &file_stamp()).await?;
        if let Some(kept) = &set_aside.kept {
            let held = if set_aside.beyond_demo.is_empty() {
                String::new()
            } else {
                format!(" (it held {})", set_aside.beyond_demo.join(", "))
            };
            println!(
                "The database {} was set aside{held}: it is kept as {}",
                set_aside.database.display(),
                kept.display()
            );
        }
    }
    let db = Db::connect(&config.database_url).await?;
    if fresh.is_some() {
        println!("Database emptied and migrated: {}", config.database_url);
    } else {
        println!("Database migrated: {}", config.database_url);
    }
    if seed {
        let now = now.unwrap_or_else(Timestamp::now);
        let summary = seed::seed(&db, now)
            .await
            .context("seeding the demo clinic")?;
        println!(
            "Demo clinic up to {now}: {} leads, {} appointments, {} treatments, {} messages, {} calls. Sign in as admin@example.com / password.",
            summary.leads, summary.appointments, summary.treatments, summary.messages, summary.calls
        );
    }
    Ok(())
}

/// `db check`.
pub async fn check(config: &Config) -> anyhow::Result<()> {
    let check = Db::check(&config.database_url).await?;
    println!(
        "database {}: quick_check {}, migrations {}/{}, {} leads, {} ms",
        config.database_url,
        check.quick_check,
        check.applied_migrations,
        check.known_migrations,
        check.leads,
        check.millis
    );
    anyhow::ensure!(check.healthy(), "the database is not healthy");
    Ok(())
}
