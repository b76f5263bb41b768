//! Configuration from the environment (12-factor; `.env` is loaded by the binary before this).

use anyhow::{bail, Context};
use std::net::SocketAddr;

/// The longest `JOB_LOCK_TIMEOUT`: a week (beyond it, a dead worker's job would wait longer
/// than anyone would, and date arithmetic could overflow).
const MAX_JOB_LOCK_TIMEOUT: i64 = 7 * 24 * 3600;

/// The longest retention a setting may ask for: ten years (longer is "forever", which the
/// tables are not made for).
const MAX_RETENTION_DAYS: i64 = 3650;

/// More proxies than this in front of one app is a mistake in the setting, not a set-up.
const MAX_PROXY_HOPS: usize = 5;

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    /// `APP_ENV=production`: destructive commands ask for more (`migrate --fresh --confirm`).
    pub production: bool,
    pub site_addr: SocketAddr,
    /// Directory holding `pkg/` (the wasm bundle), the CSS and `public/` assets.
    pub site_root: String,
    /// The public URL of this installation: cross-site checks and cookie `Secure` derive from it.
    pub app_url: String,
    pub timezone: chrono_tz::Tz,
    /// Believe `X-Forwarded-For` / `X-Forwarded-Host` (only behind a proxy that sets them).
    pub trust_proxy_headers: bool,
    /// How many proxies in front of the app append to `X-Forwarded-For` (`TRUSTED_PROXY_HOPS`):
    /// the client is the entry the outermost of them appended, counted from the right.
    pub trusted_proxy_hops: usize,
    /// Webhook secrets; a provider whose secret is unset refuses its webhooks.
    pub whatsapp_app_secret: Option<Secret>,
    pub whatsapp_verify_token: Option<Secret>,
    pub aircall_webhook_token: Option<Secret>,
    pub hubspot_client_secret: Option<Secret>,
    /// A `running` job whose lock is older than this is taken back (`JOB_LOCK_TIMEOUT`, seconds).
    pub job_lock_timeout_seconds: i64,
    /// Done jobs are deleted after this many days (`JOBS_RETENTION_DAYS`, 30).
    pub jobs_retention_days: i64,
    /// Processed webhook deliveries are deleted after this many days (`WEBHOOKS_RETENTION_DAYS`,
    /// 90). Failed and pending ones are kept until handled.
    pub webhooks_retention_days: i64,
    /// The approved WhatsApp template of appointment reminders, also offered on a lead's page
    /// outside the 24-hour window (`WHATSAPP_REMINDER_TEMPLATE`).
    pub whatsapp_reminder_template: String,
    /// The language code the template was approved in (`WHATSAPP_TEMPLATE_LANGUAGE`, `es_ES`).
    pub whatsapp_template_language: String,
    /// The values of the template's body variables, in order (`WHATSAPP_REMINDER_PARAMETERS`,
    /// `fecha,hora`).
    pub whatsapp_reminder_parameters: Vec<TemplateValue>,
    /// The clinic's name, for a template that says it (`CLINIC_NAME`).
    pub clinic_name: Option<String>,
    /// Sending WhatsApp messages: unset token or number id → messages wait in the queue.
    pub whatsapp_access_token: Option<Secret>,
    pub whatsapp_phone_number_id: Option<String>,
    pub whatsapp_api_base: String,
    /// Click-to-call through Aircall's API: unset id or token → dial requests wait in the queue.
    pub aircall_api_id: Option<String>,
    pub aircall_api_token: Option<Secret>,
    pub aircall_api_base: String,
    /// Contact sync: unset token → sync jobs wait in the queue.
    pub hubspot_access_token: Option<Secret>,
    pub hubspot_api_base: String,
    /// The unique contact property that carries each lead's random key in HubSpot
    /// (`HUBSPOT_LEAD_KEY_PROPERTY`, created by `mini-crm hubspot setup`): contacts are matched by
    /// it, so a create repeated after a lost answer finds the contact it made.
    pub hubspot_lead_key_property: String,
    /// `GET /metrics` answers only with this bearer token; unset → the route is off (404).
    pub metrics_token: Option<Secret>,
}

