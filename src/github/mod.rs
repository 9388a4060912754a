//! GitHub: the REST client, CODEOWNERS and PR feedback (file lists, the sticky plan comment).
pub mod client;
pub mod codeowners;
pub mod feedback;
