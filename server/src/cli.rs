//! `mini-crm` subcommands. Each reads the same configuration (`DATABASE_URL`, `LEPTOS_SITE_ADDR`,
//! …) from the environment.

use anyhow::{bail, Context};
use app::backend::jobs::JobContext;
use app::backend::webhooks::{process_event, Processed};
use app::backend::worker;
use app::backend::{auth, config::Config, db::Db, seed, tokens};
use app::backend::{queue, users, webhooks};
use app::domain::{Email, Provider, Queue, Timestamp};
use clap::{Parser, Subcommand};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

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

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Quick check: opens the database read-only, runs SQLite's quick_check, compares the
    /// migrations; exit status 1 when anything is wrong.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Serve fake WhatsApp, Aircall and HubSpot APIs on loopback (point *_API_BASE at it). They
    /// record what they receive (`GET /_fake/received`) and fail on request
    /// (`POST /_fake/fail {"provider":"whatsapp","mode":"5xx|429|timeout|<documented error>","count":N}`).
    FakeProviders {
        #[arg(long, default_value = "127.0.0.1:3999")]
        addr: std::net::SocketAddr,
    },
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

#[derive(Debug, Subcommand)]
pub enum ProvidersCommand {
    /// Each provider's breaker: state, failures in a row, last success, last error.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Each queue: pending, running, failed, the oldest pending one's age, and why it is held
    /// (as /healthz and Integraciones show them).
    Status,
    /// List failed jobs with their last error.
    Failed,
    /// Put failed jobs back in their queue with their attempts reset: `all` or one job id.
    Retry { target: RetryTarget },
    /// Run jobs (until Ctrl-C, or one with --once).
    Work {
        /// Run at most one job, then exit.
        #[arg(long)]
        once: bool,
        /// Only this queue (inbound, whatsapp, aircall, hubspot).
        #[arg(long)]
        queue: Option<Queue>,
    },
    /// Stop claiming jobs of a queue (all without one); work waits, nothing is dropped.
    Pause { queue: Option<Queue> },
    /// Claim jobs of a paused queue again (all without one); also lifts the hold of a queue
    /// whose provider refused the whole account, once its cause is fixed.
    Resume { queue: Option<Queue> },
}

/// `all`, or a job id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryTarget {
    All,
    Job(i64),
}

impl std::str::FromStr for RetryTarget {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "all" => Ok(RetryTarget::All),
            id => id
                .parse()
                .map(RetryTarget::Job)
                .map_err(|_| format!("expected `all` or a job id, not {id:?}")),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Stored deliveries, newest first.
    List {
        #[arg(long)]
        provider: Option<Provider>,
        /// pending, processed or failed.
        #[arg(long, value_parser = ["pending", "processed", "failed"])]
        status: Option<String>,
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

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (shown once; only its hash is stored).
    Create {
        #[arg(long)]
        name: String,
    },
    /// List tokens: id, name, created, last used, revoked.
    List,
    /// Revoke a token by id: it stops working at once.
    Revoke { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user, or update the name, role and password of an existing e-mail.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "staff", value_parser = ["admin", "staff"])]
        role: String,
        /// Read the password from the first line of standard input; without it a random
        /// password is generated and printed once.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Give a user their Aircall line for click-to-call (their Aircall user id), or take it
    /// away without `--line`.
    Aircall {
        #[arg(long)]
        email: String,
        #[arg(long)]
        line: Option<i64>,
    },
    /// List the users: e-mail, name, role, whether they are active.
    List,
    /// Set a user's password (from standard input with `--password-stdin`, else generated and
    /// printed once); the user's sessions end.
    Password {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: their sessions end and they cannot sign in.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Forget the failed sign-ins on an account, from every address: for an owner made to wait
    /// by failures from their own address (a shared clinic connection).
    Unlock {
        #[arg(long)]
        email: String,
    },
}

/// `20261127-230707`: the current instant in file names.
pub fn file_stamp() -> String {
    Timestamp::now()
        .to_string()
        .replace(['-', ':', 'Z'], "")
        .replace('T', "-")
}

fn parse_timestamp(value: &str) -> Result<Timestamp, String> {
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
            migrate(&config, fresh, seed, now).await
        }
        Command::User(command) => user(&config, command).await,
        Command::Token(command) => token(&config, command).await,
        Command::Queue(command) => queue(config, command).await,
        Command::Webhooks(command) => webhooks(config, command).await,
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
        Command::Providers(ProvidersCommand::Status) => providers_status(&config).await,
        Command::Hubspot(HubspotCommand::Sync { since, full }) => {
            hubspot_sync(config, since, full).await
        }
        Command::Hubspot(HubspotCommand::Setup) => hubspot_setup(config).await,
        Command::Aircall(AircallCommand::Backfill { since }) => {
            aircall_backfill(config, since).await
        }
        Command::Db(DbCommand::Check) => db_check(&config).await,
        Command::Health { url } => {
            let token = config.metrics_token.as_ref().map(|t| t.expose());
            let (status, line) = crate::health_check::check(&url, token).await;
            println!("{line}");
            std::process::exit(status)
        }
        Command::Backup { out, keep } => {
            let made =
                app::backend::backup::backup(&config.database_url, &out, keep, &file_stamp())
                    .await?;
            println!(
                "backup {} ({} bytes), integrity ok",
                made.path.display(),
                made.bytes
            );
            for old in made.pruned {
                println!("removed {}", old.display());
            }
            Ok(())
        }
        Command::Prune { dry_run } => {
            let db = Db::connect(&config.database_url).await?;
            let policy = app::backend::retention::Policy::of(&config);
            let now = Timestamp::now();
            let (verb, rows) = if dry_run {
                (
                    "would delete",
                    app::backend::retention::due(&db, policy, now).await?,
                )
            } else {
                (
                    "deleted",
                    app::backend::retention::prune(&db, policy, now).await?,
                )
            };
            println!(
                "prune: {verb} {} done job(s) older than {} days, {} processed webhook delivery(ies) older than {} days, {} unmatched WhatsApp status(es) and {} record(s) of erasures older than {} days",
                rows.jobs, policy.jobs_days, rows.deliveries, policy.webhooks_days, rows.unmatched_statuses, rows.erasures, policy.webhooks_days
            );
            Ok(())
        }
        Command::Restore { file } => {
            let kept =
                app::backend::backup::restore(&config.database_url, &file, &file_stamp()).await?;
            println!(
                "restored {}; the previous database is kept as {}",
                file.display(),
                kept.display()
            );
            Ok(())
        }
        Command::Dev(DevCommand::FakeProviders { addr }) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let fake = crate::fake_providers::FakeProviders::default();
            println!("fake providers on http://{addr} (Ctrl-C to stop)");
            axum::serve(listener, fake.router())
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
            Ok(())
        }
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

