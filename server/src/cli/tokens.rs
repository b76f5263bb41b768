//! `mini-crm token …`: API tokens for `/api`.

use anyhow::bail;
use app::backend::config::Config;
use app::backend::db::Db;
use app::backend::tokens;
use app::domain::Timestamp;
use clap::Subcommand;

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

pub async fn run(config: &Config, command: TokenCommand) -> anyhow::Result<()> {
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
