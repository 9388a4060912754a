//! What `kv-jit doctor` judges, as pure functions of what it read: Azure's effective
//! permissions with Azure's wildcard matching ([`permissions`]), which branch protection
//! settings are missing ([`protection`]), whether CODEOWNERS covers the request paths, the
//! config and every vault ([`coverage`]), and whether the workflows use the action pinned to a
//! full commit ([`workflows`]). The shell (`src/cmd/doctor.rs`) does the reading and prints one
//! line per check.

pub mod coverage;
pub mod permissions;
pub mod protection;
pub mod workflows;
