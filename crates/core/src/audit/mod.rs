//! Audits that compare the ledger with what someone else recorded. The ledger's hash chain
//! shows order, not origin: [`azure`] checks it against Azure's own role assignments and
//! Activity Log.

pub mod azure;
