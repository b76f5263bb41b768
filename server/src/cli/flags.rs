//! `mini-crm flags …`: the settings Ajustes offers, read and set from the console (on-call
//! needs them while the pages are in maintenance or the browser is out of reach).

use app::backend::config::Config;
use app::backend::db::Db;
use app::backend::flags::{self, Flags, Setting};
use app::domain::Timestamp;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum FlagsCommand {
    /// Every setting with the value that applies now.
    List,
    /// Set one: whatsapp.outbound and calls.ui on|off; hubspot.sync_mode live|deferred|off;
    /// clinic.backup_phone a number ("" removes it); queue.paused.<whatsapp|aircall|hubspot>
    /// on|off. Checked as Ajustes checks them.
    Set { key: String, value: String },
}

pub async fn run(config: &Config, command: FlagsCommand) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    match command {
        FlagsCommand::List => {
            let current = Flags::load(&db).await?;
            for key in Setting::keys() {
                let value = current.value_of(&key).unwrap_or_default();
                // An unset value as the shell would type it back.
                let value = if value.is_empty() {
                    "\"\"".into()
                } else {
                    value
                };
                println!("{key:<24} {value}");
            }
        }
        FlagsCommand::Set { key, value } => {
            let setting = Setting::parse(&key, &value).map_err(|refused| {
                let keys = Setting::keys().join(", ");
                anyhow::anyhow!("{key} {value:?} refused: {refused} (settings: {keys})")
            })?;
            flags::set(&db, &setting, Timestamp::now()).await?;
            let current = Flags::load(&db).await?;
            let now = current.value_of(&key).unwrap_or_default();
            tracing::info!(key, value = now, "setting changed from the command line");
            println!("{key} = {now}");
            // A pause lifted is not a hold lifted: the provider refused the whole account.
            if let Setting::QueuePaused(queue, false) = setting {
                if let Some(reason) = current.account_hold(queue) {
                    println!(
                        "queue {queue} is still held: {reason} (`mini-crm queue resume {queue}` \
                         lifts it once the cause is fixed)"
                    );
                }
            }
        }
    }
    Ok(())
}
