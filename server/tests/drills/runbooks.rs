//! The runbook drill: every `sh` block of `docs/runbooks.md`, in order, run by bash against a
//! release installed by `scripts/deploy.sh` (demo data, fake providers), from its `current`
//! directory with a plain PATH, each followed by the checks its `<!-- expect: … -->` comment names; `<!-- drill-setup: … -->` comments create the situation a
//! section is about. A runbook whose command is wrong, renamed or without effect fails here.

use crate::fixtures::{fixture, WA_SECRET};
use app::backend::webhooks::verify::sign;
use server::fake_providers::FakeProviders;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const AIRCALL_TOKEN: &str = "AIRCALL_TOKEN"; // the fixtures' webhook token
const METRICS_TOKEN: &str = "drill-metrics-token";

/// One step of the runbook: an `sh` block, what to prepare before it, what to type into it,
/// what to check after.
#[derive(Debug)]
struct Step {
    setup: Option<String>,
    /// What the on-call engineer types when the block asks (`<!-- drill-input: … -->`, `\n` for
    /// Enter).
    input: Option<String>,
    script: String,
    expect: Vec<String>,
    /// `session` in its expectations: the block sets up the on-call engineer's shell (its
    /// variables), so the drill runs every later block after it, as in one shell.
    session: bool,
}

fn steps(markdown: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let (mut setup, mut input) = (None, None);
    let mut lines = markdown.lines().peekable();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let comment = |name: &str| {
            line.strip_prefix(&format!("<!-- {name}:"))
                .and_then(|l| l.strip_suffix("-->"))
                .map(|l| l.trim().to_string())
        };
        if let Some(name) = comment("drill-setup") {
            setup = Some(name);
        } else if let Some(typed) = comment("drill-input") {
            input = Some(typed.replace("\\n", "\n"));
        } else if line == "```sh" {
            let mut script = String::new();
            for body in lines.by_ref() {
                if body.trim() == "```" {
                    break;
                }
                script.push_str(body);
                script.push('\n');
            }
            let mut expect: Vec<String> = match lines.peek().map(|l| l.trim()) {
                Some(comment) if comment.starts_with("<!-- expect:") => {
                    let items = comment
                        .trim_start_matches("<!-- expect:")
                        .trim_end_matches("-->")
                        .trim();
                    lines.next();
                    items.split("; ").map(str::to_string).collect()
                }
                _ => panic!("a runbook block has no <!-- expect: … --> after it:\n{script}"),
            };
            let session = expect.iter().any(|item| item == "session");
            expect.retain(|item| item != "session");
            steps.push(Step {
                setup: setup.take(),
                input: input.take(),
                script,
                expect,
                session,
            });
        }
    }
    steps
}

/// The text between the first and the last double quote, with `\"` unescaped.
fn quoted(item: &str) -> String {
    let start = item.find('"').expect("a quoted value");
    let end = item.rfind('"').expect("a quoted value");
    item[start + 1..end].replace("\\\"", "\"")
}

/// A release installed by `scripts/deploy.sh` into a temporary ROOT, as on a server: the
/// binary, site and scripts in `ROOT/releases/<stamp>`, `ROOT/current` pointing at it, the
/// database and `.env` in `ROOT/shared`, `mini-crm` linked from `ROOT/bin` (the server's
/// `/usr/local/bin`). Runbook commands run in `ROOT/current` with a plain PATH: nothing from the
/// repository or the test harness helps them.
struct Instance {
    root: tempfile::TempDir,
    base: String,
    /// The server `deploy.sh` started through its restart command (as systemd would).
    server_pid: i32,
}

