//! What a patient's WhatsApp message carried, whatever its type: read from Meta's message object
//! (`messages[]` of a webhook, each type as Meta's webhook reference documents it), stored as our
//! own JSON in `messages.content`, and told in one Spanish line on the lead's timeline. Nothing a
//! patient sends arrives empty: a type this code does not know is kept with its name.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    Text {
        body: String,
    },
    /// An image, video, audio, document or sticker: the file stays at Meta, fetched by its id.
    Media {
        kind: MediaKind,
        media_id: String,
        mime_type: Option<String>,
        caption: Option<String>,
        filename: Option<String>,
    },
    /// A tap on an interactive message's button or list row.
    Reply {
        title: String,
        id: String,
        description: Option<String>,
    },
    /// A tap on a template's quick-reply button.
    TemplateButton {
        text: String,
        payload: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    /// Contact cards the patient shared.
    Contacts {
        cards: Vec<SharedContact>,
    },
    /// A reaction to one of the conversation's messages; without an emoji it takes one back.
    Reaction {
        message_id: String,
        emoji: Option<String>,
    },
    /// A type this code does not read (or one missing what makes it readable): kept with its
    /// type, never dropped.
    Unread {
        kind: String,
    },
    /// What WhatsApp itself says it cannot deliver to the clinic (`unsupported`), with its error.
    Unsupported {
        kind: String,
        code: Option<i64>,
        title: Option<String>,
        detail: Option<String>,
    },
    /// A notice from WhatsApp about the patient (a number or user id changed).
    System {
        body: String,
        kind: Option<String>,
        /// The new number of a `user_changed_number`.
        #[serde(default)]
        new_number: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
    Sticker,
}

impl MediaKind {
    fn label(self) -> &'static str {
        match self {
            MediaKind::Image => "Imagen",
            MediaKind::Video => "Vídeo",
            MediaKind::Audio => "Audio",
            MediaKind::Document => "Documento",
            MediaKind::Sticker => "Sticker",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedContact {
    pub name: String,
    pub phones: Vec<String>,
}

fn text(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Content {
    /// Reads a message object of Meta's webhook by its `type`.
    pub fn from_meta(message: &Value) -> Content {
        let kind = message
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        let part = message.get(kind).unwrap_or(&Value::Null);
        let media = |media_kind| {
            Some(Content::Media {
                kind: media_kind,
                media_id: text(part, "id")?,
                mime_type: text(part, "mime_type"),
                caption: text(part, "caption"),
                filename: text(part, "filename"),
            })
        };
        let read = match kind {
            "text" => text(part, "body").map(|body| Content::Text { body }),
            "image" => media(MediaKind::Image),
            "video" => media(MediaKind::Video),
            "audio" => media(MediaKind::Audio),
            "document" => media(MediaKind::Document),
            "sticker" => media(MediaKind::Sticker),
            "interactive" => ["button_reply", "list_reply"].iter().find_map(|reply| {
                let reply = part.get(*reply)?;
                Some(Content::Reply {
                    title: text(reply, "title")?,
                    id: text(reply, "id").unwrap_or_default(),
                    description: text(reply, "description"),
                })
            }),
            "button" => text(part, "text").map(|button_text| Content::TemplateButton {
                text: button_text,
                payload: text(part, "payload"),
            }),
            "location" => part
                .get("latitude")
                .and_then(Value::as_f64)
                .zip(part.get("longitude").and_then(Value::as_f64))
                .map(|(latitude, longitude)| Content::Location {
                    latitude,
                    longitude,
                    name: text(part, "name"),
                    address: text(part, "address"),
                }),
            "contacts" => message
                .get("contacts")
                .and_then(Value::as_array)
                .map(|cards| Content::Contacts {
                    cards: cards.iter().map(shared_contact).collect(),
                }),
            "reaction" => text(part, "message_id").map(|message_id| Content::Reaction {
                message_id,
                emoji: text(part, "emoji"),
            }),
            "system" => text(part, "body").map(|body| Content::System {
                body,
                kind: text(part, "type"),
                new_number: text(part, "wa_id"),
            }),
            _ => None,
        };
        read.unwrap_or_else(|| unsupported(kind, message))
    }

    /// The patient's own words in it (text, caption, the tapped title), for the message's `body`.
    pub fn words(&self) -> Option<String> {
        match self {
            Content::Text { body } => Some(body.clone()),
            Content::Media { caption, .. } => caption.clone(),
            Content::Reply { title, .. } => Some(title.clone()),
            Content::TemplateButton { text, .. } => Some(text.clone()),
            Content::Location { name, .. } => name.clone(),
            _ => None,
        }
    }

    /// One Spanish line for the timeline; never empty.
    pub fn line(&self) -> String {
        match self {
            Content::Text { body } => body.clone(),
            Content::Media {
                kind,
                media_id,
                mime_type,
                caption,
                filename,
            } => {
                let mut line = kind.label().to_string();
                if let Some(filename) = filename {
                    line.push_str(&format!(" «{filename}»"));
                }
                if let Some(mime_type) = mime_type {
                    line.push_str(&format!(" ({mime_type})"));
                }
                if let Some(caption) = caption {
                    line.push_str(&format!(": {caption}"));
                }
                line.push_str(&format!(" · archivo {media_id} en WhatsApp"));
                line
            }
            Content::Reply {
                title,
                id,
                description,
            } => {
                let mut line = format!("Pulsó «{title}»");
                if let Some(description) = description {
                    line.push_str(&format!(" ({description})"));
                }
                if !id.is_empty() {
                    line.push_str(&format!(" · opción {id}"));
                }
                line
            }
            Content::TemplateButton { text, .. } => format!("Pulsó el botón «{text}»"),
            Content::Location {
                latitude,
                longitude,
                name,
                address,
            } => {
                let place = [name.as_deref(), address.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ");
                let place = if place.is_empty() {
                    String::new()
                } else {
                    format!("{place} ")
                };
                format!("Ubicación: {place}({latitude}, {longitude})")
            }
            Content::Contacts { cards } => {
                let cards: Vec<String> = cards
                    .iter()
                    .map(|card| {
                        if card.phones.is_empty() {
                            card.name.clone()
                        } else {
                            format!("{} ({})", card.name, card.phones.join(", "))
                        }
                    })
                    .collect();
                format!("Contacto compartido: {}", cards.join("; "))
            }
            Content::Reaction { emoji, .. } => match emoji {
                Some(emoji) => format!("Reaccionó con {emoji}"),
                None => "Quitó su reacción".to_string(),
            },
            Content::Unsupported {
                kind,
                code,
                title,
                detail,
            } => {
                let mut line = format!("Mensaje que WhatsApp no entrega a la clínica ({kind})");
                let error: Vec<String> =
                    [code.map(|c| c.to_string()), title.clone(), detail.clone()]
                        .into_iter()
                        .flatten()
                        .collect();
                if !error.is_empty() {
                    line.push_str(&format!(": {}", error.join(" · ")));
                }
                line
            }
            Content::Unread { kind } => {
                format!("Mensaje de tipo «{kind}» que mini-crm aún no sabe mostrar")
            }
            Content::System {
                body,
                kind,
                new_number,
            } => match (kind.as_deref(), new_number) {
                (Some("user_changed_number"), Some(number)) => format!(
                    "WhatsApp avisa: cambió su número a +{}",
                    number.trim_start_matches('+')
                ),
                (Some("user_changed_user_id"), _) => {
                    "WhatsApp avisa: su identificador de usuario cambió".to_string()
                }
                _ => format!("Aviso de WhatsApp: {body}"),
            },
        }
    }

    /// A map of a shared location: built from its two numbers only, so nothing a patient wrote
    /// reaches a link.
    pub fn map_link(&self) -> Option<String> {
        match self {
            Content::Location {
                latitude,
                longitude,
                ..
            } if latitude.is_finite() && longitude.is_finite() => Some(format!(
                "https://www.openstreetmap.org/?mlat={latitude}&mlon={longitude}#map=17/{latitude}/{longitude}"
            )),
            _ => None,
        }
    }

    /// Which of our kinds (`messages.kind`) it is stored as.
    pub fn stored_kind(&self) -> &'static str {
        match self {
            Content::Text { .. } | Content::Reply { .. } | Content::TemplateButton { .. } => "text",
            Content::Media { .. } => "media",
            _ => "other",
        }
    }
}

fn shared_contact(card: &Value) -> SharedContact {
    let name = card
        .get("name")
        .and_then(|name| {
            text(name, "formatted_name").or_else(|| {
                let parts: Vec<String> = ["first_name", "last_name"]
                    .iter()
                    .filter_map(|k| text(name, k))
                    .collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            })
        })
        .unwrap_or_else(|| "(sin nombre)".to_string());
    let phones = card
        .get("phones")
        .and_then(Value::as_array)
        .map(|phones| {
            phones
                .iter()
                .filter_map(|p| {
                    text(p, "phone").or_else(|| text(p, "wa_id").map(|w| format!("+{w}")))
                })
                .collect()
        })
        .unwrap_or_default();
    SharedContact { name, phones }
}

/// A message that did not read as its type: WhatsApp's `unsupported` with its error, or a type
/// (or a shape) this code does not read.
fn unsupported(kind: &str, message: &Value) -> Content {
    if kind != "unsupported" {
        return Content::Unread {
            kind: kind.to_string(),
        };
    }
    let error = message
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|errors| errors.first());
    let kind = match kind {
        "unsupported" => message
            .get("unsupported")
            .and_then(|u| text(u, "type"))
            .unwrap_or_else(|| kind.to_string()),
        other => other.to_string(),
    };
    Content::Unsupported {
        kind,
        code: error.and_then(|e| e.get("code")?.as_i64()),
        title: error.and_then(|e| text(e, "title")),
        detail: error.and_then(|e| e.get("error_data").and_then(|d| text(d, "details"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_type_reads_into_a_line_that_is_never_empty() {
        let cases = [
            (json!({"type": "text", "text": {"body": "Hola"}}), "Hola"),
            (
                json!({"type": "document", "document": {"caption": "Informe", "filename": "a.pdf",
                       "mime_type": "application/pdf", "id": "622"}}),
                "Documento «a.pdf» (application/pdf): Informe · archivo 622 en WhatsApp",
            ),
            (
                json!({"type": "interactive", "interactive": {"type": "list_reply",
                       "list_reply": {"id": "slot_1", "title": "Martes 14", "description": "Dra. Ruiz"}}}),
                "Pulsó «Martes 14» (Dra. Ruiz) · opción slot_1",
            ),
            (
                json!({"type": "button", "button": {"payload": "x", "text": "Cancelar cita"}}),
                "Pulsó el botón «Cancelar cita»",
            ),
            (
                json!({"type": "location", "location": {"latitude": 40.4222, "longitude": -3.6794,
                       "name": "Clínica", "address": "Calle 1"}}),
                "Ubicación: Clínica, Calle 1 (40.4222, -3.6794)",
            ),
            (
                json!({"type": "reaction", "reaction": {"message_id": "wamid.1"}}),
                "Quitó su reacción",
            ),
            (
                json!({"type": "unsupported", "unsupported": {"type": "poll_creation"},
                       "errors": [{"code": 131051, "title": "Message type unknown",
                                   "error_data": {"details": "Not supported."}}]}),
                "Mensaje que WhatsApp no entrega a la clínica (poll_creation): 131051 · Message type unknown · Not supported.",
            ),
            (
                json!({"type": "order", "order": {}}),
                "Mensaje de tipo «order» que mini-crm aún no sabe mostrar",
            ),
            (
                json!({"type": "image", "image": {"mime_type": "image/jpeg"}}),
                "Mensaje de tipo «image» que mini-crm aún no sabe mostrar",
            ),
            (
                json!({"type": "system", "system": {"body": "User A changed from 1 to 2",
                       "wa_id": "34699887766", "type": "user_changed_number"}}),
                "WhatsApp avisa: cambió su número a +34699887766",
            ),
        ];
        for (message, line) in cases {
            assert_eq!(Content::from_meta(&message).line(), line, "{message}");
        }
    }

    #[test]
    fn a_map_link_is_made_of_the_two_numbers_only() {
        let location = Content::from_meta(&json!({"type": "location", "location":
            {"latitude": 40.5, "longitude": -3.25, "name": "\"><script>"}}));
        assert_eq!(
            location.map_link().as_deref(),
            Some("https://www.openstreetmap.org/?mlat=40.5&mlon=-3.25#map=17/40.5/-3.25")
        );
        assert_eq!(Content::Text { body: "x".into() }.map_link(), None);
    }

    #[test]
    fn what_is_stored_reads_back_the_same() {
        let content = Content::from_meta(&json!({"type": "contacts", "contacts": [
            {"name": {"formatted_name": "Antonio"}, "phones": [{"phone": "+34 622 33 44 55"}]}]}));
        let stored = serde_json::to_string(&content).unwrap();
        assert_eq!(serde_json::from_str::<Content>(&stored).unwrap(), content);
        assert_eq!(
            content.line(),
            "Contacto compartido: Antonio (+34 622 33 44 55)"
        );
    }
}
