//! `mini-crm user …`: staff accounts.

use anyhow::Context;
use app::backend::config::Config;
use app::backend::db::Db;
use app::backend::{auth, users};
use app::domain::{Email, Timestamp};
use clap::Subcommand;
use std::io::BufRead;

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

/// `user …`.
pub async fn run(config: &Config, command: UserCommand) -> anyhow::Result<()> {
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
