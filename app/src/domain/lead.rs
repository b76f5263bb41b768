//! A lead's place in the clinic's journey.

use serde::{Deserialize, Serialize};

/// Derived from the lead's appointments and treatments and stored on the lead (kept in the same
/// transaction as the change that moves it) so lists can filter by it cheaply. "Lost" is a
/// separate flag set by staff: a lost lead keeps its stage for when it is reopened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadStage {
    New,
    Booked,
    InTreatment,
    Completed,
}

impl LeadStage {
    pub fn as_str(self) -> &'static str {
        match self {
            LeadStage::New => "new",
            LeadStage::Booked => "booked",
            LeadStage::InTreatment => "in_treatment",
            LeadStage::Completed => "completed",
        }
    }

    /// `treatments_completed` counts the lead's treatments whose attended sessions reached their
    /// `sessions_count`.
    pub fn derive(appointments: usize, treatments: usize, treatments_completed: usize) -> Self {
        match (appointments, treatments) {
            (_, t) if t > 0 && treatments_completed == t => LeadStage::Completed,
            (_, t) if t > 0 => LeadStage::InTreatment,
            (a, _) if a > 0 => LeadStage::Booked,
            _ => LeadStage::New,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_follows_the_journey() {
        assert_eq!(LeadStage::derive(0, 0, 0), LeadStage::New);
        assert_eq!(LeadStage::derive(1, 0, 0), LeadStage::Booked);
        assert_eq!(LeadStage::derive(3, 2, 1), LeadStage::InTreatment);
        assert_eq!(LeadStage::derive(7, 2, 2), LeadStage::Completed);
    }
}
