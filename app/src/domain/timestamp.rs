//! The one timestamp encoding of the database: UTC, whole seconds, `YYYY-MM-DDTHH:MM:SSZ`.
//!
//! Every instant that reaches SQL goes through [`Timestamp`], so text comparisons in SQLite order
//! correctly and no row ever mixes formats (the schema's CHECK constraints refuse any other shape).

use chrono::{DateTime, SubsecRound, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// The current instant, truncated to the second.
    pub fn now() -> Self {
        Self::from(Utc::now())
    }

    pub fn from_unix(seconds: i64) -> Option<Self> {
        Utc.timestamp_opt(seconds, 0).single().map(Self)
    }

    /// Accepts any RFC 3339 instant (offsets included) and normalises it to UTC seconds.
    pub fn parse_rfc3339(text: &str) -> Result<Self, chrono::ParseError> {
        DateTime::parse_from_rfc3339(text.trim()).map(|t| Self::from(t.with_timezone(&Utc)))
    }

    /// The first whole second at or after `instant` (`from` truncates to the one at or before).
    pub fn at_or_after(instant: DateTime<Utc>) -> Self {
        let floor = Self::from(instant);
        if floor.0 == instant {
            floor
        } else {
            floor.plus_seconds(1)
        }
    }

    pub fn as_datetime(self) -> DateTime<Utc> {
        self.0
    }

    pub fn unix(self) -> i64 {
        self.0.timestamp()
    }

    /// `seconds` later (earlier when negative), saturating at the representable range instead
    /// of panicking on a value from configuration or a provider.
    pub fn plus_seconds(self, seconds: i64) -> Self {
        chrono::TimeDelta::try_seconds(seconds)
            .and_then(|delta| self.0.checked_add_signed(delta))
            .map_or_else(
                || {
                    Self(if seconds < 0 {
                        DateTime::<Utc>::MIN_UTC
                    } else {
                        DateTime::<Utc>::MAX_UTC
                    })
                },
                Self,
            )
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        Self(value.trunc_subsecs(0))
    }
}

impl fmt::Display for Timestamp {
    /// [`TIMESTAMP_FORMAT`], written field by field: chrono's format-string machinery would cost
    /// the browser bundle kilobytes for this one shape (and the server time on every row).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use chrono::{Datelike, Timelike};
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

impl From<Timestamp> for String {
    fn from(value: Timestamp) -> Self {
        value.to_string()
    }
}

impl TryFrom<String> for Timestamp {
    type Error = chrono::ParseError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_rfc3339(&value)
    }
}

#[cfg(feature = "ssr")]
mod sql {
    use super::Timestamp;
    use sqlx::encode::IsNull;
    use sqlx::error::BoxDynError;
    use sqlx::sqlite::{Sqlite, SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
    use sqlx::{Decode, Encode, Type};

    impl Type<Sqlite> for Timestamp {
        fn type_info() -> SqliteTypeInfo {
            <String as Type<Sqlite>>::type_info()
        }
    }

    impl<'q> Encode<'q, Sqlite> for Timestamp {
        fn encode_by_ref(
            &self,
            buf: &mut Vec<SqliteArgumentValue<'q>>,
        ) -> Result<IsNull, BoxDynError> {
            <String as Encode<'q, Sqlite>>::encode(self.to_string(), buf)
        }
    }

    impl<'r> Decode<'r, Sqlite> for Timestamp {
        fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
            let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
            Ok(Timestamp::parse_rfc3339(text)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_utc_whole_seconds_with_z() {
        let t = Timestamp::parse_rfc3339("2025-03-30T03:15:42.987+02:00").unwrap();
        assert_eq!(t.to_string(), "2025-03-30T01:15:42Z");
    }

    #[test]
    fn round_trips_through_text_and_orders_like_text() {
        let a = Timestamp::from_unix(1_700_000_000).unwrap();
        let b = a.plus_seconds(1);
        assert_eq!(Timestamp::try_from(a.to_string()).unwrap(), a);
        assert!(a.to_string() < b.to_string());
        assert!(a < b);
    }

    #[test]
    fn display_matches_the_documented_format() {
        for text in [
            "0999-01-02T03:04:05Z",
            "2025-12-31T23:59:59Z",
            "2024-02-29T00:00:00Z",
        ] {
            let t = Timestamp::parse_rfc3339(text).unwrap();
            assert_eq!(
                t.to_string(),
                t.as_datetime().format(TIMESTAMP_FORMAT).to_string()
            );
            assert_eq!(t.to_string(), text);
        }
    }

    #[test]
    fn adding_seconds_saturates_instead_of_panicking() {
        let now = Timestamp::from_unix(1_700_000_000).unwrap();
        assert_eq!(now.plus_seconds(60).unix(), 1_700_000_060);
        assert_eq!(
            now.plus_seconds(i64::MAX).as_datetime(),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(
            now.plus_seconds(i64::MIN).as_datetime(),
            DateTime::<Utc>::MIN_UTC
        );
    }

    #[test]
    fn refuses_garbage() {
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
        assert!(Timestamp::parse_rfc3339("2025-01-07 10:00:00").is_err());
    }
}
