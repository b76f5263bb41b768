//! E-mail addresses, stored lowercased so lookups are exact on every database.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("el correo electrónico no es válido")]
pub struct InvalidEmail;

impl Email {
    pub fn parse(input: &str) -> Result<Self, InvalidEmail> {
        let email = input.trim().to_lowercase();
        let (local, domain) = email.split_once('@').ok_or(InvalidEmail)?;
        let plausible = !local.is_empty()
            && email.len() <= 254
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain.contains('.')
            && !domain.contains('@')
            && !email.chars().any(char::is_whitespace);
        plausible.then_some(Self(email)).ok_or(InvalidEmail)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl TryFrom<String> for Email {
    type Error = InvalidEmail;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

/// `text` with every e-mail address in it replaced by `•••@•••`. Providers quote the address
/// they refuse ("Email address ana@example.com is invalid"), and those texts are stored, logged
/// and shown to staff, where a patient's address has no place.
pub(super) fn mask_email_addresses(text: &str) -> String {
    let local = |c: char| c.is_alphanumeric() || "._%+-".contains(c);
    // `@` too: a malformed address (`ana@@example.com`) is masked whole.
    let domain = |c: char| c.is_alphanumeric() || ".-@".contains(c);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut written = 0;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '@' {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > written && local(chars[start - 1]) {
            start -= 1;
        }
        let mut end = i + 1;
        while end < chars.len() && domain(chars[end]) {
            end += 1;
        }
        if start < i || end > i + 1 {
            out.extend(&chars[written..start]);
            out.push_str("•••@•••");
            written = end;
        }
        i = end.max(i + 1);
    }
    out.extend(&chars[written..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_trims() {
        assert_eq!(
            Email::parse("  Ana@Clinica.ES ").unwrap().as_str(),
            "ana@clinica.es"
        );
    }

    #[test]
    fn refuses_implausible_addresses() {
        for bad in [
            "",
            "ana",
            "ana@",
            "@clinica.es",
            "ana@clinica",
            "ana@@clinica.es",
            "a na@x.es",
        ] {
            assert_eq!(Email::parse(bad), Err(InvalidEmail), "{bad}");
        }
    }

    #[test]
    fn addresses_in_a_providers_text_are_masked() {
        use super::mask_email_addresses;
        assert_eq!(
            mask_email_addresses(
                r#"[{"message":"Email address eva.g+1@example and x@y.es are invalid"}]"#
            ),
            r#"[{"message":"Email address •••@••• and •••@••• are invalid"}]"#
        );
        assert_eq!(mask_email_addresses("fede@@example.com"), "•••@•••");
        assert_eq!(
            mask_email_addresses("no @ here, nor here@"),
            "no @ here, nor •••@•••"
        );
    }
}
