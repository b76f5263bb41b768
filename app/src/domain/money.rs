//! Prices in euros, kept as whole cents.

use crate::error::AppError;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cents(pub i64);

impl Cents {
    /// Up to 10 million euros: anything above is a typo.
    const MAX: i64 = 1_000_000_000;

    /// Reads a price as staff type it: "1200", "1.200", "1200,50", "1.200,50 €", "1200.5".
    /// A comma is the decimal mark; without one, a dot followed by exactly three digits groups
    /// thousands and any other dot is the decimal mark.
    pub fn parse_euros(input: &str) -> Result<Self, AppError> {
        let invalid =
            || AppError::invalid("price", "Escribe el precio en euros, por ejemplo 1.200,50.");
        let text: String = input
            .trim()
            .trim_end_matches('€')
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let (whole, decimals) = match text.split_once(',') {
            Some((whole, decimals)) => (whole.replace('.', ""), decimals.to_string()),
            None => match text.rsplit_once('.') {
                Some((whole, last)) if last.len() == 3 && !whole.is_empty() => {
                    (text.replace('.', ""), String::new())
                }
                Some((whole, decimals)) => (whole.to_string(), decimals.to_string()),
                None => (text.clone(), String::new()),
            },
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(&whole) || decimals.len() > 2 || (!decimals.is_empty() && !digits(&decimals)) {
            return Err(invalid());
        }
        let euros: i64 = whole.parse().map_err(|_| invalid())?;
        let cents: i64 = format!("{decimals:0<2}").parse().map_err(|_| invalid())?;
        let total = euros
            .checked_mul(100)
            .and_then(|e| e.checked_add(cents))
            .ok_or_else(invalid)?;
        if total > Self::MAX {
            return Err(AppError::invalid("price", "El precio es demasiado alto."));
        }
        Ok(Cents(total))
    }

    /// "1200,50 €", "12.345 €" (es-ES, grouped as [`crate::format::count`]).
    pub fn to_euros_label(self) -> String {
        let euros = crate::format::count(self.0 / 100);
        match self.0 % 100 {
            0 => format!("{euros} €"),
            cents => format!("{euros},{cents:02} €"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_read_as_spanish_staff_type_them() {
        for (input, cents) in [
            ("1200", 120_000),
            ("1.200", 120_000),
            ("1.200,50", 120_050),
            ("1200,5", 120_050),
            ("1200.50", 120_050),
            ("1200.5", 120_050),
            (" 90 € ", 9_000),
            ("0", 0),
            ("12.345.678", 1_234_567_800),
        ] {
            if cents <= Cents::MAX {
                assert_eq!(Cents::parse_euros(input), Ok(Cents(cents)), "{input}");
            } else {
                assert!(Cents::parse_euros(input).is_err(), "{input}");
            }
        }
        for bad in ["", "abc", "-5", "1,234,5", "12,345", "1.2.3,4x", "€"] {
            assert!(Cents::parse_euros(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prices_are_shown_in_spanish() {
        assert_eq!(Cents(120_050).to_euros_label(), "1200,50 €");
        assert_eq!(Cents(1_234_500).to_euros_label(), "12.345 €");
        assert_eq!(Cents(9_000).to_euros_label(), "90 €");
        assert_eq!(Cents(5).to_euros_label(), "0,05 €");
    }
}
