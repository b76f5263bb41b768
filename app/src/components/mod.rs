pub mod charts;
pub mod shell;
