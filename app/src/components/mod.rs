pub mod charts;
pub mod field_error;
pub mod shell;
