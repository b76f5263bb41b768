//! The Leads workspace: the list (`list`), a lead's page (`detail`) and its timeline (`timeline`), and every
//! change staff make to a lead (`commands`). Each change runs in one transaction on the writer
//! with its line in the lead's timeline (who did it), and keeps the lead's stage and its
//! treatments' completion in step.

mod commands;
mod detail;
mod list;
mod timeline;

pub use commands::{
    create, mark_lost, queue_message, reopen, request_call, reschedule, schedule, sell_treatment,
    set_appointment_status, update,
};
pub use detail::detail;
pub use list::{list, search_expression, PAGE_SIZE};

use crate::backend::breakers;
use crate::backend::db::Db;
use crate::backend::error::{Context, Result};
use crate::backend::flags::Flags;
use crate::domain::{Provider, Timestamp};
use crate::error::AppError;

use chrono::TimeZone;
use chrono_tz::Tz;

/// "Valoración", or "Sesión de Láser" for a session of a treatment.
fn appointment_kind(treatment_name: Option<&str>) -> String {
    match treatment_name {
        None => "Valoración".to_string(),
        Some(name) => format!("Sesión de {name}"),
    }
}

/// A `datetime-local` value ("2025-03-01T10:30") read in the clinic's zone. In the hour that
/// repeats when clocks go back, the first one; an hour that does not exist is refused.
pub fn parse_local(input: &str, tz: Tz, field: &str) -> Result<Timestamp, AppError> {
    let naive = chrono::NaiveDateTime::parse_from_str(input.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(input.trim(), "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| AppError::invalid(field, "Indica la fecha y la hora de la cita."))?;
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(at) | chrono::LocalResult::Ambiguous(at, _) => {
            Ok(Timestamp::from(at.with_timezone(&chrono::Utc)))
        }
        chrono::LocalResult::None => Err(AppError::invalid(
            field,
            "Esa hora no existe ese día por el cambio de hora; elige otra.",
        )),
    }
}

fn local_input(at: Timestamp, tz: Tz) -> String {
    at.as_datetime()
        .with_timezone(&tz)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

/// Whether staff can call through Aircall now (`calls.ui` on and Aircall's breaker closed),
/// with the flags read for it (the backup phone is among them).
async fn telephony_up(db: &Db) -> Result<(bool, Flags)> {
    let flags = Flags::load(db).await.context("reading flags")?;
    let breakers = breakers::all(db).await.context("reading breakers")?;
    let now = Timestamp::now();
    let up = flags.calls_ui() && !breakers::holds(&breakers, Provider::Aircall, now);
    Ok((up, flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_read_in_the_clinic_zone() {
        let madrid = chrono_tz::Europe::Madrid;
        assert_eq!(
            parse_local("2025-01-07T11:00", madrid, "when")
                .unwrap()
                .to_string(),
            "2025-01-07T10:00:00Z"
        );
        assert_eq!(
            parse_local("2025-07-07T11:00", madrid, "when")
                .unwrap()
                .to_string(),
            "2025-07-07T09:00:00Z"
        );
        // 02:30 does not exist on the last Sunday of March; 02:30 on the last Sunday of October
        // happens twice (the first one is taken).
        assert!(parse_local("2025-03-30T02:30", madrid, "when").is_err());
        assert_eq!(
            parse_local("2025-10-26T02:30", madrid, "when")
                .unwrap()
                .to_string(),
            "2025-10-26T00:30:00Z"
        );
        assert!(parse_local("mañana", madrid, "when").is_err());
        assert_eq!(
            local_input(
                parse_local("2025-07-07T11:00", madrid, "when").unwrap(),
                madrid
            ),
            "2025-07-07T11:00"
        );
    }
}
