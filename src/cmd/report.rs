//! How a grant or revoke run is printed: messages to stderr, one line per ledger entry (or the
//! JSON list), the grants that wait, and what the ledger store said.

use serde::Serialize;

use kv_jit_core::diag::Format;
use kv_jit_core::ledger::{Event, NewEntry, Reason};
use kv_jit_engine::run::{Level, RunReport};

use crate::output;

/// Prints the run: its messages (errors and warnings to stderr), one line per entry, the grants
/// that wait, and what the ledger store said.
pub fn render(done: &RunReport, format: Format) {
    let mut info = Vec::new();
    for m in &done.messages {
        match m.level {
            Level::Error => output::stderr(&format!("error: {}\n", m.text)),
            Level::Warning => output::stderr(&format!("warning: {}\n", m.text)),
            Level::Info => info.push(m.text.as_str()),
        }
    }
    for line in info {
        output::stdout(&format!("{line}\n"));
    }
    if done.executed {
        report(&done.new, format);
    }
    if format != Format::Json {
        for a in &done.waits {
            output::stdout(&(super::plan::describe(a) + "\n"));
        }
    }
    match &done.recorded {
        Some(Ok(what)) if format != Format::Json => {
            output::stderr(&format!("ledger: {what}\n"));
        }
        Some(Err(e)) => output::stderr(&format!(
            "error: the effects happened but the ledger could not be pushed: {e}\n  help: the next run converges (idempotent Azure writes, reconcile)\n"
        )),
        _ => {}
    }
}

#[derive(Serialize)]
struct Line<'a> {
    event: Event,
    request: Option<&'a str>,
    reason: Option<Reason>,
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    break_glass: bool,
}

fn report(new: &[NewEntry], format: Format) {
    if format == Format::Json {
        let lines: Vec<Line> = new
            .iter()
            .map(|e| Line {
                event: e.event,
                request: e.request.as_deref(),
                reason: e.reason,
                error: e.error.as_deref(),
                break_glass: kv_jit_core::notice::is_break_glass(e),
            })
            .collect();
        output::stdout(&(serde_json::to_string_pretty(&lines).expect("serializes") + "\n"));
        return;
    }
    if new.is_empty() {
        output::stdout("nothing to do\n");
    }
    for e in new {
        let mut line = format!(
            "{:<13} {}",
            e.event.as_str(),
            e.request.as_deref().unwrap_or("-")
        );
        if let Some(r) = e.reason {
            line.push_str(&format!(" ({})", r.as_str()));
        }
        if kv_jit_core::notice::is_break_glass(e) {
            line.push_str(" (BREAK-GLASS: no code-owner approval)");
        }
        if let Some(err) = &e.error {
            line.push_str(&format!(": {err}"));
        }
        output::stdout(&(line + "\n"));
    }
}
