//! Test time: every date a test uses derives from [`T0`].
#![allow(dead_code)]

/// The one instant every test's dates derive from. Tests never compare it with the wall clock:
/// they pass `--now`, set the emulator's (virtual) clock to the same instant, and date their git
/// commits from it, so the suite means the same on any day (`.ci/run` runs it a year ahead too).
pub const T0: &str = "2026-11-27T09:00:00Z";

/// One hour after [`T0`]: the `--now` of the offline CLI tests.
pub const NOW: &str = "2026-11-27T10:00:00Z";

pub fn t0() -> chrono::DateTime<chrono::Utc> {
    T0.parse().expect("T0 is RFC 3339")
}

/// `T0 + minutes`, as RFC 3339 (`--now` arguments).
pub fn t0_plus(minutes: i64) -> String {
    (t0() + chrono::Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The git date of commits tests make: [`T0`], in git's `@unix +zone` form.
pub fn git_date() -> String {
    format!("@{} +0000", t0().timestamp())
}
