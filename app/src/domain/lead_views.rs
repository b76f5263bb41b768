//! What the Leads pages show, as the server sends it: labels and dates already in Spanish and
//! in the clinic's time zone.

use super::{AppointmentStatus, LeadStage, Source, StageFilter};
use serde::{Deserialize, Serialize};

/// A search matching more leads than this is not counted (the list says "more than").
pub const LEAD_COUNT_CAP: i64 = 10_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadList {
    pub rows: Vec<LeadRow>,
    /// Leads matching every filter; `None` for a search matching too many to count.
    pub total: Option<i64>,
    /// 1-based.
    pub page: i64,
    /// `None` with `total`.
    pub pages: Option<i64>,
    pub has_next: bool,
    /// Leads matching the search and source in each stage filter; `None` with `total`.
    pub stage_counts: Option<Vec<(StageFilter, i64)>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadRow {
    pub id: i64,
    pub name: String,
    /// The phone, or how WhatsApp names a patient who has not given one.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub source: Source,
    pub stage: LeadStage,
    pub lost: bool,
    pub created: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadDetail {
    pub id: i64,
    pub name: String,
    /// `None` for a WhatsApp user who writes with a username and has not given a number.
    pub phone: Option<String>,
    pub whatsapp_username: Option<String>,
    pub email: Option<String>,
    pub source: Source,
    pub stage: LeadStage,
    pub lost_reason: Option<String>,
    /// The click-to-WhatsApp ad it came from, in one line.
    pub ad: Option<String>,
    pub created: String,
    pub appointments: Vec<AppointmentView>,
    pub treatments: Vec<TreatmentView>,
    pub timeline: Vec<TimelineEntry>,
    /// Free text may be sent (the lead wrote within 24 hours); otherwise templates only.
    pub whatsapp_window_open: bool,
    /// The template offered outside the window.
    pub default_template: String,
    pub telephony: Telephony,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppointmentView {
    pub id: i64,
    /// "Valoración", or "Láser · sesión" for a session of a treatment.
    pub kind: String,
    pub when: String,
    /// `YYYY-MM-DDTHH:MM` in the clinic's zone, for a `datetime-local` input.
    pub when_input: String,
    pub status: AppointmentStatus,
    /// Its time has come: attended / no-show may be recorded.
    pub due: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreatmentView {
    pub id: i64,
    pub name: String,
    pub sessions_count: i64,
    pub attended: i64,
    pub price: String,
    pub completed: bool,
    pub sold: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub when: String,
    pub kind: TimelineKind,
    pub title: String,
    pub detail: Option<String>,
    /// The staff user who made the change.
    pub by: Option<String>,
    /// A map of a location the patient shared (built by the server from two numbers).
    pub link: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Created,
    MessageIn,
    MessageOut,
    Call,
    MissedCall,
    Appointment,
    Treatment,
    Staff,
}

impl TimelineKind {
    /// CSS class of the entry's marker.
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Created => "created",
            TimelineKind::MessageIn => "message-in",
            TimelineKind::MessageOut => "message-out",
            TimelineKind::Call => "call",
            TimelineKind::MissedCall => "missed-call",
            TimelineKind::Appointment => "appointment",
            TimelineKind::Treatment => "treatment",
            TimelineKind::Staff => "staff",
        }
    }
}

/// How staff can phone the lead from the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Telephony {
    /// Click-to-call, when the signed-in user has an Aircall line (`aircall_user_id`).
    Available { has_line: bool },
    /// Telephony is degraded (`calls.ui` off or Aircall's breaker open): the clinic's backup
    /// number, when one is set.
    Degraded { backup_phone: Option<String> },
}
