//! Appointment (cita) outcomes, and which changes staff may make to them.

use super::Timestamp;
use crate::error::AppError;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(rename_all = "snake_case"))]
pub enum AppointmentStatus {
    Scheduled,
    Attended,
    NoShow,
    Cancelled,
}

impl AppointmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Scheduled => "scheduled",
            AppointmentStatus::Attended => "attended",
            AppointmentStatus::NoShow => "no_show",
            AppointmentStatus::Cancelled => "cancelled",
        }
    }

    /// The name staff see.
    pub fn label(self) -> &'static str {
        match self {
            AppointmentStatus::Scheduled => "Programada",
            AppointmentStatus::Attended => "Asistida",
            AppointmentStatus::NoShow => "No presentada",
            AppointmentStatus::Cancelled => "Cancelada",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            AppointmentStatus::Scheduled,
            AppointmentStatus::Attended,
            AppointmentStatus::NoShow,
            AppointmentStatus::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == value)
    }

    /// Whether a scheduled appointment may get the outcome `next` at `now`. An outcome is
    /// recorded once: attended and no-show only once the appointment's time has come,
    /// cancelled at any time; a recorded outcome is final (a new appointment is booked instead).
    pub fn check_change(
        self,
        next: AppointmentStatus,
        scheduled_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), AppError> {
        use AppointmentStatus::*;
        let refuse = |message: String| Err(AppError::invalid("status", message));
        match (self, next) {
            (Scheduled, Scheduled) => refuse("La cita ya está programada.".into()),
            (Scheduled, Attended | NoShow) if scheduled_at > now => refuse(format!(
                "La cita aún no ha llegado: no se puede marcar como {}.",
                next.label().to_lowercase()
            )),
            (Scheduled, _) => Ok(()),
            (done, _) => refuse(format!(
                "Esta cita ya está marcada como {}; programa una nueva si hace falta.",
                done.label().to_lowercase()
            )),
        }
    }

    /// Only a scheduled appointment can be moved.
    pub fn check_reschedule(self) -> Result<(), AppError> {
        match self {
            AppointmentStatus::Scheduled => Ok(()),
            done => Err(AppError::invalid(
                "scheduled_at",
                format!(
                    "Esta cita ya está marcada como {}: no se puede cambiar de fecha.",
                    done.label().to_lowercase()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AppointmentStatus::*;
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn every_outcome_change_follows_the_rules() {
        let past = at("2025-01-01T10:00:00Z");
        let now = at("2025-01-02T10:00:00Z");
        let future = at("2025-01-03T10:00:00Z");
        for next in [Attended, NoShow, Cancelled] {
            assert_eq!(Scheduled.check_change(next, past, now), Ok(()), "{next:?}");
            assert_eq!(
                Scheduled.check_change(next, now, now),
                Ok(()),
                "{next:?} at its time"
            );
        }
        assert_eq!(Scheduled.check_change(Cancelled, future, now), Ok(()));
        assert!(Scheduled.check_change(Attended, future, now).is_err());
        assert!(Scheduled.check_change(NoShow, future, now).is_err());
        assert!(Scheduled.check_change(Scheduled, past, now).is_err());
        for done in [Attended, NoShow, Cancelled] {
            for next in [Scheduled, Attended, NoShow, Cancelled] {
                assert!(
                    done.check_change(next, past, now).is_err(),
                    "{done:?} → {next:?}"
                );
            }
            assert!(done.check_reschedule().is_err());
        }
        assert_eq!(Scheduled.check_reschedule(), Ok(()));
        let AppError::InvalidInput { message, .. } =
            Attended.check_change(Cancelled, past, now).unwrap_err()
        else {
            unreachable!()
        };
        assert_eq!(
            message,
            "Esta cita ya está marcada como asistida; programa una nueva si hace falta."
        );
    }
}
