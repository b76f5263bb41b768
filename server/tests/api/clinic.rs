//! A tiny clinic builder for report tests: leads, appointments and treatments at exact instants.

use app::backend::db::Db;
use app::backend::store::appointments::{self, NewAppointment};
use app::backend::store::leads::{self, NewLead};
use app::backend::store::treatments::{self, NewTreatment};
use app::domain::{AppointmentStatus, LeadStage, Phone, Source, Timestamp};

pub fn ts(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

pub struct Clinic {
    pub db: Db,
    next_phone: u64,
}

impl Clinic {
    pub fn new(db: Db) -> Self {
        Self { db, next_phone: 0 }
    }

    pub async fn lead(&mut self, source: Source, created_at: Timestamp) -> i64 {
        self.next_phone += 1;
        let phone = Phone::parse(&format!("+3460{:07}", self.next_phone)).unwrap();
        let lead = NewLead {
            name: "Paciente de prueba",
            phone: Some(&phone),
            whatsapp_user: None,
            email: None,
            source,
            stage: LeadStage::New,
            lost_reason: None,
            created_at,
        };
        let id = leads::insert(&self.db.writer, lead).await.unwrap();
        id
    }

    pub async fn appointment(
        &self,
        lead_id: i64,
        created_at: Timestamp,
        scheduled_at: Timestamp,
        status: AppointmentStatus,
    ) -> i64 {
        self.insert_appointment(lead_id, None, created_at, scheduled_at, status)
            .await
    }

    /// A treatment sold at `created_at` with its sessions `(scheduled_at, status)`, booked at the sale.
    pub async fn treatment(
        &self,
        lead_id: i64,
        created_at: Timestamp,
        sessions_count: i64,
        sessions: &[(Timestamp, AppointmentStatus)],
    ) -> i64 {
        let treatment = NewTreatment {
            lead_id,
            name: "Tratamiento",
            sessions_count,
            price_cents: 10_000,
            created_at,
        };
        let id = treatments::insert(&self.db.writer, treatment)
            .await
            .unwrap();
        for &(scheduled_at, status) in sessions {
            self.insert_appointment(lead_id, Some(id), created_at, scheduled_at, status)
                .await;
        }
        treatments::refresh_completion(&self.db.writer, id)
            .await
            .unwrap();
        id
    }

    async fn insert_appointment(
        &self,
        lead_id: i64,
        treatment_id: Option<i64>,
        created_at: Timestamp,
        scheduled_at: Timestamp,
        status: AppointmentStatus,
    ) -> i64 {
        let appointment = NewAppointment {
            lead_id,
            treatment_id,
            scheduled_at,
            status,
            created_at,
        };
        appointments::insert(&self.db.writer, appointment)
            .await
            .unwrap()
    }
}