pub async fn queue(config: Config, command: QueueCommand) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    let ctx = JobContext::new(db.clone(), Arc::new(config));
    let now = Timestamp::now();
    match command {
        QueueCommand::Status => {
            let overview = queue::overview(&db, now).await?;
            for q in overview.queues {
                let oldest = q
                    .oldest_pending_seconds
                    .map_or("-".to_string(), |s| format!("{s} s"));
                println!(
                    "{:<9} pending {:<6} running {:<3} failed {:<5} oldest {:<8} {}",
                    q.queue.as_str(),
                    q.pending,
                    q.running,
                    q.failed,
                    oldest,
                    q.held.as_deref().unwrap_or("activa")
                );
            }
        }
        QueueCommand::Failed => {
            let failed = queue::failed_jobs(&db).await?;
            println!("{} failed job(s)", failed.len());
            for job in failed {
                let error = job.last_error.unwrap_or_default();
                println!(
                    "{:<6} {:<9} {:<18} attempts {}/{}  {error}",
                    job.id, job.queue, job.kind, job.attempts, job.max_attempts
                );
            }
        }
        QueueCommand::Retry { target } => {
            let id = match target {
                RetryTarget::All => None,
                RetryTarget::Job(id) => Some(id),
            };
            let retried = queue::retry_failed(&db, id, now).await?;
            if retried == 0 && id.is_some() {
                bail!("no failed job with that id");
            }
            println!("{retried} job(s) queued again");
        }
        QueueCommand::Work { once, queue } => {
            let queues = queue.map_or_else(|| Queue::ALL.to_vec(), |q| vec![q]);
            let worker = worker::worker_name("cli");
            if once {
                println!("{:?}", worker::run_one(&ctx, &queues, &worker).await?);
            } else {
                let (stop, stopped) = tokio::sync::watch::channel(false);
                // Supervised as in `serve`; nothing reads the heartbeat of a CLI worker.
                let beat = app::backend::supervise::Heartbeat::default();
                let work = tokio::spawn(app::backend::supervise::supervise(
                    "queue worker",
                    move || {
                        worker::work(
                            ctx.clone(),
                            queues.clone(),
                            worker::worker_name("cli"),
                            stopped.clone(),
                            beat.clone(),
                        )
                    },
                ));
                tokio::signal::ctrl_c().await?;
                stop.send(true)?;
                work.await?;
            }
        }
        QueueCommand::Pause { queue } | QueueCommand::Resume { queue } => {
            let paused = matches!(command, QueueCommand::Pause { .. });
            for one in queue.map_or_else(|| Queue::ALL.to_vec(), |q| vec![q]) {
                app::backend::queue::set_paused(&db, one, paused, now).await?;
                println!(
                    "queue {} {}",
                    one.as_str(),
                    if paused { "paused" } else { "resumed" }
                );
            }
        }
    }
    Ok(())
}

