pub mod ajustes;
pub mod informes;
pub mod integraciones;
pub mod leads;
pub mod login;
pub mod not_found;
