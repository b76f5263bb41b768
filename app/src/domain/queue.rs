//! Job queues and webhook providers: names shared by the database, the CLI and the UI.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// One queue per outside dependency, so one outage never blocks the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(rename_all = "lowercase"))]
pub enum Queue {
    Inbound,
    Whatsapp,
    Aircall,
    Hubspot,
}

impl Queue {
    pub const ALL: [Queue; 4] = [
        Queue::Inbound,
        Queue::Whatsapp,
        Queue::Aircall,
        Queue::Hubspot,
    ];
    /// The queues whose jobs call a provider's API (Ajustes pauses them; webhook processing is
    /// paused from the CLI only).
    pub const OUTBOUND: [Queue; 3] = [Queue::Whatsapp, Queue::Aircall, Queue::Hubspot];

    pub fn as_str(self) -> &'static str {
        match self {
            Queue::Inbound => "inbound",
            Queue::Whatsapp => "whatsapp",
            Queue::Aircall => "aircall",
            Queue::Hubspot => "hubspot",
        }
    }

    /// The provider whose API the queue's jobs call (`None` for webhook processing).
    pub fn provider(self) -> Option<Provider> {
        match self {
            Queue::Inbound => None,
            Queue::Whatsapp => Some(Provider::Whatsapp),
            Queue::Aircall => Some(Provider::Aircall),
            Queue::Hubspot => Some(Provider::Hubspot),
        }
    }
}

impl std::fmt::Display for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`: the CLI lines its columns up with `{:<9}`.
        f.pad(self.as_str())
    }
}

impl FromStr for Queue {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Queue::ALL
            .into_iter()
            .find(|q| q.as_str() == value)
            .ok_or_else(|| {
                format!("unknown queue {value:?}: expected inbound, whatsapp, aircall or hubspot")
            })
    }
}

/// Who sends webhooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(rename_all = "lowercase"))]
pub enum Provider {
    Whatsapp,
    Aircall,
    Hubspot,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::Whatsapp, Provider::Aircall, Provider::Hubspot];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Whatsapp => "whatsapp",
            Provider::Aircall => "aircall",
            Provider::Hubspot => "hubspot",
        }
    }

    /// The name staff see.
    pub fn label(self) -> &'static str {
        match self {
            Provider::Whatsapp => "WhatsApp",
            Provider::Aircall => "Aircall",
            Provider::Hubspot => "HubSpot",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`: the CLI lines its columns up with `{:<9}`.
        f.pad(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == value)
            .ok_or_else(|| {
                format!("unknown provider {value:?}: expected whatsapp, aircall or hubspot")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for queue in Queue::ALL {
            assert_eq!(queue.as_str().parse::<Queue>(), Ok(queue));
        }
        for provider in Provider::ALL {
            assert_eq!(provider.as_str().parse::<Provider>(), Ok(provider));
        }
        assert!("email".parse::<Queue>().is_err());
        assert!("twilio".parse::<Provider>().is_err());
    }

    #[test]
    fn names_fill_the_width_they_are_given() {
        assert_eq!(
            format!("{:<9}|{:>9}", Queue::Inbound, Provider::Hubspot),
            "inbound  |  hubspot"
        );
    }
}
