//! A lead: its place in the clinic's journey, and the fields staff type in.

use super::{Email, Phone, Source};
use crate::error::AppError;
use serde::{Deserialize, Serialize};

/// Derived from the lead's appointments and treatments and stored on the lead (kept in the same
/// transaction as the change that moves it) so lists can filter by it cheaply. "Lost" is a
/// separate flag set by staff: a lost lead keeps its stage for when it is reopened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(rename_all = "snake_case"))]
pub enum LeadStage {
    New,
    Booked,
    InTreatment,
    Completed,
}

impl LeadStage {
    pub fn as_str(self) -> &'static str {
        match self {
            LeadStage::New => "new",
            LeadStage::Booked => "booked",
            LeadStage::InTreatment => "in_treatment",
            LeadStage::Completed => "completed",
        }
    }

    /// The name staff see.
    pub fn label(self) -> &'static str {
        match self {
            LeadStage::New => "Nuevo",
            LeadStage::Booked => "Con cita",
            LeadStage::InTreatment => "En tratamiento",
            LeadStage::Completed => "Completado",
        }
    }

    /// `treatments_completed` counts the lead's treatments whose attended sessions reached their
    /// `sessions_count`.
    pub fn derive(appointments: usize, treatments: usize, treatments_completed: usize) -> Self {
        match (appointments, treatments) {
            (_, t) if t > 0 && treatments_completed == t => LeadStage::Completed,
            (_, t) if t > 0 => LeadStage::InTreatment,
            (a, _) if a > 0 => LeadStage::Booked,
            _ => LeadStage::New,
        }
    }
}

/// The Leads list's stage filter: one of the stages (leads not lost), or the lost ones. On the
/// wire it is its URL value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum StageFilter {
    Stage(LeadStage),
    Lost,
}

impl StageFilter {
    pub const ALL: [StageFilter; 5] = [
        StageFilter::Stage(LeadStage::New),
        StageFilter::Stage(LeadStage::Booked),
        StageFilter::Stage(LeadStage::InTreatment),
        StageFilter::Stage(LeadStage::Completed),
        StageFilter::Lost,
    ];

    /// The URL value (`?stage=lost`).
    pub fn as_str(self) -> &'static str {
        match self {
            StageFilter::Stage(stage) => stage.as_str(),
            StageFilter::Lost => "lost",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StageFilter::Stage(stage) => stage.label(),
            StageFilter::Lost => "Perdido",
        }
    }

    /// Absent or empty means every lead.
    pub fn parse(value: Option<&str>) -> Result<Option<Self>, AppError> {
        match value {
            None | Some("") => Ok(None),
            Some(text) => StageFilter::ALL
                .into_iter()
                .find(|filter| filter.as_str() == text)
                .map(Some)
                .ok_or_else(|| AppError::invalid("stage", "Etapa desconocida.")),
        }
    }
}

impl From<StageFilter> for String {
    fn from(filter: StageFilter) -> Self {
        filter.as_str().to_string()
    }
}

impl TryFrom<String> for StageFilter {
    type Error = AppError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        StageFilter::parse(Some(&value))?.ok_or_else(|| AppError::invalid("stage", "Etapa vacía."))
    }
}

/// What staff type when they create or edit a lead, parsed: every field error names its field
/// and says what is wrong in Spanish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadDraft {
    pub name: String,
    /// `None` when left empty: only a lead that has no phone yet (a WhatsApp username) may be
    /// saved without one; the backend says so for every other.
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub source: Source,
}

impl LeadDraft {
    pub const NAME_MAX_CHARS: usize = 120;

    pub fn parse(name: &str, phone: &str, email: &str, source: &str) -> Result<Self, AppError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(AppError::invalid("name", "Escribe el nombre del lead."));
        }
        if name.chars().count() > Self::NAME_MAX_CHARS {
            return Err(AppError::invalid(
                "name",
                format!(
                    "El nombre no puede pasar de {} caracteres.",
                    Self::NAME_MAX_CHARS
                ),
            ));
        }
        let phone = match phone.trim() {
            "" => None,
            phone => Some(Phone::parse(phone).map_err(|err| {
                let mut message = err.to_string();
                message[..1].make_ascii_uppercase();
                AppError::invalid("phone", format!("{message}."))
            })?),
        };
        let email =
            match email.trim() {
                "" => None,
                text => Some(Email::parse(text).map_err(|_| {
                    AppError::invalid("email", "El correo electrónico no es válido.")
                })?),
            };
        let source = source
            .parse::<Source>()
            .map_err(|_| AppError::invalid("source", "Elige el origen del lead."))?;
        Ok(Self {
            name: name.to_string(),
            phone,
            email,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: AppError) -> String {
        match err {
            AppError::InvalidInput { field, .. } => field.unwrap_or_default(),
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn a_draft_parses_each_field_and_names_the_wrong_one() {
        let draft =
            LeadDraft::parse("  Ana López ", "612 34 56 78", " Ana@Example.com ", "meta").unwrap();
        assert_eq!(draft.name, "Ana López");
        assert_eq!(draft.phone.unwrap().as_str(), "+34612345678");
        assert_eq!(
            LeadDraft::parse("Ana", "  ", "", "meta").unwrap().phone,
            None
        );
        assert_eq!(draft.email.unwrap().as_str(), "ana@example.com");
        assert_eq!(draft.source, Source::Meta);
        assert!(LeadDraft::parse("Ana", "+44 20 7946 0958", "", "organic")
            .unwrap()
            .email
            .is_none());

        assert_eq!(
            field_of(LeadDraft::parse(" ", "612345678", "", "meta").unwrap_err()),
            "name"
        );
        assert_eq!(
            field_of(LeadDraft::parse(&"a".repeat(121), "612345678", "", "meta").unwrap_err()),
            "name"
        );
        assert_eq!(
            field_of(LeadDraft::parse("Ana", "12", "", "meta").unwrap_err()),
            "phone"
        );
        assert_eq!(
            field_of(LeadDraft::parse("Ana", "61234567a", "", "meta").unwrap_err()),
            "phone"
        );
        assert_eq!(
            field_of(LeadDraft::parse("Ana", "612345678", "ana@", "meta").unwrap_err()),
            "email"
        );
        assert_eq!(
            field_of(LeadDraft::parse("Ana", "612345678", "", "bing").unwrap_err()),
            "source"
        );
    }

    #[test]
    fn stage_filters_round_trip_through_the_url() {
        for filter in StageFilter::ALL {
            assert_eq!(
                StageFilter::parse(Some(filter.as_str())).unwrap(),
                Some(filter)
            );
        }
        assert_eq!(StageFilter::parse(Some("")).unwrap(), None);
        assert!(StageFilter::parse(Some("perdido")).is_err());
    }

    #[test]
    fn stage_follows_the_journey() {
        assert_eq!(LeadStage::derive(0, 0, 0), LeadStage::New);
        assert_eq!(LeadStage::derive(1, 0, 0), LeadStage::Booked);
        assert_eq!(LeadStage::derive(3, 2, 1), LeadStage::InTreatment);
        assert_eq!(LeadStage::derive(7, 2, 2), LeadStage::Completed);
    }
}
