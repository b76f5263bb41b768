//! Numbers and dates as a Spanish (es-ES) reader expects them.

/// Non-breaking space: es-ES writes "67 %", and the two parts must not wrap apart.
const NBSP: char = '\u{a0}';

/// Whole numbers with `.` as the thousands separator; es-ES leaves four-digit numbers ungrouped
/// (1234, but 12.345).
pub fn count(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let sign = if value < 0 { "-" } else { "" };
    if digits.len() <= 4 {
        return format!("{sign}{digits}");
    }
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}")
}

/// A rate in [0, 1] with two decimals as a percentage: 0.67 → "67 %".
pub fn percent(rate: f64) -> String {
    format!("{}{NBSP}%", (rate * 100.0).round() as i64)
}

/// `YYYY-MM-DD` → "07/01" (day/month) for chart axes and periods; other text is shown as it is.
/// Sliced by hand: this runs in the browser, where chrono's parser would weigh on the bundle.
pub fn day_month(date: &str) -> String {
    match date.as_bytes() {
        [_, _, _, _, b'-', _, _, b'-', _, _] if date.is_ascii() => {
            format!("{}/{}", &date[8..10], &date[5..7])
        }
        _ => date.to_string(),
    }
}

/// An instant as a date and time of the clinic: "07/01/2025 11:00".
#[cfg(feature = "ssr")]
pub fn local_datetime(instant: crate::domain::Timestamp, tz: chrono_tz::Tz) -> String {
    instant
        .as_datetime()
        .with_timezone(&tz)
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

/// A wait: "30 segundos", "1 minuto", "15 minutos" (rounded up to the minute above one minute).
pub fn duration(seconds: i64) -> String {
    match seconds {
        ..=1 => "1 segundo".to_string(),
        2..=59 => format!("{seconds} segundos"),
        _ => match (seconds + 59) / 60 {
            1 => "1 minuto".to_string(),
            minutes => format!("{minutes} minutos"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "ssr")]
    #[test]
    fn local_times_follow_the_clinic_zone_and_its_summer_time() {
        use crate::domain::Timestamp;
        let madrid = chrono_tz::Europe::Madrid;
        let winter = Timestamp::parse_rfc3339("2025-01-07T10:00:00Z").unwrap();
        let summer = Timestamp::parse_rfc3339("2025-07-07T10:00:00Z").unwrap();
        assert_eq!(local_datetime(winter, madrid), "07/01/2025 11:00");
        assert_eq!(local_datetime(summer, madrid), "07/07/2025 12:00");
    }

    #[test]
    fn counts_group_from_five_digits() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234), "1234");
        assert_eq!(count(12345), "12.345");
        assert_eq!(count(1234567), "1.234.567");
        assert_eq!(count(-12345), "-12.345");
    }

    #[test]
    fn percentages_use_a_non_breaking_space() {
        assert_eq!(percent(0.67), "67\u{a0}%");
        assert_eq!(percent(0.29), "29\u{a0}%");
        assert_eq!(percent(1.0), "100\u{a0}%");
        assert_eq!(percent(0.0), "0\u{a0}%");
    }

    #[test]
    fn chart_days_are_day_then_month() {
        assert_eq!(day_month("2025-01-07"), "07/01");
        assert_eq!(day_month("mañana"), "mañana");
        assert_eq!(day_month("2025-1-7"), "2025-1-7");
    }

    #[test]
    fn waits_read_in_spanish() {
        assert_eq!(duration(1), "1 segundo");
        assert_eq!(duration(30), "30 segundos");
        assert_eq!(duration(60), "1 minuto");
        assert_eq!(duration(61), "2 minutos");
        assert_eq!(duration(900), "15 minutos");
    }
}
