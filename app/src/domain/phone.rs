//! Phone numbers in E.164 (`+` and 8–15 digits), the key a lead is found by.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("el teléfono está vacío")]
    Empty,
    #[error("el teléfono solo puede contener dígitos, espacios, guiones, puntos, paréntesis y un + inicial")]
    InvalidCharacters,
    #[error("el teléfono debe tener entre 8 y 15 dígitos con el prefijo internacional")]
    InvalidLength,
}

impl Phone {
    /// Normalises what staff and providers type: separators are dropped, `00` becomes `+`, and a
    /// Spanish national number (nine digits starting 6, 7, 8 or 9) gets `+34`.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        // A `+` counts only before the first digit: "(+34) 611…" is as international as "+34 611…".
        let mut plus = false;
        let mut digits = String::with_capacity(trimmed.len());
        for c in trimmed.chars() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if digits.is_empty() && !plus => plus = true,
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneError::InvalidCharacters),
            }
        }
        let international = if plus {
            digits
        } else if let Some(after) = digits.strip_prefix("00") {
            after.to_string()
        } else if digits.len() == 9 && digits.starts_with(['6', '7', '8', '9']) {
            format!("34{digits}")
        } else {
            digits
        };
        if !(8..=15).contains(&international.len()) || international.starts_with('0') {
            return Err(PhoneError::InvalidLength);
        }
        Ok(Self(format!("+{international}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Phone> for String {
    fn from(value: Phone) -> Self {
        value.0
    }
}

impl TryFrom<String> for Phone {
    type Error = PhoneError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_spanish_and_international_forms() {
        for input in [
            "611 22 33 44",
            "611-22-33-44",
            "+34 611 22 33 44",
            "0034611223344",
            "(+34) 611.22.33.44",
        ] {
            assert_eq!(
                Phone::parse(input).map(String::from),
                Ok("+34611223344".to_string()),
                "{input}"
            );
        }
        assert_eq!(
            Phone::parse("16505551234").unwrap().as_str(),
            "+16505551234"
        );
    }

    #[test]
    fn refuses_what_cannot_be_a_number() {
        assert_eq!(Phone::parse("  "), Err(PhoneError::Empty));
        assert_eq!(Phone::parse("611a22"), Err(PhoneError::InvalidCharacters));
        assert_eq!(Phone::parse("12345"), Err(PhoneError::InvalidLength));
        assert_eq!(
            Phone::parse("+1234567890123456"),
            Err(PhoneError::InvalidLength)
        );
        assert_eq!(Phone::parse("+0611223344"), Err(PhoneError::InvalidLength));
    }
}
