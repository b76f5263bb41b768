//! The real `mini-crm` binary on a loopback port, for the tests that kill, starve or lock it:
//! `crash.rs` (kill -9) and `faults.rs` (disk full, locks, unwritable storage).

use app::backend::webhooks::ingest::delivery_key;
use app::backend::webhooks::verify::sign;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const SECRET: &str = "fault-test-secret";
pub const PASSWORD: &str = "correct horse battery";

/// A running `mini-crm serve`; killed (SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub database: String,
    logs: PathBuf,
    addr: String,
    /// The directory it runs in (a relative `DATABASE_URL` is relative to it).
    cwd: PathBuf,
    /// Environment beyond the defaults, kept for restarts.
    env: Vec<(String, String)>,
}

impl Server {
    /// Starts `serve` on `database` with a fresh loopback port and the WhatsApp secret set.
    pub fn spawn(database: &str, logs: &Path) -> Self {
        Self::spawn_in(&std::env::current_dir().unwrap(), database, logs)
    }

    /// On a new database in a temporary directory (kept while the returned one lives), up.
    pub async fn start_fresh() -> (tempfile::TempDir, Self) {
        Self::start_fresh_with(&[]).await
    }

    /// Likewise, with more environment variables.
    pub async fn start_fresh_with(env: &[(&str, &str)]) -> (tempfile::TempDir, Self) {
        let dir = tempfile::tempdir().unwrap();
        let database = format!("sqlite://{}/db.sqlite", dir.path().display());
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let cwd = std::env::current_dir().unwrap();
        let mut server = Self::spawn_in_with(&cwd, &database, &dir.path().join("logs"), env);
        server.wait_until_up().await;
        (dir, server)
    }

    /// Likewise, running in `cwd`.
    pub fn spawn_in(cwd: &Path, database: &str, logs: &Path) -> Self {
        Self::spawn_in_with(cwd, database, logs, Vec::new())
    }

    fn spawn_in_with(cwd: &Path, database: &str, logs: &Path, env: Vec<(String, String)>) -> Self {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        Self {
            child: spawn_child(cwd, database, &addr, logs, &env),
            base: format!("http://{addr}"),
            database: database.to_string(),
            logs: logs.to_path_buf(),
            addr,
            cwd: cwd.to_path_buf(),
            env,
        }
    }

    /// Waits until the server answers, or panics with how it ended and what it logged.
    ///
    /// Each probe goes on a new connection with its own short timeout: after a kill the
    /// caller's client may hold hundreds of kept-alive connections to the old process, and one
    /// probe that never ends must not stall the test (seen once in a full CI run).
    pub async fn wait_until_up(&mut self) {
        let probe = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(40);
        let mut last_error = String::new();
        while std::time::Instant::now() < deadline {
            match probe.get(format!("{}/healthz", self.base)).send().await {
                Ok(_) => return,
                Err(error) => last_error = error.to_string(),
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the server exited at start: {status}\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the server did not answer /healthz within 40 s ({last_error})\n{}",
            self.log_tail()
        );
    }

    /// The last lines the server logged, for a failure message.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.logs.join("mini-crm.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGKILL, then the same database and port again.
    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn_child(&self.cwd, &self.database, &self.addr, &self.logs, &self.env);
        self.wait_until_up().await;
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL on Unix: no shutdown, no flush
        let _ = self.child.wait();
    }

    /// Creates a staff user with the CLI and signs in over HTTP; returns the session cookie.
    pub async fn signed_in(&self, client: &reqwest::Client, email: &str) -> String {
        let mut cli = Command::new(env!("CARGO_BIN_EXE_mini-crm"))
            .args([
                "user",
                "create",
                "--email",
                email,
                "--name",
                "Ana",
                "--password-stdin",
            ])
            .env("DATABASE_URL", &self.database)
            .env("LOG_DIR", &self.logs)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        cli.stdin
            .take()
            .unwrap()
            .write_all(PASSWORD.as_bytes())
            .unwrap();
        assert!(cli.wait().unwrap().success(), "user create");
        let response = self
            .post_form(
                client,
                "/sfn/login",
                &[("email", email), ("password", PASSWORD)],
                None,
            )
            .await;
        assert_eq!(response.status().as_u16(), 200, "sign-in");
        session_cookie(&response)
    }

