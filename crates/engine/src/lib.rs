//! kv-jit's engine: one [`run::run`] of `grant` or `revoke` against its [`ports`]. Every
//! action becomes exactly one ledger entry, success or failure ([`execute`]); Azure writes are
//! idempotent, so a re-run converges; when the ledger cannot be trusted, [`sweep`] still ends
//! access on time.

pub mod execute;
pub mod ports;
pub mod run;
pub mod sweep;
