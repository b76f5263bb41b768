//! The `mini-crm` binary: parse the command line and run it.

use clap::Parser;
use server::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    // Every file mini-crm creates (the database, backups, logs) holds patients' data: owner-only,
    // whoever starts it (systemd's unit says the same).
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
    let cli = Cli::parse();
    // `health` answers monitoring and deploy.sh: 0 healthy, 1 degraded, 2 down. A check that
    // cannot even start (a broken .env) has not seen the instance up: 2, never 1.
    let failed = if matches!(cli.command, Command::Health { .. }) {
        2
    } else {
        1
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:?}");
            ExitCode::from(failed)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // A missing .env is normal (production sets real variables); a broken one is not.
    if let Err(err) = dotenvy::dotenv() {
        if !err.not_found() {
            return Err(anyhow::Error::new(err).context("cannot read .env"));
        }
    }
    let config = app::backend::config::Config::from_env()?;
    server::cli::preflight(&cli, &config)?;
    server::telemetry::init(!matches!(
        cli.command,
        Command::Health { .. } | Command::Dev(_)
    ));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(server::cli::run(cli, config))
}