    /// A same-origin form POST, as the page sends it.
    pub async fn post_form(
        &self,
        client: &reqwest::Client,
        path: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let mut request = client
            .post(format!("{}{path}", self.base))
            .header("origin", &self.base)
            .form(form);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.expect("the server answers")
    }

    /// Still running (never panicked or exited)?
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `name=value` of the session cookie a response sets.
pub fn session_cookie(response: &reqwest::Response) -> String {
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("mini_crm_session="))
        .expect("a session cookie");
    cookie.split(';').next().unwrap().to_string()
}

/// Posts a signed WhatsApp delivery; the status, `Retry-After` and how long it took.
pub async fn deliver(client: &reqwest::Client, base: &str, body: &[u8]) -> Delivery {
    let started = std::time::Instant::now();
    let response = client
        .post(format!("{}/webhooks/whatsapp", base))
        .header("x-hub-signature-256", sign::whatsapp(SECRET, body))
        .body(body.to_vec())
        .send()
        .await;
    Delivery {
        key: delivery_key(body),
        status: response.as_ref().map(|r| r.status().as_u16()).ok(),
        retry_after: response.ok().and_then(|r| {
            r.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        }),
        elapsed: started.elapsed(),
    }
}

/// `/healthz`'s status code and `status` field.
pub async fn health(client: &reqwest::Client, base: &str) -> (u16, String) {
    let response = client
        .get(format!("{}/healthz", base))
        .send()
        .await
        .expect("healthz answers");
    let code = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("healthz is JSON");
    (
        code,
        body["status"].as_str().unwrap_or_default().to_string(),
    )
}

fn spawn_child(
    cwd: &Path,
    database: &str,
    addr: &str,
    logs: &Path,
    env: &[(String, String)],
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mini-crm"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("serve")
        .current_dir(cwd)
        .env("DATABASE_URL", database)
        .env("LOG_DIR", logs)
        .env("LEPTOS_SITE_ADDR", addr)
        .env("WHATSAPP_APP_SECRET", SECRET)
        // The default filter, as an installation without RUST_LOG has it.
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the mini-crm binary starts")
}

/// A loopback port free now, for a server this test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Lines of `mini-crm.log` in `logs` that say `needle`.
pub fn log_lines(logs: &Path, needle: &str) -> usize {
    std::fs::read_to_string(logs.join("mini-crm.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

/// What the server answered to one delivery (`status` is `None` when the connection failed).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub key: String,
    pub status: Option<u16>,
    pub retry_after: Option<String>,
    pub elapsed: Duration,
}

impl Delivery {
    pub fn acknowledged(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// A distinct signed-able WhatsApp delivery of about `padding` + 300 bytes.
pub fn whatsapp_delivery(n: usize, padding: usize) -> Vec<u8> {
    let body = format!("hola {n} {}", "x".repeat(padding));
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messages":[{{"from":"3461{n:07}","id":"wamid.fault.{n}","timestamp":"1749416383","type":"text","text":{{"body":"{body}"}}}}]}}}}]}}]}}"#
    )
    .into_bytes()
}

/// A read-only connection of the test's own to `database`.
async fn read(database: &str) -> sqlx::SqliteConnection {
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    sqlx::sqlite::SqliteConnectOptions::from_str(database)
        .unwrap()
        .read_only(true)
        .connect()
        .await
        .expect("the database opens")
}

/// The delivery keys stored for WhatsApp.
pub async fn stored_keys(database: &str) -> std::collections::HashSet<String> {
    sqlx::query_scalar("SELECT delivery_key FROM webhook_events WHERE provider = 'whatsapp'")
        .fetch_all(&mut read(database).await)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// The one value `sql` selects.
pub async fn select<T>(database: &str, sql: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
{
    sqlx::query_scalar(sql)
        .fetch_one(&mut read(database).await)
        .await
        .unwrap()
}
