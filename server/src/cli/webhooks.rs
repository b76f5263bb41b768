//! `mini-crm webhooks …`: stored deliveries, listed and replayed.

use super::parse_timestamp;
use app::backend::config::Config;
use app::backend::db::Db;
use app::backend::jobs::JobContext;
use app::backend::webhooks::{self, process_event, Processed};
use app::domain::{Provider, Timestamp, WebhookStatus};
use clap::Subcommand;
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Stored deliveries, newest first.
    List {
        #[arg(long)]
        provider: Option<Provider>,
        /// pending, processed or failed.
        #[arg(long)]
        status: Option<WebhookStatus>,
        /// Received at or after this RFC 3339 instant.
        #[arg(long, value_parser = parse_timestamp)]
        since: Option<Timestamp>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Process stored deliveries again (items already applied are skipped, so a processed
    /// delivery changes nothing).
    Replay {
        provider: Provider,
        #[arg(long, value_parser = parse_timestamp)]
        since: Option<Timestamp>,
        /// failed (default) or all.
        #[arg(long, default_value = "failed", value_parser = ["failed", "all"])]
        status: String,
        /// Only list what would be replayed.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(config: Config, command: WebhooksCommand) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    match command {
        WebhooksCommand::List {
            provider,
            status,
            since,
            limit,
        } => {
            let filter = webhooks::Filter {
                provider,
                status,
                since,
            };
            for event in webhooks::list(&db, &filter, limit).await? {
                println!(
                    "{:<6} {:<9} {:<24} {:<9} {} attempts {} {}",
                    event.id,
                    event.provider,
                    event.event_type.unwrap_or_else(|| "-".into()),
                    event.status,
                    event.received_at,
                    event.attempts,
                    event.last_error.unwrap_or_default()
                );
            }
        }
        WebhooksCommand::Replay {
            provider,
            since,
            status,
            dry_run,
        } => {
            let status = (status == "failed").then_some(WebhookStatus::Failed);
            let filter = webhooks::Filter {
                provider: Some(provider),
                status,
                since,
            };
            let events = webhooks::list(&db, &filter, i64::MAX).await?;
            let ctx = JobContext::new(db.clone(), Arc::new(config));
            for event in events.iter().rev() {
                if dry_run {
                    println!(
                        "would replay {} ({}, {})",
                        event.id, event.status, event.received_at
                    );
                    continue;
                }
                match process_event(&ctx, event.id).await {
                    Ok(Processed::Applied(effects)) => match effects.failure_summary() {
                        None => println!(
                            "{}: processed ({} item(s) applied, {} already applied)",
                            event.id, effects.applied, effects.duplicates
                        ),
                        Some(failed) => println!(
                            "{}: processed in part ({} item(s) applied, {} already applied); {}",
                            event.id,
                            effects.applied,
                            effects.duplicates,
                            app::domain::mask_personal_data(&failed)
                        ),
                    },
                    Ok(Processed::Failed(error)) => println!("{}: failed: {error}", event.id),
                    Err(error) => println!("{}: not processed, try again: {error}", event.id),
                }
            }
            println!(
                "{} deliver(ies) {}",
                events.len(),
                if dry_run { "to replay" } else { "replayed" }
            );
        }
    }
    Ok(())
}
