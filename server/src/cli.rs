//! `mini-crm` subcommands. Each reads the same configuration (`DATABASE_URL`, `LEPTOS_SITE_ADDR`,
//! …) from the environment.

use anyhow::{bail, Context};
use app::backend::store::{api_tokens, users};
use app::backend::{auth, config::Config, db::Db, seed, tokens};
use app::domain::{Email, Role, Timestamp};
use clap::{Parser, Subcommand};
use std::io::BufRead;

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
        /// Drop every table first (all data is lost).
        #[arg(long)]
        fresh: bool,
        /// Load the demo clinic (90 days of leads, appointments, treatments, messages, calls) and
        /// the user admin@example.com / password. Needs an empty database (or --fresh).
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
}

fn parse_timestamp(value: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(value)
        .map_err(|e| format!("expected an RFC 3339 instant such as 2025-01-07T10:00:00Z ({e})"))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    match cli.command {
        Command::Serve => crate::http::serve(config).await,
        Command::Migrate { fresh, seed, now } => migrate(&config, fresh, seed, now).await,
        Command::User(UserCommand::Create {
            email,
            name,
            role,
            password_stdin,
        }) => {
            let db = Db::connect(&config.database_url).await?;
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("cannot read the password from stdin")?;
                line.trim_end_matches(['\r', '\n']).to_string()
            } else {
                let password = auth::random_hex(12);
                println!("Generated password (shown once): {password}");
                password
            };
            create_user(
                &db,
                &email,
                &name,
                role.parse().map_err(anyhow::Error::msg)?,
                &password,
            )
            .await?;
            println!("User {email} saved with role {role}.");
            Ok(())
        }
        Command::Token(command) => token(&config, command).await,
    }
}

async fn token(config: &Config, command: TokenCommand) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    match command {
        TokenCommand::Create { name } => {
            let (id, token) = tokens::create(&db, &name, None).await?;
            println!("Token {id} ({name}) created. Copy it now; it is not shown again:\n{token}");
        }
        TokenCommand::List => {
            let rows = api_tokens::list(&db.reader).await?;
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
    fresh: bool,
    seed: bool,
    now: Option<Timestamp>,
) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    if fresh {
        db.reset().await?;
        println!("Database emptied and migrated: {}", config.database_url);
    } else {
        println!("Database migrated: {}", config.database_url);
    }
    if seed {
        let leads: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leads")
            .fetch_one(&db.reader)
            .await?;
        if leads > 0 {
            bail!("the database already has {leads} leads; seed with --fresh to replace them");
        }
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

pub async fn create_user(
    db: &Db,
    email: &str,
    name: &str,
    role: Role,
    password: &str,
) -> anyhow::Result<i64> {
    let email =
        Email::parse(email).with_context(|| format!("{email:?} is not an e-mail address"))?;
    if name.trim().is_empty() {
        bail!("the name cannot be empty");
    }
    if password.chars().count() < 8 {
        bail!("the password must have at least 8 characters");
    }
    let hash = auth::hash_password(password)?;
    let user = users::NewUser {
        email: &email,
        name: name.trim(),
        password_hash: &hash,
        role,
    };
    Ok(users::upsert(&db.writer, user, Timestamp::now()).await?)
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
            Command::Migrate { fresh, seed, now } => {
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