pub async fn webhooks(config: Config, command: WebhooksCommand) -> anyhow::Result<()> {
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
            let status = (status == "failed").then(|| "failed".to_string());
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

async fn token(config: &Config, command: TokenCommand) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    match command {
        TokenCommand::Create { name } => {
            let (id, token) = tokens::create(&db, &name, None).await?;
            println!("Token {id} ({name}) created. Copy it now; it is not shown again:\n{token}");
        }
        TokenCommand::List => {
            let rows = tokens::list(&db).await?;
            println!(
                "{:<6} {:<30} {:<22} {:<22} REVOKED",
                "ID", "NAME", "CREATED", "LAST USED"
            );
            let show = |t: Option<Timestamp>| t.map_or("-".to_string(), |t| t.to_string());
            for row in rows {
                println!(
                    "{:<6} {:<30} {:<22} {:<22} {}",
                    row.id,
                    row.name,
                    row.created_at.to_string(),
                    show(row.last_used_at),
                    show(row.revoked_at)
                );
            }
        }
        TokenCommand::Revoke { id } => {
            if !tokens::revoke(&db, id).await? {
                bail!("no active token with id {id}");
            }
            println!("Token {id} revoked.");
        }
    }
    Ok(())
}

async fn migrate(
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

/// `user …`.
async fn user(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    let email_of = |email: &str| {
        Email::parse(email).map_err(|_| anyhow::anyhow!("{email:?} is not an e-mail address"))
    };
    let unknown = |email: &Email| anyhow::anyhow!("no user has the e-mail {email}");
    match command {
        UserCommand::Aircall { email, line } => {
            let email = email_of(&email)?;
            if !users::set_aircall_line(&db, &email, line).await? {
                return Err(unknown(&email));
            }
            match line {
                Some(line) => println!("{email} calls from Aircall user {line}"),
                None => println!("{email} has no Aircall line now"),
            }
        }
        UserCommand::Create {
            email,
            name,
            role,
            password_stdin,
        } => {
            let password = new_password(password_stdin)?;
            users::create(
                &db,
                &email,
                &name,
                role.parse().map_err(anyhow::Error::msg)?,
                &password,
            )
            .await?;
            println!("User {email} saved with role {role}.");
        }
        UserCommand::List => {
            for user in users::list(&db).await? {
                let state = match user.disabled_at {
                    Some(at) => format!("disabled since {at}"),
                    None => "active".to_string(),
                };
                println!("{}\t{}\t{}\t{state}", user.email, user.name, user.role);
            }
        }
        UserCommand::Password {
            email,
            password_stdin,
        } => {
            let email = email_of(&email)?;
            let password = new_password(password_stdin)?;
            if !users::set_password(&db, &email, &password).await? {
                return Err(unknown(&email));
            }
            println!("Password of {email} changed; their sessions have ended.");
        }
        UserCommand::Disable { email } => {
            let email = email_of(&email)?;
            if !users::set_disabled(&db, &email, true, Timestamp::now()).await? {
                return Err(unknown(&email));
            }
            println!("{email} is disabled: their sessions have ended and they cannot sign in.");
        }
        UserCommand::Unlock { email } => {
            let email = email_of(&email)?;
            let forgotten = app::backend::sign_in_throttle::unlock(&db, email.as_str()).await?;
            println!("{forgotten} failed sign-in(s) on {email} forgotten.");
        }
        UserCommand::Enable { email } => {
            let email = email_of(&email)?;
            if !users::set_disabled(&db, &email, false, Timestamp::now()).await? {
                return Err(unknown(&email));
            }
            println!("{email} can sign in again.");
        }
    }
    Ok(())
}

/// A password from the first line of standard input, or a generated one printed once.
fn new_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    } else {
        let password = auth::random_hex(12);
        println!("Generated password (shown once): {password}");
        Ok(password)
    }
}

/// `db check`.
pub async fn db_check(config: &Config) -> anyhow::Result<()> {
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
    use app::backend::hubspot_sync::{count_pending, request_sync, resync, SyncStop, Syncer};
    let db = Db::connect(&config.database_url).await?;
    let client = hubspot_client(&config)?;
    if full || since.is_some() {
        let marked = resync(&db, if full { None } else { since }).await?;
        println!("{marked} leads to send again");
    }
    // Whatever happens here, the queue has a job for the pending leads.
    request_sync(&mut *db.writer.acquire().await?, Timestamp::now()).await?;
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

/// `providers status`: one line per provider.
pub async fn providers_status(config: &Config) -> anyhow::Result<()> {
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
