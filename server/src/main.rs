//! The `mini-crm` binary: parse the command line and run it.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    // Every file mini-crm creates (the database, backups, logs) holds patients' data: owner-only,
    // whoever starts it (systemd's unit says the same).
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
    // A missing .env is normal (production sets real variables); a broken one is not.
    if let Err(err) = dotenvy::dotenv() {
        if !err.not_found() {
            return Err(anyhow::Error::new(err).context("cannot read .env"));
        }
    }
    let cli = server::cli::Cli::parse();
    let config = app::backend::config::Config::from_env()?;
    server::cli::preflight(&cli, &config)?;
    server::telemetry::init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(server::cli::run(cli, config))
}
