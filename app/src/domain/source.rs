//! Where a lead came from. The exact lowercase names are part of the API and the schema.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(rename_all = "lowercase"))]
pub enum Source {
    Google,
    Meta,
    Organic,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Google, Source::Meta, Source::Organic];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Google => "google",
            Source::Meta => "meta",
            Source::Organic => "organic",
        }
    }

    /// A report filter: absent or empty means every source.
    pub fn parse_filter(value: Option<&str>) -> Result<Option<Source>, UnknownSource> {
        match value {
            None | Some("") => Ok(None),
            Some(text) => text.parse().map(Some),
        }
    }

    /// The name staff see in the dashboard.
    pub fn label(self) -> &'static str {
        match self {
            Source::Google => "Google",
            Source::Meta => "Meta",
            Source::Organic => "Orgánico",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`: the CLI lines its columns up with `{:<9}`.
        f.pad(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown source {0:?}: expected google, meta or organic")]
pub struct UnknownSource(pub String);

impl FromStr for Source {
    type Err = UnknownSource;

    /// Exact lowercase only: `Google` is as wrong as `bing`, so API consumers learn the contract.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Source::ALL
            .into_iter()
            .find(|source| source.as_str() == value)
            .ok_or_else(|| UnknownSource(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_lowercase_names_only() {
        assert_eq!("meta".parse::<Source>(), Ok(Source::Meta));
        assert!("Meta".parse::<Source>().is_err());
        assert!("".parse::<Source>().is_err());
        for source in Source::ALL {
            assert_eq!(source.as_str().parse::<Source>(), Ok(source));
        }
    }

    #[test]
    fn an_empty_filter_means_every_source() {
        assert_eq!(Source::parse_filter(None), Ok(None));
        assert_eq!(Source::parse_filter(Some("")), Ok(None));
        assert_eq!(
            Source::parse_filter(Some("google")),
            Ok(Some(Source::Google))
        );
        assert!(Source::parse_filter(Some("all")).is_err());
    }
}
