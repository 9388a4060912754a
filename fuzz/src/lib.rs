//! The fuzz targets' bodies; `crates/core/tests/fuzz_corpus.rs` includes the same file to replay
//! every corpus input and every crash as a regular test.

#[path = "harness.rs"]
pub mod harness;
