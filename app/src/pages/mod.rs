pub mod ajustes;
pub mod informes;
pub mod integraciones;
pub mod lead;
pub mod lead_form;
pub mod leads;
pub mod login;
pub mod not_found;
