pub mod charts;
pub mod field_error;
pub mod loaded;
pub mod shell;
pub mod table;
