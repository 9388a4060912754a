//! The engine: plan (pure), then execute against Azure and record in the ledger.

pub mod execute;
pub mod plan;
pub mod state;
