//! A treatment as staff type it when they sell one: its name, how many sessions, its price.

use super::Cents;
use crate::error::AppError;

/// A treatment as staff type it.
pub struct TreatmentDraft {
    pub name: String,
    pub sessions_count: i64,
    pub price: Cents,
}

impl TreatmentDraft {
    pub const MAX_SESSIONS: i64 = 100;

    pub fn parse(name: &str, sessions: &str, price: &str) -> Result<Self, AppError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 120 {
            return Err(AppError::invalid(
                "name",
                "Escribe el nombre del tratamiento (hasta 120 caracteres).",
            ));
        }
        let sessions_count = sessions
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=Self::MAX_SESSIONS).contains(n))
            .ok_or_else(|| {
                AppError::invalid(
                    "sessions_count",
                    format!("El número de sesiones va de 1 a {}.", Self::MAX_SESSIONS),
                )
            })?;
        Ok(Self {
            name: name.to_string(),
            sessions_count,
            price: Cents::parse_euros(price)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn treatment_drafts_are_checked() {
        let draft = TreatmentDraft::parse(" Láser ", "6", "1.200,50").unwrap();
        assert_eq!(
            (draft.name.as_str(), draft.sessions_count, draft.price),
            ("Láser", 6, Cents(120_050))
        );
        assert!(TreatmentDraft::parse("", "6", "10").is_err());
        assert!(TreatmentDraft::parse("Láser", "0", "10").is_err());
        assert!(TreatmentDraft::parse("Láser", "101", "10").is_err());
        assert!(TreatmentDraft::parse("Láser", "seis", "10").is_err());
        assert!(TreatmentDraft::parse("Láser", "6", "diez").is_err());
    }
}
