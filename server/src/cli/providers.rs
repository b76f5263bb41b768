//! `mini-crm providers …`, `hubspot …` and `aircall …`: the providers' breakers, the HubSpot
//! set-up and sync, and the Aircall backfill.

use super::parse_timestamp;
use anyhow::Context;
use app::backend::config::Config;
use app::backend::db::Db;
use app::domain::Timestamp;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ProvidersCommand {
    /// Each provider's breaker: state, failures in a row, last success, last error.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum HubspotCommand {
    /// Create, once, the unique contact property that carries our lead id
    /// (HUBSPOT_LEAD_KEY_PROPERTY); the sync matches contacts by it and waits for it. Lifts the
    /// hubspot queue's hold. Safe to run again.
    Setup,
    /// Send the leads HubSpot has not seen, batch by batch, with progress. Without options:
    /// from each lead's last successful sync. Safe to interrupt and rerun.
    Sync {
        /// Also every lead changed since this instant (RFC 3339).
        #[arg(long, value_parser = parse_timestamp, conflicts_with = "full")]
        since: Option<Timestamp>,
        /// Every lead.
        #[arg(long)]
        full: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AircallCommand {
    /// Register the calls Aircall has since this instant whose webhooks never arrived.
    Backfill {
        #[arg(long, value_parser = parse_timestamp)]
        since: Timestamp,
    },
}

/// `providers status`: one line per provider.
pub async fn status(config: &Config) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    let breakers = app::backend::breakers::all(&db).await?;
    println!(
        "{:<10} {:<7} {:>8}  {:<20} last error",
        "provider", "state", "failures", "last success"
    );
    for breaker in breakers {
        let view = breaker.view(config.timezone);
        let error = match (&view.last_error_at, &view.last_error) {
            (Some(at), Some(error)) => format!("{at} {error}"),
            _ => "—".to_string(),
        };
        println!(
            "{:<10} {:<7} {:>8}  {:<20} {}",
            view.provider,
            if view.open { "open" } else { "closed" },
            view.failures,
            view.last_success.unwrap_or_else(|| "—".into()),
            error
        );
    }
    Ok(())
}

fn hubspot_client(
    config: &Config,
) -> anyhow::Result<app::backend::providers::hubspot::HubspotClient> {
    app::backend::providers::hubspot::HubspotClient::from_config(
        config,
        app::backend::providers::http_client(),
    )
    .context("HUBSPOT_ACCESS_TOKEN is not set")
}

/// `hubspot setup`: the unique lead-id contact property, created unless HubSpot has it.
pub async fn hubspot_setup(config: Config) -> anyhow::Result<()> {
    use app::backend::hubspot_sync::{set_up, SetUp};
    let db = Db::connect(&config.database_url).await?;
    let client = hubspot_client(&config)?;
    let property = &config.hubspot_lead_key_property;
    match set_up(&db, &client, property).await {
        Ok(SetUp::Created) => println!("created the unique contact property {property} in HubSpot"),
        Ok(SetUp::AlreadyThere) => {
            println!("HubSpot already has the unique contact property {property}")
        }
        Err(stop) => anyhow::bail!("HubSpot set-up failed: {stop}"),
    }
    println!("the hubspot queue is not held: pending leads sync on the next run");
    Ok(())
}

/// `hubspot sync`: batches until nothing is pending, printing progress. While the worker's
/// sync holds the lease, it waits and reports the worker's progress instead (the worker sends
/// the same pending leads). Stopped, it leaves a job in the queue for what is left.
pub async fn hubspot_sync(
    config: Config,
    since: Option<Timestamp>,
    full: bool,
) -> anyhow::Result<()> {
    use app::backend::hubspot_sync::{count_pending, request_pending, resync, SyncStop, Syncer};
    let db = Db::connect(&config.database_url).await?;
    let client = hubspot_client(&config)?;
    if full || since.is_some() {
        let marked = resync(&db, if full { None } else { since }).await?;
        println!("{marked} leads to send again");
    }
    // Whatever happens here, the queue has a job for the pending leads.
    request_pending(&db).await?;
    let total = count_pending(&db).await?;
    println!("{total} leads pending");
    let property = &config.hubspot_lead_key_property;
    let syncer = loop {
        match Syncer::new(&db, &client, property, "cli").await {
            Ok(syncer) => break syncer,
            Err(SyncStop::Busy) => {
                let pending = count_pending(&db).await?;
                if pending == 0 {
                    println!("done: the worker's sync sent them");
                    return Ok(());
                }
                eprintln!("the worker's HubSpot sync is sending: {pending} leads pending");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            Err(stop) => anyhow::bail!("HubSpot sync cannot start: {stop}"),
        }
    };
    let (mut settled, mut synced, mut refused, mut retries) = (0, 0, 0, 0);
    let outcome = loop {
        match syncer.batch().await {
            Ok(report) if report.settled == 0 => break Ok(()),
            Ok(report) => {
                retries = 0;
                settled += report.settled;
                synced += report.synced;
                refused += report.refused;
                println!("{settled}/{total} sent: {synced} synced, {refused} refused by HubSpot");
            }
            Err(SyncStop::Retry {
                reason,
                retry_after,
            }) if retries < 5 => {
                retries += 1;
                let wait = retry_after.unwrap_or(5 * retries);
                eprintln!("HubSpot: {reason}; trying again in {wait} s");
                tokio::time::sleep(std::time::Duration::from_secs(wait as u64)).await;
            }
            Err(stop) => {
                break Err(anyhow::anyhow!(
                    "HubSpot sync stopped after {settled} leads: {stop} (the queue sends the \
                     rest; or rerun)"
                ))
            }
        }
    };
    match outcome {
        Ok(()) => syncer.finish().await?,
        Err(err) => {
            syncer.release().await?;
            return Err(err);
        }
    }
    println!("done: {synced} synced, {refused} refused (see the leads' hubspot_sync_error)");
    Ok(())
}

/// `aircall backfill --since T`.
pub async fn aircall_backfill(config: Config, since: Timestamp) -> anyhow::Result<()> {
    use app::backend::providers::aircall::AircallClient;
    let db = Db::connect(&config.database_url).await?;
    let client = AircallClient::from_config(&config, app::backend::providers::http_client())
        .context("AIRCALL_API_ID and AIRCALL_API_TOKEN must be set")?;
    let report =
        app::backend::backfill::aircall_calls(&db, &client, since, Timestamp::now()).await?;
    println!(
        "{} calls listed by Aircall since {since}; {} were missing and are registered now",
        report.listed, report.added
    );
    Ok(())
}