/// A value a reminder template's body variable takes, as `WHATSAPP_REMINDER_PARAMETERS`
/// names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateValue {
    /// The lead's name (`nombre`).
    Name,
    /// The appointment's local date, `14/10/2026` (`fecha`).
    Date,
    /// The appointment's local time, `16:30` (`hora`).
    Time,
    /// `CLINIC_NAME` (`clinica`).
    Clinic,
}

impl TemplateValue {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "nombre" => Some(TemplateValue::Name),
            "fecha" => Some(TemplateValue::Date),
            "hora" => Some(TemplateValue::Time),
            "clinica" | "clínica" => Some(TemplateValue::Clinic),
            _ => None,
        }
    }
}

/// A secret from the environment. Its `Debug` never shows it, so configuration can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://storage/database.sqlite";

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads through `lookup`, so tests can configure without touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |name: &str, default: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let site_addr = get("LEPTOS_SITE_ADDR", "127.0.0.1:3000");
        let site_addr = site_addr.parse().with_context(|| {
            format!("LEPTOS_SITE_ADDR={site_addr:?} is not an address like 127.0.0.1:3000")
        })?;
        let app_url = get("APP_URL", &format!("http://{site_addr}"));
        let app_url = app_url.trim_end_matches('/').to_string();
        if !(app_url.starts_with("http://") || app_url.starts_with("https://")) {
            bail!("APP_URL={app_url:?} must start with http:// or https://");
        }
        let timezone = get("APP_TIMEZONE", "Europe/Madrid");
        let timezone = timezone.parse().map_err(|_| {
            anyhow::anyhow!(
                "APP_TIMEZONE={timezone:?} is not an IANA time zone such as Europe/Madrid"
            )
        })?;
        let trust_proxy_headers = match get("TRUST_PROXY_HEADERS", "false").to_lowercase().as_str()
        {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            other => bail!("TRUST_PROXY_HEADERS={other:?} must be true or false"),
        };
        let hops = get("TRUSTED_PROXY_HOPS", "1");
        let trusted_proxy_hops = hops
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PROXY_HOPS).contains(n))
            .with_context(|| {
                format!("TRUSTED_PROXY_HOPS={hops:?} must be a number from 1 to {MAX_PROXY_HOPS}")
            })?;
        let secret = |name: &str| lookup(name).filter(|v| !v.trim().is_empty()).map(Secret);
        let job_lock_timeout = get("JOB_LOCK_TIMEOUT", "300");
        let job_lock_timeout_seconds = job_lock_timeout
            .parse::<i64>()
            .ok()
            .filter(|s| (1..=MAX_JOB_LOCK_TIMEOUT).contains(s))
            .with_context(|| {
                format!(
                    "JOB_LOCK_TIMEOUT={job_lock_timeout:?} must be a number of seconds from 1 to \
                     {MAX_JOB_LOCK_TIMEOUT} (a week)"
                )
            })?;
        let days = |name: &str, default: &str| {
            let value = get(name, default);
            value
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|d| (1..=MAX_RETENTION_DAYS).contains(d))
                .with_context(|| {
                    format!(
                        "{name}={value:?} must be a number of days from 1 to {MAX_RETENTION_DAYS}"
                    )
                })
        };
        // A .env carried over from the Laravel app names its database DB_URL: without this, the
        // default SQLite file would be used (or made) instead, and look like an empty clinic.
        if lookup("DATABASE_URL").is_none_or(|v| v.trim().is_empty())
            && lookup("DB_URL").is_some_and(|v| !v.trim().is_empty())
        {
            bail!(
                "DB_URL is set but DATABASE_URL is not: DB_URL is the Laravel app's name; \
                 mini-crm reads DATABASE_URL (e.g. sqlite://storage/database.sqlite)"
            );
        }
        let database_url = get("DATABASE_URL", DEFAULT_DATABASE_URL);
        // Checked before any command looks for the file (see `db::check_url`).
        super::db::check_url(&database_url)?;
        let jobs_retention_days = days("JOBS_RETENTION_DAYS", "30")?;
        let webhooks_retention_days = days("WEBHOOKS_RETENTION_DAYS", "90")?;
        let whatsapp_template_language = get("WHATSAPP_TEMPLATE_LANGUAGE", "es_ES")
            .trim()
            .to_string();
        let language_ok = {
            let (lang, region) = whatsapp_template_language
                .split_once('_')
                .unwrap_or((&whatsapp_template_language, "AA"));
            lang.len() == 2
                && lang.chars().all(|c| c.is_ascii_lowercase())
                && region.len() == 2
                && region.chars().all(|c| c.is_ascii_uppercase())
        };
        if !language_ok {
            bail!(
                "WHATSAPP_TEMPLATE_LANGUAGE={whatsapp_template_language:?}: the code the template \
                 was approved in, such as es_ES or es"
            );
        }
        let parameters = get("WHATSAPP_REMINDER_PARAMETERS", "fecha,hora");
        let whatsapp_reminder_parameters = parameters
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty() && *p != "-")
            .map(|p| {
                TemplateValue::parse(p).with_context(|| {
                    format!(
                        "WHATSAPP_REMINDER_PARAMETERS={parameters:?}: {p:?} is none of nombre, \
                         fecha, hora, clinica"
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let clinic_name = lookup("CLINIC_NAME")
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        if whatsapp_reminder_parameters.contains(&TemplateValue::Clinic) && clinic_name.is_none() {
            bail!(
                "WHATSAPP_REMINDER_PARAMETERS uses clinica: set CLINIC_NAME to the clinic's name"
            );
        }
        let hubspot_lead_key_property = get("HUBSPOT_LEAD_KEY_PROPERTY", "mini_crm_lead_key");
        let property_ok = hubspot_lead_key_property
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
            && hubspot_lead_key_property
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !hubspot_lead_key_property.starts_with("hs_");
        if !property_ok {
            bail!(
                "HUBSPOT_LEAD_KEY_PROPERTY={hubspot_lead_key_property:?}: an internal property name \
                 of lowercase letters, digits and _, not starting with hs_"
            );
        }
        let production = match get("APP_ENV", "development").trim() {
            "production" => true,
            "development" => false,
            other => bail!("APP_ENV={other:?}: expected production or development"),
        };
        Ok(Self {
            whatsapp_app_secret: secret("WHATSAPP_APP_SECRET"),
            whatsapp_verify_token: secret("WHATSAPP_VERIFY_TOKEN"),
            aircall_webhook_token: secret("AIRCALL_WEBHOOK_TOKEN"),
            hubspot_client_secret: secret("HUBSPOT_CLIENT_SECRET"),
            job_lock_timeout_seconds,
            jobs_retention_days,
            webhooks_retention_days,
            whatsapp_reminder_template: get("WHATSAPP_REMINDER_TEMPLATE", "recordatorio_cita"),
            whatsapp_template_language,
            whatsapp_reminder_parameters,
            clinic_name,
            whatsapp_access_token: secret("WHATSAPP_ACCESS_TOKEN"),
            whatsapp_phone_number_id: lookup("WHATSAPP_PHONE_NUMBER_ID")
                .map(|id| id.trim().to_string())
                .filter(|id| !id.is_empty()),
            whatsapp_api_base: get("WHATSAPP_API_BASE", "https://graph.facebook.com/v21.0"),
            aircall_api_id: lookup("AIRCALL_API_ID")
                .map(|id| id.trim().to_string())
                .filter(|id| !id.is_empty()),
            aircall_api_token: secret("AIRCALL_API_TOKEN"),
            aircall_api_base: get("AIRCALL_API_BASE", "https://api.aircall.io"),
            hubspot_access_token: secret("HUBSPOT_ACCESS_TOKEN"),
            hubspot_api_base: get("HUBSPOT_API_BASE", "https://api.hubapi.com"),
            hubspot_lead_key_property,
            metrics_token: secret("METRICS_TOKEN"),
            database_url,
            production,
            site_addr,
            site_root: get("LEPTOS_SITE_ROOT", "target/site"),
            app_url,
            timezone,
            trust_proxy_headers,
            trusted_proxy_hops,
        })
    }

    /// Cookies are `Secure` when the installation is served over HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.app_url.starts_with("https://")
    }

    /// `scheme://host[:port]` of `APP_URL`, the origin browsers send on same-site requests.
    pub fn app_origin(&self) -> &str {
        let after_scheme = self.app_url.find("://").map_or(0, |i| i + 3);
        match self.app_url[after_scheme..].find('/') {
            Some(slash) => &self.app_url[..after_scheme + slash],
            None => &self.app_url,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_spec() {
        let config = config(&[]).unwrap();
        assert_eq!(config.database_url, "sqlite://storage/database.sqlite");
        assert_eq!(config.site_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(config.timezone, chrono_tz::Europe::Madrid);
        assert_eq!(config.app_url, "http://127.0.0.1:3000");
        assert!(!config.secure_cookies());
        assert!(!config.trust_proxy_headers);
    }

    #[test]
    fn retention_is_whole_days_from_one_to_ten_years() {
        let defaults = config(&[]).unwrap();
        assert_eq!(
            (
                defaults.jobs_retention_days,
                defaults.webhooks_retention_days
            ),
            (30, 90)
        );
        let set = config(&[
            ("JOBS_RETENTION_DAYS", "7"),
            ("WEBHOOKS_RETENTION_DAYS", "365"),
        ])
        .unwrap();
        assert_eq!(
            (set.jobs_retention_days, set.webhooks_retention_days),
            (7, 365)
        );
        for bad in ["0", "-1", "3651", "30d"] {
            let refused = config(&[("JOBS_RETENTION_DAYS", bad)])
                .unwrap_err()
                .to_string();
            assert!(
                refused.contains("must be a number of days from 1 to 3650"),
                "{bad}: {refused}"
            );
        }
    }

    #[test]
    fn the_hubspot_lead_key_property_is_a_name_hubspot_accepts() {
        assert_eq!(
            config(&[]).unwrap().hubspot_lead_key_property,
            "mini_crm_lead_key"
        );
        let set = config(&[("HUBSPOT_LEAD_KEY_PROPERTY", "clinica_norte_lead_key")]).unwrap();
        assert_eq!(set.hubspot_lead_key_property, "clinica_norte_lead_key");
        for bad in ["Lead", "1lead", "lead-id", "hs_lead", "lead id"] {
            let refused = config(&[("HUBSPOT_LEAD_KEY_PROPERTY", bad)])
                .unwrap_err()
                .to_string();
            assert!(
                refused.contains("HUBSPOT_LEAD_KEY_PROPERTY"),
                "{bad}: {refused}"
            );
        }
    }

    #[test]
    fn a_laravel_db_url_alone_is_refused_not_replaced_by_the_default_database() {
        let refused = config(&[("DB_URL", "mysql://crm@db/crm")])
            .unwrap_err()
            .to_string();
        assert!(refused.contains("mini-crm reads DATABASE_URL"), "{refused}");
        let both = config(&[
            ("DB_URL", "mysql://crm@db/crm"),
            ("DATABASE_URL", "sqlite://x.sqlite"),
        ])
        .unwrap();
        assert_eq!(both.database_url, "sqlite://x.sqlite");
    }

    #[test]
    fn the_template_language_and_parameters_are_checked_at_start() {
        let defaults = config(&[]).unwrap();
        assert_eq!(defaults.whatsapp_template_language, "es_ES");
        assert_eq!(
            defaults.whatsapp_reminder_parameters,
            [TemplateValue::Date, TemplateValue::Time]
        );
        let set = config(&[
            ("WHATSAPP_TEMPLATE_LANGUAGE", "es"),
            ("WHATSAPP_REMINDER_PARAMETERS", "nombre, fecha,hora,clinica"),
            ("CLINIC_NAME", "Clínica Retiro"),
        ])
        .unwrap();
        assert_eq!(set.whatsapp_template_language, "es");
        assert_eq!(set.whatsapp_reminder_parameters.len(), 4);
        let none = config(&[("WHATSAPP_REMINDER_PARAMETERS", "-")]).unwrap();
        assert!(none.whatsapp_reminder_parameters.is_empty());
        for (vars, said) in [
            (
                vec![("WHATSAPP_TEMPLATE_LANGUAGE", "spanish")],
                "es_ES or es",
            ),
            (
                vec![("WHATSAPP_REMINDER_PARAMETERS", "fecha,dia")],
                "\"dia\" is none of",
            ),
            (
                vec![("WHATSAPP_REMINDER_PARAMETERS", "clinica")],
                "set CLINIC_NAME",
            ),
        ] {
            let refused = format!("{:#}", config(&vars).unwrap_err());
            assert!(refused.contains(said), "{refused}");
        }
    }

    #[test]
    fn app_env_is_production_or_development_and_nothing_else() {
        assert!(!config(&[]).unwrap().production);
        assert!(config(&[("APP_ENV", "production")]).unwrap().production);
        assert!(!config(&[("APP_ENV", "development")]).unwrap().production);
        // A typo must not quietly drop production's safeguards.
        let refused = config(&[("APP_ENV", "prod")]).unwrap_err().to_string();
        assert!(
            refused.contains("expected production or development"),
            "{refused}"
        );
    }

    #[test]
    fn https_app_url_makes_cookies_secure_and_gives_the_origin() {
        let config = config(&[("APP_URL", "https://crm.clinica.es/base/")]).unwrap();
        assert!(config.secure_cookies());
        assert_eq!(config.app_origin(), "https://crm.clinica.es");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let config = config(&[
            ("WHATSAPP_APP_SECRET", "s3cr3t-value"),
            ("AIRCALL_WEBHOOK_TOKEN", " "),
        ])
        .unwrap();
        assert_eq!(
            config.whatsapp_app_secret.as_ref().map(Secret::expose),
            Some("s3cr3t-value")
        );
        assert_eq!(config.aircall_webhook_token, None, "blank is unset");
        assert!(!format!("{config:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_job_lock_timeout_is_a_second_to_a_week() {
        assert_eq!(
            config(&[("JOB_LOCK_TIMEOUT", "604800")])
                .unwrap()
                .job_lock_timeout_seconds,
            604800
        );
        for bad in ["0", "-5", "604801", "9223372036854775807", "5m"] {
            let err = config(&[("JOB_LOCK_TIMEOUT", bad)])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("JOB_LOCK_TIMEOUT") && err.contains("from 1 to 604800"),
                "{err}"
            );
        }
    }

    #[test]
    fn proxy_hops_are_one_to_five() {
        assert_eq!(config(&[]).unwrap().trusted_proxy_hops, 1);
        assert_eq!(
            config(&[("TRUSTED_PROXY_HOPS", "2")])
                .unwrap()
                .trusted_proxy_hops,
            2
        );
        for bad in ["0", "6", "-1", "two"] {
            let err = config(&[("TRUSTED_PROXY_HOPS", bad)]).unwrap_err();
            assert!(err.to_string().contains("from 1 to 5"), "{err}");
        }
    }

    #[test]
    fn bad_values_are_named_in_the_error() {
        let err = config(&[("APP_TIMEZONE", "Mars/Olympus")]).unwrap_err();
        assert!(err.to_string().contains("APP_TIMEZONE"));
        let err = config(&[("LEPTOS_SITE_ADDR", "nowhere")]).unwrap_err();
        assert!(err.to_string().contains("LEPTOS_SITE_ADDR"));
    }
}
