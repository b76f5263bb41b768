//! `mini-crm backup`, `restore` and `prune`: copies of the database, putting one back, and
//! deleting history past its retention.

use super::file_stamp;
use app::backend::config::Config;
use app::backend::db::Db;
use app::backend::retention;
use app::domain::Timestamp;
use std::path::Path;

/// A consistent copy (VACUUM INTO), verified; copies beyond `keep` removed.
pub async fn backup(config: &Config, out: &Path, keep: usize) -> anyhow::Result<()> {
    let made = app::backend::backup::backup(&config.database_url, out, keep, &file_stamp()).await?;
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

/// The database replaced by `file` (verified first); the replaced one kept beside it.
pub async fn restore(config: &Config, file: &Path) -> anyhow::Result<()> {
    let kept = app::backend::backup::restore(&config.database_url, file, &file_stamp()).await?;
    println!(
        "restored {}; the previous database is kept as {}",
        file.display(),
        kept.display()
    );
    Ok(())
}

/// History past its retention deleted (or, `dry_run`, counted).
pub async fn prune(config: &Config, dry_run: bool) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    let policy = retention::Policy::of(config);
    let now = Timestamp::now();
    let (verb, rows) = if dry_run {
        ("would delete", retention::due(&db, policy, now).await?)
    } else {
        ("deleted", retention::prune(&db, policy, now).await?)
    };
    println!(
        "prune: {verb} {} done job(s) older than {} days, {} processed webhook delivery(ies) older than {} days, {} unmatched WhatsApp status(es) and {} record(s) of erasures older than {} days",
        rows.jobs, policy.jobs_days, rows.deliveries, policy.webhooks_days, rows.unmatched_statuses, rows.erasures, policy.webhooks_days
    );
    Ok(())
}
