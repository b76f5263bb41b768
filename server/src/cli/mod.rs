//! `mini-crm` subcommands. Each reads the same configuration (`DATABASE_URL`, `LEPTOS_SITE_ADDR`,
//! …) from the environment.

pub mod backup;
pub mod db;
pub mod dev;
pub mod flags;
pub mod providers;
pub mod queue;
pub mod tokens;
pub mod users;
pub mod webhooks;

use anyhow::bail;
use app::backend::config::Config;
use app::backend::db::Db;
use app::domain::Timestamp;
use clap::{Parser, Subcommand};
use db::DbCommand;
use dev::DevCommand;
use flags::FlagsCommand;
use providers::{AircallCommand, HubspotCommand, ProvidersCommand};
use queue::QueueCommand;
use std::path::PathBuf;
use tokens::TokenCommand;
use users::UserCommand;
use webhooks::WebhooksCommand;

#[derive(Debug, Parser)]
#[command(
    name = "mini-crm",
    version,
    about = "The CRM of a clinic chain: leads, appointments, treatments, WhatsApp, Aircall and HubSpot."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app and its APIs (creates and migrates the database on first start).
    Serve,
    /// Apply pending database migrations.
    Migrate {
        /// Start from an empty database: the current one is moved aside, beside it, as
        /// <name>.before-fresh-<stamp>. Refused while mini-crm has it open, and when it holds
        /// more than the demo clinic (unless --force).
        #[arg(long)]
        fresh: bool,
        /// With --fresh: also set aside data that is not the demo clinic.
        #[arg(long, requires = "fresh")]
        force: bool,
        /// With --fresh and APP_ENV=production: the database's file name, typed back.
        #[arg(long, requires = "fresh", value_name = "NAME")]
        confirm: Option<String>,
        /// Load the demo clinic (90 days of leads, appointments, treatments, messages, calls) and
        /// the user admin@example.com / password. Needs an empty database (or --fresh); never
        /// with APP_ENV=production.
        #[arg(long)]
        seed: bool,
        /// The instant the demo data ends at (RFC 3339); the same value gives the same data.
        #[arg(long, requires = "seed", value_parser = parse_timestamp)]
        now: Option<Timestamp>,
    },
    /// Manage staff accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens (`Authorization: Bearer …` for /api).
    #[command(subcommand)]
    Token(TokenCommand),
    /// The job queue: failed jobs, retries, workers, pauses.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Stored webhook deliveries: list and replay.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// The settings Ajustes offers (sending, click-to-call, HubSpot mode, backup phone, queue
    /// pauses): list and set.
    #[command(subcommand)]
    Flags(FlagsCommand),
    /// Maintenance mode: pages, server functions and the JSON API answer 503 with the message;
    /// webhooks are still stored and processed; outbound sending pauses until `up`.
    Down {
        #[arg(
            long,
            default_value = "Estamos haciendo tareas de mantenimiento. Volvemos enseguida."
        )]
        message: String,
    },
    /// Leave maintenance mode.
    Up,
    /// The providers' circuit breakers.
    #[command(subcommand)]
    Providers(ProvidersCommand),
    /// HubSpot contact sync.
    #[command(subcommand)]
    Hubspot(HubspotCommand),
    /// Aircall calls.
    #[command(subcommand)]
    Aircall(AircallCommand),
    /// Development and drills.
    #[command(subcommand)]
    Dev(DevCommand),
    /// The database.
    #[command(subcommand)]
    Db(DbCommand),
    /// One line about an instance from its /healthz (details with METRICS_TOKEN); exit status 0
    /// healthy, 1 degraded, 2 down or unreachable.
    Health { url: String },
    /// A consistent copy of the database while the app runs (VACUUM INTO), verified with
    /// integrity_check; older copies beyond --keep are removed.
    Backup {
        #[arg(long, default_value = "storage/backups")]
        out: PathBuf,
        #[arg(long, default_value_t = 14)]
        keep: usize,
    },
    /// Delete done jobs and processed webhook deliveries past their retention
    /// (JOBS_RETENTION_DAYS, WEBHOOKS_RETENTION_DAYS); `serve` does it daily. Failed jobs and
    /// failed or pending deliveries are kept.
    Prune {
        /// Only count what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// Replace the database with a backup (verified first). Refused while mini-crm has the
    /// database open; the replaced file is kept beside it.
    Restore { file: PathBuf },
}

/// `20261127-230707`: the current instant in file names.
pub fn file_stamp() -> String {
    Timestamp::now()
        .to_string()
        .replace(['-', ':', 'Z'], "")
        .replace('T', "-")
}

pub(crate) fn parse_timestamp(value: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(value)
        .map_err(|e| format!("expected an RFC 3339 instant such as 2025-01-07T10:00:00Z ({e})"))
}

/// Checks made before anything else runs, even the log file's opening: see
/// [`check_installation`].
pub fn preflight(cli: &Cli, config: &Config) -> anyhow::Result<()> {
    match &cli.command {
        Command::Health { .. } | Command::Dev(_) => Ok(()),
        // These make the database when it is missing (restore: after it was lost).
        Command::Serve | Command::Migrate { .. } | Command::Restore { .. } => {
            check_installation(config, false)
        }
        _ => check_installation(config, true),
    }
}

