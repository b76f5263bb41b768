//! The server's own limits, on the real binary (hole 12 of issue 11): a client that sends its
//! headers slowly is cut off, a request may take at most 30 s, and past 512 requests at once the
//! next one is refused at once with a 503 instead of stalling everyone.

use crate::binary::Server;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server answers or closes; `None` if it does neither within `limit`.
async fn answer_within(
    stream: &mut (impl AsyncReadExt + Unpin),
    limit: Duration,
) -> Option<String> {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    let read = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    answer.extend_from_slice(&buffer[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        return;
                    }
                }
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn headers_sent_slowly_are_cut_off() {
    let (_dir, server) = Server::start_fresh().await;
    let addr = server.base.trim_start_matches("http://");
    let slow = TcpStream::connect(addr).await.unwrap();
    let (mut from_server, mut to_server) = slow.into_split();
    to_server
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // One more header line every 2 s: never idle long, never done.
    let trickle = tokio::spawn(async move {
        for i in 0..100 {
            let line = format!("X-Slow-{i}: y\r\n");
            if to_server.write_all(line.as_bytes()).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    let answer = answer_within(&mut from_server, Duration::from_secs(25)).await;
    let waited = started.elapsed();
    trickle.abort();
    assert!(answer.is_some(), "the connection is still open after 25 s");
    assert!(waited >= Duration::from_secs(9), "closed after {waited:?}");

    // A connection that sends nothing at all is closed as well.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(25), silent.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "a silent connection is closed");

    // A kept-alive connection that goes quiet is closed as well.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let first = answer_within(&mut idle, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(25), idle.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "an idle connection is closed");
}

/// Sign-ins whose bodies never finish, from `client` (behind a trusted proxy): each holds a
/// place until the request timeout.
async fn held_requests(addr: &str, client: &str, count: usize) -> Vec<TcpStream> {
    let head = format!(
        "POST /sfn/login HTTP/1.1\r\nHost: {addr}\r\nX-Forwarded-For: {client}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=a"
    );
    let mut held = Vec::new();
    for _ in 0..count {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        held.push(stream);
    }
    held
}

/// Waits until a page request from `client` is refused with the server's 503.
async fn refused_from(http: &reqwest::Client, base: &str, client: &str) -> reqwest::Response {
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let response = http
            .get(format!("{base}/login"))
            .header("x-forwarded-for", client)
            .send()
            .await
            .unwrap();
        if response.status() == 503 {
            return response;
        }
    }
    panic!("requests from {client} are still taken")
}

#[tokio::test]
async fn past_its_limits_the_server_refuses_at_once_and_a_request_ends_after_30_s() {
    let http = reqwest::Client::new();
    let (_dir, server) = Server::start_fresh_with(&[("TRUST_PROXY_HEADERS", "true")]).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let started = Instant::now();

    // One client holds 64 requests: its 65th is refused, another client is served.
    let mut held = held_requests(&addr, "203.0.113.1", 64).await;
    let refused = refused_from(&http, &server.base, "203.0.113.1").await;
    assert_eq!(refused.headers()["retry-after"], "5");
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("demasiadas peticiones"));
    let other = http
        .get(format!("{}/login", server.base))
        .header("x-forwarded-for", "198.51.100.1")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "another client is served");

    // Eight clients hold 512 in all: everyone's next page is refused, but the health check
    // and the webhooks stand outside these limits.
    for n in 2..=8 {
        held.extend(held_requests(&addr, &format!("203.0.113.{n}"), 64).await);
    }
    refused_from(&http, &server.base, "198.51.100.1").await;
    let (status, _) = crate::binary::health(&http, &server.base).await;
    assert_eq!(status, 200, "/healthz answers");
    let delivery =
        crate::binary::deliver(&http, &server.base, &crate::binary::whatsapp_delivery(1, 0)).await;
    assert!(delivery.acknowledged(), "a webhook is stored");

    // Each held request is answered 503 once its 30 s are up, and the server serves again.
    let mut answers = Vec::new();
    for stream in held.iter_mut().take(3) {
        answers.push(answer_within(stream, Duration::from_secs(45)).await);
    }
    let waited = started.elapsed();
    for answer in answers {
        let answer = answer.expect("the request timeout ends a request");
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    }
    assert!(waited >= Duration::from_secs(25), "{waited:?}");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let page = http
        .get(format!("{}/login", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
}
