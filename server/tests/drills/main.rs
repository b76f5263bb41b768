//! Operational drills: the `mini-crm` binary as it is installed and run by on-call — deployed by
//! `scripts/deploy.sh`, backed up and restored, driven through every runbook command, logging,
//! killed mid-write, refusing what would harm an installation. Their own test binary: slower than
//! the HTTP API's (`tests/api`), and about operations rather than the product's contract.

// Shared with the API tests, which use other parts of it.
#[path = "../common/binary.rs"]
#[allow(dead_code)]
mod binary;
#[path = "../common/fixtures.rs"]
mod fixtures;

mod backup;
mod cli_safety;
mod crash;
mod deploy;
mod logs;
mod runbooks;
