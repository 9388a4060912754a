//! kv-jit's engine: executes a plan against its ports. Every action becomes exactly one ledger
//! entry, success or failure; Azure writes are idempotent, so a re-run converges.

pub mod execute;
pub mod ports;
