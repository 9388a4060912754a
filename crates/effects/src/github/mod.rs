//! GitHub: the REST client and PR feedback (file lists, the sticky plan comment). The REST
//! shapes and CODEOWNERS are `kv_jit_core::github`'s.
pub mod client;
pub mod feedback;
pub mod protection;
pub mod retrospective;

pub use kv_jit_core::github::codeowners;
