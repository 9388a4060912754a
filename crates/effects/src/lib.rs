//! kv-jit's effects: the implementations of the engine's ports over the real world (Azure's and
//! GitHub's REST APIs, git as the ledger store, the Teams webhook). Thin: the rules they serve
//! live in `kv_jit_core`; each module here turns HTTP or a subprocess into core values.

pub mod approval;
pub mod azure;
pub mod backoff;
pub mod clock;
pub mod git;
pub mod github;
pub mod github_approvals;
pub mod ledger;
pub mod ledger_store;
pub mod memo;
pub mod notify;
pub mod testing;
pub mod token;

pub use clock::{Clock, ManualClock, SystemClock};
pub use token::Token;
