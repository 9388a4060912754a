//! kv-jit's benchmark: generators of whole worlds (repositories with merged, approved pull
//! requests, the Azure and GitHub seeds that match, ledgers of any length), the in-process
//! emulator as the benchmark drives it, the raw-HTTP floor client, child-process measurement and
//! the one Markdown table. The benchmark itself is `benches/table.rs`:
//! `cargo build --release && cargo bench -p kv-jit-bench --bench table [-- --quick]`.
#![allow(clippy::disallowed_macros)]

pub mod emu;
pub mod floor;
pub mod ledger;
pub mod measure;
pub mod table;
pub mod world;
