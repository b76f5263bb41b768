//! `mini-crm health URL`: one line about an instance from its `/healthz`, and the exit status 0
//! healthy, 1 degraded (a provider, the queue or the disk needs attention; the app serves), 2 down
//! or unreachable. It is what `scripts/health_check.sh` did with Python, which a server may lack
//! (and then every deploy would roll back). The details need `METRICS_TOKEN`.

use serde_json::Value;
use std::time::Duration;

/// The exit status and the line.
pub async fn check(url: &str, token: Option<&str>) -> (i32, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("the HTTP client initialises");
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(err) => return (2, format!("DOWN {url}: no answer ({err})")),
    };
    let code = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let Ok(health) = serde_json::from_str::<Value>(&body) else {
        let said: String = body.trim().chars().take(200).collect();
        let said = if said.is_empty() {
            "no answer".to_string()
        } else {
            said
        };
        return (2, format!("DOWN {url}: HTTP {code}, {said}"));
    };
    summary(url, code, &health)
}

fn summary(url: &str, code: u16, health: &Value) -> (i32, String) {
    let status = health["status"].as_str().unwrap_or("down");
    let database = &health["database"];
    if status == "down" || code != 200 {
        let detail = match database["ok"].as_bool() {
            Some(true) => ", database ok",
            Some(false) => ", database failing",
            None => "",
        };
        return (2, format!("DOWN {url}: HTTP {code}{detail}"));
    }
    let exit = if status == "ok" { 0 } else { 1 };
    let status = status.to_uppercase();
    if database.is_null() {
        return (
            exit,
            format!("{status} {url}: no details (set METRICS_TOKEN to see queues and breakers)"),
        );
    }
    let queues = health["queues"].as_object().cloned().unwrap_or_default();
    let sum = |field: &str| {
        queues
            .values()
            .filter_map(|q| q[field].as_i64())
            .sum::<i64>()
    };
    let oldest = queues
        .values()
        .filter_map(|q| q["oldest_pending_seconds"].as_i64())
        .max()
        .unwrap_or(0);
    let open: Vec<&String> = health["breakers"]
        .as_object()
        .map(|b| {
            b.iter()
                .filter(|(_, v)| v["state"] == "open")
                .map(|(k, _)| k)
                .collect()
        })
        .unwrap_or_default();
    let held: Vec<String> = queues
        .iter()
        .filter_map(|(name, q)| q["held"].as_str().map(|why| format!("{name} ({why})")))
        .collect();
    let mut line =
        format!(
        "{status} {url}: version {}, database {} ms, {} pending (oldest {oldest} s), {} failed, \
         breakers open: {}",
        health["version"].as_str().unwrap_or("?"),
        database["latency_ms"],
        sum("pending"),
        sum("failed"),
        if open.is_empty() {
            "none".to_string()
        } else {
            open.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        },
    );
    if !held.is_empty() {
        line.push_str(&format!(", held: {}", held.join(", ")));
    }
    if health["maintenance"] == true {
        line.push_str(", MAINTENANCE");
    }
    (exit, line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_line_and_an_exit_status_for_each_state() {
        let url = "http://x/healthz";
        assert_eq!(
            summary(url, 200, &json!({"status": "ok"})),
            (
                0,
                format!("OK {url}: no details (set METRICS_TOKEN to see queues and breakers)")
            )
        );
        assert_eq!(summary(url, 503, &json!({"status": "down"})).0, 2);
        let detailed = json!({
            "status": "degraded", "version": "0.1.0", "maintenance": true,
            "database": {"ok": true, "latency_ms": 0.52},
            "queues": {"inbound": {"pending": 2, "failed": 1, "oldest_pending_seconds": 40, "held": null},
                       "whatsapp": {"pending": 3, "failed": 0, "oldest_pending_seconds": 600, "held": "En pausa"}},
            "breakers": {"aircall": {"state": "open"}, "whatsapp": {"state": "closed"}},
        });
        assert_eq!(
            summary(url, 200, &detailed),
            (1, format!("DEGRADED {url}: version 0.1.0, database 0.52 ms, 5 pending (oldest 600 s), 1 failed, breakers open: aircall, held: whatsapp (En pausa), MAINTENANCE"))
        );
    }
}
