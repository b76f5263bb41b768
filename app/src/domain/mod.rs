//! Types shared by the server and the browser. Each one parses its input, so a value that exists
//! is a valid one.
//!
//! The states kept in text columns (source, stage, statuses, queue, provider, role...) derive
//! `sqlx::Type` on the server: a row is read as the enum, and a name the code does not know is a
//! decode error naming its column, never a silent default.

mod api_token;
mod appointment;
mod email;
mod integrations;
mod kpi;
mod lead;
mod lead_views;
mod message;
mod money;
mod personal_data;
mod phone;
mod queue;
mod source;
mod timestamp;
mod treatment;
mod user;

pub use api_token::{ApiTokenView, NewApiToken};
pub use appointment::AppointmentStatus;
pub use email::{Email, InvalidEmail};
pub use integrations::{
    BreakerState, BreakerView, FailedJobView, QueueView, SettingsView, WebhookEventView,
    WebhookPayload, WebhookStatus,
};
pub use kpi::{rate, KpiCounts, KpiDay, KpiFilters, KpiReport, KpiTotals};
pub use lead::{LeadDraft, LeadStage, StageFilter};
pub use lead_views::{
    AppointmentView, LeadDetail, LeadList, LeadRow, Telephony, TimelineEntry, TimelineKind,
    TreatmentView, LEAD_COUNT_CAP,
};
pub use message::{window_open, Direction, MessageStatus, OutboundDraft, SERVICE_WINDOW_SECONDS};
pub use money::Cents;
pub use personal_data::mask_personal_data;
pub use phone::{Phone, PhoneError};
pub use queue::{Provider, Queue};
pub use source::{Source, UnknownSource};
pub use timestamp::{Timestamp, TIMESTAMP_FORMAT};
pub use treatment::TreatmentDraft;
pub use user::{CurrentUser, Role};