impl Instance {
    fn current(&self) -> PathBuf {
        self.root.path().join("current")
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.current_dir(self.current()).env_clear();
        for key in ["HOME", "LANG", "TERM"] {
            if let Ok(value) = std::env::var(key) {
                command.env(key, value);
            }
        }
        // The on-call engineer's shell: the system's PATH with the link deploy.sh made, and
        // nothing else from the test (their variables come from the runbook's own session block).
        command.env(
            "PATH",
            format!(
                "{}:/usr/local/bin:/usr/bin:/bin",
                self.root.path().join("bin").display()
            ),
        );
        command
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("shared/storage/logs/mini-crm.log"))
            .unwrap_or_default()
    }

    fn database(&self) -> PathBuf {
        self.root.path().join("shared/storage/database.sqlite")
    }

    async fn post(&self, path: &str, body: Vec<u8>, headers: &[(&str, String)]) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        assert!(
            request.send().await.unwrap().status().is_success(),
            "{path}"
        );
    }

    async fn wait_for_log(&self, needle: &str) {
        for _ in 0..100 {
            if self.log().contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the log never showed {needle:?}:\n{}", self.log());
    }

    /// Creates the situation a runbook section is about.
    async fn setup(&self, name: &str) {
        match name {
            "whatsapp-deliveries" => {
                let body = fixture("whatsapp_message.json");
                self.post(
                    "/webhooks/whatsapp",
                    body.clone(),
                    &[("x-hub-signature-256", sign::whatsapp(WA_SECRET, &body))],
                )
                .await;
                self.wait_for_log("provider=\"whatsapp\"").await;
            }
            "whatsapp-failed-delivery" => {
                let body = b"{ \"drill\": broken".to_vec();
                self.post(
                    "/webhooks/whatsapp",
                    body.clone(),
                    &[("x-hub-signature-256", sign::whatsapp(WA_SECRET, &body))],
                )
                .await;
                self.wait_for_log("webhook delivery could not be processed")
                    .await;
            }
            "aircall-delivery" => {
                self.post("/webhooks/aircall", fixture("aircall_ended.json"), &[])
                    .await;
                self.wait_for_log("provider=\"aircall\"").await;
            }
            other => panic!("unknown drill setup {other:?}"),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.server_pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// The installation's `.env`, as an administrator writes it: the fake providers stand in for
/// the real APIs.
fn dotenv(base: &str, port: u16, fake_base: &str) -> String {
    [
        ("APP_URL", base),
        ("LEPTOS_SITE_ADDR", &format!("127.0.0.1:{port}")),
        ("METRICS_TOKEN", METRICS_TOKEN),
        ("WHATSAPP_APP_SECRET", WA_SECRET),
        ("WHATSAPP_ACCESS_TOKEN", "fake"),
        ("WHATSAPP_PHONE_NUMBER_ID", "fake"),
        ("WHATSAPP_API_BASE", fake_base),
        ("AIRCALL_WEBHOOK_TOKEN", AIRCALL_TOKEN),
        ("AIRCALL_API_ID", "fake"),
        ("AIRCALL_API_TOKEN", "fake"),
        ("AIRCALL_API_BASE", fake_base),
        ("HUBSPOT_ACCESS_TOKEN", "fake"),
        ("HUBSPOT_API_BASE", fake_base),
        ("RUST_LOG", "info,sqlx=warn"),
    ]
    .iter()
    .map(|(key, value)| format!("{key}={value}\n"))
    .collect()
}

async fn start() -> Instance {
    let fake = FakeProviders::default();
    let fake_base = fake
        .spawn(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let port = crate::binary::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let shared = root.path().join("shared");
    std::fs::create_dir_all(shared.join("storage")).unwrap();
    std::fs::write(shared.join(".env"), dotenv(&base, port, &fake_base)).unwrap();
    let binary = env!("CARGO_BIN_EXE_mini-crm");
    // The clinic's data before the release: the demo, in the shared storage.
    let seeded = Command::new(binary)
        .current_dir(&shared)
        .env_clear()
        .args(["migrate", "--seed"])
        .output()
        .unwrap();
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let site = root.path().join("build/site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("pkg/mini-crm.css"), "body{}").unwrap();
    // systemd's restart, played by the shell as deploy/mini-crm.service says: `serve` in
    // `current` (which reads its .env there), with the unit's one variable.
    let pid_file = root.path().join("server.pid");
    let restart = format!(
        "cd '{}' && {{ LEPTOS_SITE_ROOT=site ./mini-crm serve >/dev/null 2>&1 </dev/null & echo $! > '{}'; }}",
        root.path().join("current").display(),
        pid_file.display()
    );
    let me = Command::new("id").arg("-un").output().unwrap();
    let me = String::from_utf8_lossy(&me.stdout).trim().to_string();
    let deployed = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/deploy.sh"))
        .arg(root.path())
        .args(["--bin", binary])
        .arg("--site")
        .arg(&site)
        .args(["--restart-cmd", &restart])
        .args([
            "--health-url",
            &format!("{base}/healthz"),
            "--health-timeout",
            "30",
        ])
        .arg("--link-dir")
        .arg(root.path().join("bin"))
        // The service's user is whoever runs the tests (CI has no `mini-crm` user).
        .args(["--service-user", &me])
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&deployed.stdout),
        String::from_utf8_lossy(&deployed.stderr)
    );
    let server_pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or(0);
    let instance = Instance {
        root,
        base,
        server_pid,
    };
    assert!(deployed.status.success(), "deploy.sh failed:\n{said}");
    instance
}

async fn check(instance: &Instance, step: &Step, status: i32, stdout: &str, stderr: &str) {
    let context = || {
        format!(
            "runbook block:\n{}exit {status}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            step.script
        )
    };
    for item in &step.expect {
        if let Some(code) = item.strip_prefix("exit ") {
            assert_eq!(status, code.parse::<i32>().unwrap(), "{}", context());
        } else if item.starts_with("stdout contains") {
            assert!(
                stdout.contains(&quoted(item)),
                "expected {item}\n{}",
                context()
            );
        } else if let Some(rest) = item.strip_prefix("http GET ") {
            let (path, code) = rest.split_once(" = ").expect("http GET /path = code");
            let got = reqwest::get(format!("{}{path}", instance.base))
                .await
                .unwrap()
                .status()
                .as_u16();
            assert_eq!(
                got,
                code.parse::<u16>().unwrap(),
                "GET {path} after:\n{}",
                context()
            );
        } else if let Some(rest) = item.strip_prefix("sql ") {
            let (query, value) = rest.rsplit_once(" = ").expect("sql \"query\" = \"value\"");
            let out = instance
                .command("python3")
                .args(["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])"])
                .arg(instance.database())
                .arg(quoted(query))
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                quoted(value),
                "{item}\n{}",
                context()
            );
        } else {
            panic!("unknown expectation {item:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runbook_command_runs_and_does_what_the_runbook_says() {
    let markdown =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/runbooks.md"))
            .unwrap();
    let steps = steps(&markdown);
    assert!(steps.len() >= 15, "{} blocks", steps.len());
    let instance = start().await;
    let mut session = String::new();
    for step in &steps {
        if let Some(setup) = &step.setup {
            instance.setup(setup).await;
        }
        let script = format!("{session}{}", step.script);
        let mut bash = instance.command("bash");
        bash.args(["-e", "-o", "pipefail", "-c", &script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = bash.spawn().unwrap();
        let typed = step.input.clone().unwrap_or_default();
        let mut stdin = child.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, typed.as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        check(
            &instance,
            step,
            out.status.code().unwrap_or(-1),
            &stdout,
            &stderr,
        )
        .await;
        if step.session {
            session.push_str(&step.script);
        }
    }
    assert!(!session.is_empty(), "the runbook sets the on-call shell up");
}

/// `text` split like a shell does for the simple commands of the runbook's prose: words, and
/// double-quoted words with their spaces.
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Every `mini-crm …` the runbook names in its prose and in the table from the Laravel commands
/// (not only those its blocks run) is a command the binary accepts as written.
#[test]
fn every_command_the_runbook_names_is_one_the_binary_accepts() {
    use clap::Parser;
    let markdown =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/runbooks.md"))
            .unwrap();
    // The prose: fenced blocks out (their commands run in the drill), inline code spans in.
    let mut fenced = false;
    let prose: String = markdown
        .lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect::<Vec<_>>()
        .join("\n");
    let named: Vec<&str> = prose
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| span.starts_with("mini-crm ") && !span.contains('…'))
        .collect();
    assert!(named.len() >= 20, "{named:?}");
    for command in named {
        if let Err(err) = server::cli::Cli::try_parse_from(shell_words(command)) {
            panic!("the runbook names `{command}`, which mini-crm refuses:\n{err}");
        }
    }
}
