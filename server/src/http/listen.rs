//! The accept loop: what `axum::serve` does, plus the limits a server facing the internet needs.
//!
//! - HTTP/1.1 only. Browsers reach the app through a TLS proxy, which speaks HTTP/1.1 to it;
//!   cleartext HTTP/2 would need a version sniff first, and no timer covers that sniff.
//! - Request headers must arrive within [`HEADER_READ_TIMEOUT`], and a kept-alive connection may
//!   sit idle no longer: hyper enforces it only when given a timer, which `axum::serve` does not
//!   give it, so a client sending headers a byte a minute held its connection for ever.
//! - At most [`MAX_CONNECTIONS`] connections at once: past them the loop stops accepting (the
//!   kernel's backlog waits) instead of running out of file descriptors.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Time a client has to send a request's headers, and the longest a kept-alive connection may
/// sit idle. Bodies have their own limits (the request timeout, the webhooks' body deadline).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections at most (each costs a file descriptor and a task).
pub const MAX_CONNECTIONS: usize = 4096;
/// After the stop signal, requests in flight get this long to finish.
const DRAIN: Duration = Duration::from_secs(20);

/// Serves `router` until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, usually: wait for connections to close rather than
                    // spin on the error.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service =
            tower::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(request.map(axum::body::Body::new))
            });
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::trace!(error = %err, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running {DRAIN:?} after the stop signal were cut off");
    }
}
