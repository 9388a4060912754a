//! How a grant or revoke run is printed: messages to stderr, one line per ledger entry (or the
//! JSON list), the grants that wait, and what the ledger store said.

use serde::Serialize;

use kv_jit_core::diag::Format;
use kv_jit_core::ledger::{Event, NewEntry, Reason};
use kv_jit_engine::run::{Level, RunReport};

use crate::output;

/// Prints the run: its messages (errors and warnings to stderr), one line per entry, the grants
/// that wait, and what the ledger store said. With `--format json` stdout holds exactly one JSON
/// array (empty when the run stopped before executing), so scripts such as the GitHub Action's
/// `action/run.sh` can count its events; informational lines go to stderr then.
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
        if format == Format::Json {
            output::stderr(&format!("{line}\n"));
        } else {
            output::stdout(&format!("{line}\n"));
        }
    }
    if done.executed || format == Format::Json {
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

/// The progress line of one entry, printed to stderr as its item completes (before the run's
/// summary), e.g. `granted 2026/alice-api-key (alice@contoso.com, flowlibs-demo-kv/demo-api-key,
/// until 2026-11-27T11:00:00Z)`. Text from Azure or the ledger is kept on one line.
pub fn progress_line(e: &NewEntry) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .flat_map(|c| {
                if c.is_control() {
                    c.escape_default().collect::<Vec<_>>()
                } else {
                    vec![c]
                }
            })
            .take(300)
            .collect()
    };
    let mut details = Vec::new();
    if let Some(r) = &e.requester {
        details.push(clean(r));
    }
    match (&e.vault, &e.secret) {
        (Some(v), Some(s)) => details.push(format!("{}/{}", clean(v), clean(s))),
        (Some(v), None) => details.push(clean(v)),
        _ => {}
    }
    if let Some(w) = &e.window
        && e.event == Event::Granted
    {
        details.push(format!(
            "until {}",
            w.expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    if let Some(r) = e.reason {
        details.push(r.as_str().to_owned());
    }
    let mut line = format!(
        "{} {}",
        e.event.as_str(),
        clean(e.request.as_deref().unwrap_or("-"))
    );
    if !details.is_empty() {
        line.push_str(&format!(" ({})", details.join(", ")));
    }
    if let Some(err) = &e.error {
        line.push_str(&format!(": {}", clean(err)));
    }
    line + "\n"
}

/// A run that stopped before doing its work: its first error is the fatal error (`run-stopped`;
/// the message is already on stderr, so only the annotation and the JSON document are added).
pub fn stopped(done: &RunReport, exit: crate::Exit) {
    let message = done
        .messages
        .iter()
        .find(|m| m.level == Level::Error)
        .map_or("the run stopped before doing its work", |m| m.text.as_str());
    output::record(output::Fatal {
        exit,
        ..output::Fatal::usage("run-stopped", message)
    });
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
