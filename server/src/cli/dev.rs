//! `mini-crm dev …`: the fake providers for the demo and drills.

use anyhow::Context;
use clap::Subcommand;

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

pub async fn run(command: DevCommand) -> anyhow::Result<()> {
    match command {
        DevCommand::FakeProviders { addr } => {
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
