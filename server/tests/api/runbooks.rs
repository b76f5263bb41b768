//! The runbook drill: every `sh` block of `docs/runbooks.md`, in order, run by bash against a
//! live instance of the real binary (demo data, fake providers), each followed by the checks its
//! `<!-- expect: … -->` comment names; `<!-- drill-setup: … -->` comments create the situation a
//! section is about. A runbook whose command is wrong, renamed or without effect fails here.

use crate::webhooks::{fixture, WA_SECRET};
use app::backend::webhooks::verify::sign;
use server::fake_providers::FakeProviders;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const AIRCALL_TOKEN: &str = "AIRCALL_TOKEN"; // the fixtures' webhook token
const METRICS_TOKEN: &str = "drill-metrics-token";

/// One step of the runbook: an `sh` block, what to prepare before it, what to check after.
#[derive(Debug)]
struct Step {
    setup: Option<String>,
    script: String,
    expect: Vec<String>,
}

fn steps(markdown: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut setup = None;
    let mut lines = markdown.lines().peekable();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if let Some(name) = line
            .strip_prefix("<!-- drill-setup:")
            .and_then(|l| l.strip_suffix("-->"))
        {
            setup = Some(name.trim().to_string());
        } else if line == "```sh" {
            let mut script = String::new();
            for body in lines.by_ref() {
                if body.trim() == "```" {
                    break;
                }
                script.push_str(body);
                script.push('\n');
            }
            let expect = match lines.peek().map(|l| l.trim()) {
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
            steps.push(Step {
                setup: setup.take(),
                script,
                expect,
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

struct Instance {
    dir: tempfile::TempDir,
    base: String,
    env: Vec<(String, String)>,
    server: Child,
}

impl Instance {
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.current_dir(self.dir.path()).env_clear();
        for key in ["HOME", "LANG", "TERM"] {
            if let Ok(value) = std::env::var(key) {
                command.env(key, value);
            }
        }
        command.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("storage/logs/mini-crm.log"))
            .unwrap_or_default()
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
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

async fn start() -> Instance {
    let fake = FakeProviders::default();
    let fake_base = fake
        .spawn(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // An installation directory: its scripts, its storage; the binary on the PATH.
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::os::unix::fs::symlink(repo.join("scripts"), dir.path().join("scripts")).unwrap();
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_mini-crm"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env: Vec<(String, String)> = [
        ("PATH", path.as_str()),
        ("APP_URL", base.as_str()),
        ("LEPTOS_SITE_ADDR", &format!("127.0.0.1:{port}")),
        ("MINI_CRM_BIN", &binary.display().to_string()),
        ("METRICS_TOKEN", METRICS_TOKEN),
        ("WHATSAPP_APP_SECRET", WA_SECRET),
        ("WHATSAPP_ACCESS_TOKEN", "fake"),
        ("WHATSAPP_PHONE_NUMBER_ID", "fake"),
        ("WHATSAPP_API_BASE", &fake_base),
        ("AIRCALL_WEBHOOK_TOKEN", AIRCALL_TOKEN),
        ("AIRCALL_API_ID", "fake"),
        ("AIRCALL_API_TOKEN", "fake"),
        ("AIRCALL_API_BASE", &fake_base),
        ("HUBSPOT_ACCESS_TOKEN", "fake"),
        ("HUBSPOT_API_BASE", &fake_base),
        ("RUST_LOG", "info,sqlx=warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut instance = Instance {
        dir,
        base,
        env,
        server: Command::new("true").spawn().unwrap(),
    };
    let seeded = instance
        .command(binary.to_str().unwrap())
        .args(["migrate", "--fresh", "--seed"])
        .output()
        .unwrap();
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    instance.server = instance
        .command(binary.to_str().unwrap())
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if reqwest::get(format!("{}/healthz", instance.base))
            .await
            .is_ok()
        {
            return instance;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the drill instance did not start");
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
                .arg(instance.dir.path().join("storage/database.sqlite"))
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
    for step in &steps {
        if let Some(setup) = &step.setup {
            instance.setup(setup).await;
        }
        let out = instance
            .command("bash")
            .args(["-e", "-o", "pipefail", "-c", &step.script])
            .output()
            .unwrap();
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
    }
}
