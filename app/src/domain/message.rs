//! WhatsApp messages staff send from a lead's page, and the 24-hour rule that decides which kind.

use super::Timestamp;
use crate::error::AppError;
use serde::{Deserialize, Serialize};

/// Which way a message or a call went: from the patient, or from the clinic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(rename_all = "lowercase"))]
pub enum Direction {
    Inbound,
    Outbound,
}

/// A message's state: `received` for the patient's, WhatsApp's ladder for the clinic's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(rename_all = "lowercase"))]
pub enum MessageStatus {
    Received,
    Queued,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl MessageStatus {
    /// A status Meta reports for a message we sent. Others it documents (`played`, `deleted`,
    /// `warning`) are none of the ladder's and change nothing.
    pub fn from_meta(name: &str) -> Option<Self> {
        match name {
            "sent" => Some(MessageStatus::Sent),
            "delivered" => Some(MessageStatus::Delivered),
            "read" => Some(MessageStatus::Read),
            "failed" => Some(MessageStatus::Failed),
            _ => None,
        }
    }

    /// SPEC §2: queued → sent → delivered → read only forward; `failed` replaces only queued or
    /// sent; delivered and read replace failed.
    pub fn moves_to(self, next: MessageStatus) -> bool {
        use MessageStatus::*;
        let rank = |status| match status {
            Queued => Some(0),
            Sent => Some(1),
            Delivered => Some(2),
            Read => Some(3),
            Received | Failed => None,
        };
        match (self, next) {
            (current, Failed) => matches!(current, Queued | Sent),
            (Failed, next) => matches!(next, Delivered | Read),
            (current, next) => {
                matches!((rank(current), rank(next)), (Some(c), Some(n)) if n > c)
            }
        }
    }
}

/// Meta lets a business write freely only within 24 hours of the lead's last inbound message;
/// outside that window only approved templates may be sent.
pub const SERVICE_WINDOW_SECONDS: i64 = 24 * 3600;

/// Whether free text may be sent at `now`, given the lead's last inbound message.
pub fn window_open(last_inbound: Option<Timestamp>, now: Timestamp) -> bool {
    last_inbound.is_some_and(|at| at >= now.plus_seconds(-SERVICE_WINDOW_SECONDS) && at <= now)
}

/// A message staff asked to send, checked against the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutboundDraft {
    Text(String),
    Template(String),
}

impl OutboundDraft {
    pub const TEXT_MAX_CHARS: usize = 4096;

    /// `text` is used when non-empty, else `template`.
    pub fn parse(text: &str, template: &str, window_open: bool) -> Result<Self, AppError> {
        let (text, template) = (text.trim(), template.trim());
        if !text.is_empty() {
            if !window_open {
                return Err(AppError::invalid(
                    "body",
                    "Han pasado más de 24 horas desde el último mensaje del lead: solo se puede enviar una plantilla.",
                ));
            }
            if text.chars().count() > Self::TEXT_MAX_CHARS {
                return Err(AppError::invalid(
                    "body",
                    format!(
                        "El mensaje no puede pasar de {} caracteres.",
                        Self::TEXT_MAX_CHARS
                    ),
                ));
            }
            return Ok(OutboundDraft::Text(text.to_string()));
        }
        let valid_name = !template.is_empty()
            && template.len() <= 512
            && template
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        match (template.is_empty(), valid_name) {
            (true, _) if window_open => Err(AppError::invalid("body", "Escribe el mensaje.")),
            (true, _) => Err(AppError::invalid(
                "template",
                "Elige la plantilla que quieres enviar.",
            )),
            (false, false) => Err(AppError::invalid(
                "template",
                "El nombre de la plantilla solo lleva minúsculas, números y guiones bajos.",
            )),
            (false, true) => Ok(OutboundDraft::Template(template.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_only_move_forward() {
        use MessageStatus::*;
        assert!(Queued.moves_to(Sent));
        assert!(Sent.moves_to(Read));
        assert!(!Read.moves_to(Delivered));
        assert!(!Delivered.moves_to(Sent));
        assert!(!Read.moves_to(Read));
        assert!(Sent.moves_to(Failed));
        assert!(!Delivered.moves_to(Failed));
        assert!(Failed.moves_to(Delivered));
        assert!(Failed.moves_to(Read));
        assert!(!Failed.moves_to(Sent));
        assert!(!Received.moves_to(Sent));
        assert_eq!(MessageStatus::from_meta("played"), None);
        assert_eq!(MessageStatus::from_meta("read"), Some(Read));
    }

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn the_window_lasts_24_hours_from_the_last_inbound_message() {
        let now = at("2025-03-02T12:00:00Z");
        assert!(window_open(Some(at("2025-03-02T11:59:00Z")), now));
        assert!(
            window_open(Some(at("2025-03-01T12:00:00Z")), now),
            "exactly 24 h"
        );
        assert!(!window_open(Some(at("2025-03-01T11:59:59Z")), now));
        assert!(!window_open(None, now), "a lead who never wrote");
    }

    #[test]
    fn free_text_only_inside_the_window() {
        assert_eq!(
            OutboundDraft::parse(" Hola ", "", true),
            Ok(OutboundDraft::Text("Hola".into()))
        );
        assert!(OutboundDraft::parse("Hola", "", false).is_err());
        assert_eq!(
            OutboundDraft::parse("", "recordatorio_cita", false),
            Ok(OutboundDraft::Template("recordatorio_cita".into()))
        );
        assert_eq!(
            OutboundDraft::parse("", "recordatorio_cita", true),
            Ok(OutboundDraft::Template("recordatorio_cita".into()))
        );
        assert!(OutboundDraft::parse("", "", true).is_err());
        assert!(OutboundDraft::parse("", "", false).is_err());
        assert!(OutboundDraft::parse("", "Recordatorio Cita", false).is_err());
        assert!(OutboundDraft::parse(&"a".repeat(4097), "", true).is_err());
    }
}
