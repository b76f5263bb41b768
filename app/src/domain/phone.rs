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

/// `text` with every phone-like number (an optional `+` or `%2B`, then 8 digits or more, single
/// spaces, dashes, dots or parentheses allowed between digit groups) cut to its last three
/// digits: `+34 600-111-222` → `•••222`. Provider errors quote the recipient ("recipient
/// 34600111222 is not a WhatsApp user"), and those texts are logged and shown on the health check
/// and Integraciones, where a patient's number has no place. A date (`2026-03-31`) is not a
/// phone number; a digit run glued to letters (an id) is left alone.
pub(super) fn mask_phone_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let encoded_plus = chars[i] == '%'
            && chars.get(i + 1) == Some(&'2')
            && matches!(chars.get(i + 2), Some('B' | 'b'))
            && chars.get(i + 3).is_some_and(char::is_ascii_digit);
        let plus = chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        let inside_word = i > 0 && chars[i - 1].is_alphanumeric();
        if !(chars[i].is_ascii_digit() || plus || encoded_plus) || inside_word {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut end = i + if encoded_plus { 3 } else { usize::from(plus) };
        let mut digits = String::new();
        while end < chars.len() {
            let next_is_digit = chars.get(end + 1).is_some_and(char::is_ascii_digit);
            if chars[end].is_ascii_digit() {
                digits.push(chars[end]);
                end += 1;
            } else if matches!(chars[end], ' ' | '-' | '.' | '(' | ')') && next_is_digit {
                end += 1;
            } else {
                break;
            }
        }
        let run: String = chars[i..end].iter().collect();
        let followed_by_word = chars.get(end).is_some_and(|c| c.is_alphanumeric());
        if digits.len() >= 8 && !followed_by_word && !looks_like_a_date(&run) {
            out.push_str("•••");
            out.push_str(&digits[digits.len() - 3..]);
        } else {
            out.push_str(&run);
        }
        i = end;
    }
    out
}

/// `2026-03-31` or `31.03.2026` at the start of a run.
fn looks_like_a_date(run: &str) -> bool {
    let shape: String = run
        .chars()
        .take(10)
        .map(|c| if c.is_ascii_digit() { 'd' } else { c })
        .collect();
    matches!(shape.as_str(), "dddd-dd-dd" | "dd.dd.dddd" | "dd-dd-dddd")
}

#[cfg(test)]
mod masking_tests {
    use super::mask_phone_numbers;

    #[test]
    fn phone_numbers_keep_only_their_last_three_digits() {
        assert_eq!(
            mask_phone_numbers("(#131030) Recipient phone number 34600111222 not in allowed list"),
            "(#131030) Recipient phone number •••222 not in allowed list"
        );
        assert_eq!(mask_phone_numbers("to +34 600 111 222."), "to •••222.");
        assert_eq!(mask_phone_numbers("+34600111222"), "•••222");
        assert_eq!(
            mask_phone_numbers("call 600-111-222 or 91 555.12.34"),
            "call •••222 or •••234"
        );
        assert_eq!(mask_phone_numbers("to=%2B34600111222&x=1"), "to=•••222&x=1");
        assert_eq!(
            mask_phone_numbers("numbers 34600111222 34600333444"),
            "numbers •••444",
            "two numbers in a row are one run: both hidden"
        );
    }

    #[test]
    fn other_numbers_and_words_are_left_alone() {
        for text in [
            "HTTP 503 after 15 s",
            "job 1234567 failed",
            "at 2026-03-31T08:30:00Z",
            "wamid.HBgLMzQ2MDAxMTEyMjIVAgA",
            "id abc34600111222",
            "on 2026-03-31 at 10:00",
            "7 attempts",
        ] {
            assert_eq!(mask_phone_numbers(text), text);
        }
    }
}
