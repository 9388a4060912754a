//! The one notion of time: every reader of "now" and every wait goes through a [`Clock`]. The
//! shell's is the wall clock (or `--now`), the tests' and the emulator's are virtual, so nothing
//! depends on the date a test runs or on the machine's speed. The core only names the trait:
//! its own rules take the instant as a parameter and read no clock at all.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A waiting future, boxed so a `dyn Clock` can hand it out.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Now, and waiting. `sleep` on a virtual clock moves that clock instead of waiting.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    fn sleep(&self, d: Duration) -> Sleep;
}
