//! The aircall payload parser and what it applies, on any body a verified sender could send.
#![no_main]
#[macro_use]
mod common;

parser_target!(aircall);