pub async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => crate::http::serve(config).await,
        Command::Migrate {
            fresh,
            force,
            confirm,
            seed,
            now,
        } => {
            let fresh = fresh.then_some(app::backend::fresh::Consent {
                force,
                confirm: confirm.as_deref(),
                production: config.production,
            });
            db::migrate(&config, fresh, seed, now).await
        }
        Command::User(command) => users::run(&config, command).await,
        Command::Token(command) => tokens::run(&config, command).await,
        Command::Queue(command) => queue::run(config, command).await,
        Command::Webhooks(command) => webhooks::run(config, command).await,
        Command::Flags(command) => flags::run(&config, command).await,
        Command::Down { message } => {
            let db = Db::connect(&config.database_url).await?;
            app::backend::flags::set_maintenance(&db, Some(&message), Timestamp::now()).await?;
            println!("maintenance mode on: pages and APIs answer 503 ({message})");
            Ok(())
        }
        Command::Up => {
            let db = Db::connect(&config.database_url).await?;
            app::backend::flags::set_maintenance(&db, None, Timestamp::now()).await?;
            println!("maintenance mode off");
            Ok(())
        }
        Command::Providers(ProvidersCommand::Status) => providers::status(&config).await,
        Command::Hubspot(HubspotCommand::Sync { since, full }) => {
            providers::hubspot_sync(config, since, full).await
        }
        Command::Hubspot(HubspotCommand::Setup) => providers::hubspot_setup(config).await,
        Command::Aircall(AircallCommand::Backfill { since }) => {
            providers::aircall_backfill(config, since).await
        }
        Command::Db(DbCommand::Check) => db::check(&config).await,
        Command::Health { url } => {
            let token = config.metrics_token.as_ref().map(|t| t.expose());
            let (status, line) = crate::health_check::check(&url, token).await;
            println!("{line}");
            std::process::exit(status)
        }
        Command::Backup { out, keep } => backup::backup(&config, &out, keep).await,
        Command::Prune { dry_run } => backup::prune(&config, dry_run).await,
        Command::Restore { file } => backup::restore(&config, &file).await,
        Command::Dev(command) => dev::run(command).await,
    }
}

/// Refuses the two ways an on-call engineer's command goes wrong on a server. Run outside the
/// installation's directory, a command finds no `.env` and no `storage/`: it would make an empty
/// database there and report on it as if it were the clinic's (`needs_database`: every command
/// but those that create one). Run as root on the service's database, it would leave files
/// (write-ahead log, lock, log file) that the service's user cannot open.
fn check_installation(config: &Config, needs_database: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let file = app::backend::backup::database_file(&config.database_url)?;
    let owner = match std::fs::metadata(&file) {
        Ok(meta) => meta.uid(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if needs_database {
                let here = std::env::current_dir().unwrap_or_default();
                bail!(
                    "there is no database at {} (DATABASE_URL={}, from {}): run mini-crm in the \
                     installation's directory, where its .env is (cd /var/www/mini-crm/current), \
                     or set DATABASE_URL; `mini-crm migrate` makes a new one",
                    file.display(),
                    config.database_url,
                    here.display()
                );
            }
            // A database about to be made belongs to whoever owns its folder.
            let folder = file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            match std::fs::metadata(folder) {
                Ok(meta) => meta.uid(),
                Err(_) => return Ok(()),
            }
        }
        // Opening it says best what is wrong (a file where a folder should be, permissions).
        Err(_) => return Ok(()),
    };
    let me = rustix::process::geteuid();
    if me.is_root() && owner != 0 {
        bail!(
            "running as root on a database that belongs to user id {owner} ({}): the files root \
             would make beside it could not be opened by the service. Run as its user, e.g. \
             sudo -u mini-crm mini-crm …",
            file.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_lists_every_subcommand() {
        let help = Cli::command().render_help().to_string();
        for subcommand in ["serve", "migrate", "user", "token"] {
            assert!(
                help.contains(subcommand),
                "{subcommand} missing from:\n{help}"
            );
        }
    }

    #[test]
    fn token_commands_parse() {
        let cli = Cli::try_parse_from(["mini-crm", "token", "create", "--name", "panel"]).unwrap();
        assert!(
            matches!(cli.command, Command::Token(TokenCommand::Create { name }) if name == "panel")
        );
        let cli = Cli::try_parse_from(["mini-crm", "token", "revoke", "7"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Token(TokenCommand::Revoke { id: 7 })
        ));
        assert!(Cli::try_parse_from(["mini-crm", "token", "revoke", "seven"]).is_err());
    }

    #[test]
    fn migrate_parses_its_flags() {
        let cli = Cli::try_parse_from([
            "mini-crm",
            "migrate",
            "--fresh",
            "--seed",
            "--now",
            "2025-01-07T10:00:00Z",
        ])
        .unwrap();
        match cli.command {
            Command::Migrate {
                fresh, seed, now, ..
            } => {
                assert!(fresh && seed);
                assert_eq!(now.unwrap().to_string(), "2025-01-07T10:00:00Z");
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(
            Cli::try_parse_from(["mini-crm", "migrate", "--now", "2025-01-07T10:00:00Z"]).is_err()
        );
        assert!(
            Cli::try_parse_from(["mini-crm", "migrate", "--seed", "--now", "tomorrow"]).is_err()
        );
    }
}
