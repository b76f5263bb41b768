//! Each provider's rate limit as documented, counted per request and told in its own headers:
//! HubSpot 100 requests per rolling 10 s for a private app (`X-HubSpot-RateLimit-*`), Aircall
//! 60 per minute per company (`X-AircallApi-Limit/Remaining/Reset`), Meta 80 messages per
//! second per number (no headers; error 130429 past it).

use super::{documented, Answer};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Rule {
    provider: &'static str,
    max: u32,
    window: Duration,
}

const RULES: [Rule; 3] = [
    Rule {
        provider: "hubspot",
        max: 100,
        window: Duration::from_secs(10),
    },
    Rule {
        provider: "aircall",
        max: 60,
        window: Duration::from_secs(60),
    },
    Rule {
        provider: "whatsapp",
        max: 80,
        window: Duration::from_secs(1),
    },
];

/// HubSpot's daily budget for a private app on a professional account.
const HUBSPOT_DAILY: u32 = 650_000;

#[derive(Default)]
pub struct Budgets {
    /// Per rule: when its window began and the requests counted in it.
    windows: [Option<(Instant, u32)>; 3],
    hubspot_today: u32,
}

/// What one request costs: the headers its answer carries, or the provider's refusal.
pub enum Verdict {
    Within(Vec<(&'static str, String)>),
    Over(Answer),
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Budgets {
    /// Counts one request to `provider`.
    pub fn take(&mut self, provider: &str) -> Verdict {
        let Some(i) = RULES.iter().position(|r| r.provider == provider) else {
            return Verdict::Within(Vec::new());
        };
        let rule = &RULES[i];
        let now = Instant::now();
        let (started, used) = match self.windows[i] {
            Some((started, used)) if now.duration_since(started) < rule.window => (started, used),
            _ => (now, 0),
        };
        let used = used + 1;
        self.windows[i] = Some((started, used));
        if provider == "hubspot" {
            self.hubspot_today += 1;
        }
        let remaining = rule.max.saturating_sub(used);
        let reset = now_unix() + (rule.window - now.duration_since(started)).as_secs().max(1);
        let headers = match provider {
            "hubspot" => vec![
                ("x-hubspot-ratelimit-max", rule.max.to_string()),
                ("x-hubspot-ratelimit-remaining", remaining.to_string()),
                (
                    "x-hubspot-ratelimit-interval-milliseconds",
                    rule.window.as_millis().to_string(),
                ),
                ("x-hubspot-ratelimit-daily", HUBSPOT_DAILY.to_string()),
                (
                    "x-hubspot-ratelimit-daily-remaining",
                    HUBSPOT_DAILY.saturating_sub(self.hubspot_today).to_string(),
                ),
            ],
            "aircall" => vec![
                ("x-aircallapi-limit", rule.max.to_string()),
                ("x-aircallapi-remaining", remaining.to_string()),
                ("x-aircallapi-reset", reset.to_string()),
            ],
            _ => Vec::new(),
        };
        if used <= rule.max {
            return Verdict::Within(headers);
        }
        let name = match provider {
            "hubspot" => "429-ten-secondly",
            "aircall" => "429",
            _ => "130429",
        };
        let (status, _, body) =
            documented::answer(provider, name, now_unix()).expect("documented limit error");
        Verdict::Over((status, headers, body))
    }
}
