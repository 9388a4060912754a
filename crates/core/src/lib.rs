//! kv-jit's functional core: every rule, as pure functions of values handed in.
//!
//! Data flows one way: files (bytes) → [`yaml`] → [`fields`] → [`request`] / [`config`] →
//! [`policy`] → [`plan`], with [`approval`] judging the GitHub facts and [`ledger`] holding the
//! audit model. Nothing here reads a file, the environment, the network or the clock: the
//! crate's dependencies hold no I/O crate (checked by `tests/purity.rs`), and time is always a
//! parameter.

pub mod approval;
pub mod audit;
pub mod azure;
pub mod clock;
pub mod config;
pub mod diag;
pub mod doctor;
pub mod fields;
pub mod github;
pub mod ledger;
pub mod names;
pub mod notice;
pub mod plan;
pub mod policy;
pub mod report;
pub mod request;
pub mod shard;
pub mod yaml;
