//! `kv-jit status`: who holds access now, what is pending, and how late revokes run.

use std::path::Path;

use chrono::{DateTime, Utc};

use kv_jit_core::diag::Format;
use kv_jit_core::ledger;
use kv_jit_core::plan::{self, Action, LedgerState, state};
use kv_jit_engine::ports::LedgerStore;

use super::context::{Ctx, fail};
use crate::Exit;
use crate::output;

/// `kv-jit status`: active grants with time left, pending ones, and how late revokes run.
pub fn status_cmd(config_path: &Path, now: DateTime<Utc>, format: Format, remote: &str) -> Exit {
    let ctx = match Ctx::load(config_path, format, remote) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let entries = match ctx.ledger().read() {
        Ok(e) => e,
        Err(p) => return fail("ledger-unreadable", p.message(), Exit::Problems),
    };
    let st: LedgerState = state::from_ledger(&entries);
    let (desired, invalid) = ctx.requests().unwrap_or_default();
    let pending: Vec<(String, DateTime<Utc>)> =
        plan::plan(&desired, &invalid, &st, &ctx.config, now)
            .into_iter()
            .filter_map(|a| match a {
                Action::Wait { request, starts } => Some((request.to_string(), starts)),
                Action::Grant { request, start, .. } => Some((request.to_string(), start)),
                _ => None,
            })
            .collect();
    let lag = ledger::revoke_lag(&entries);
    if format == Format::Json {
        let v = serde_json::json!({
            "now": now,
            "active": st.active.values().map(|g| serde_json::json!({
                "request": g.request, "requester": g.requester, "vault": g.vault, "secret": g.secret,
                "start": g.start, "expires": g.expires, "seconds_left": (g.expires - now).num_seconds(),
            })).collect::<Vec<_>>(),
            "pending": pending.iter().map(|(r, s)| serde_json::json!({"request": r, "starts": s})).collect::<Vec<_>>(),
            "revoke_lag": lag,
        });
        output::stdout(&(serde_json::to_string_pretty(&v).expect("serializes") + "\n"));
        return Exit::Ok;
    }
    output::stdout(&format!("active grants: {}\n", st.active.len()));
    for g in st.active.values() {
        let left = g.expires - now;
        let left = if left.num_seconds() <= 0 {
            "overdue for revoke".to_owned()
        } else {
            format!("{}h{:02}m left", left.num_hours(), left.num_minutes() % 60)
        };
        output::stdout(&format!(
            "  {}  {} on {}/{}  until {}  ({left})\n",
            g.request,
            g.requester,
            g.vault,
            g.secret,
            g.expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    output::stdout(&format!("pending: {}\n", pending.len()));
    for (r, s) in &pending {
        output::stdout(&format!(
            "  {r}  starts {}\n",
            s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    match lag {
        Some(l) => output::stdout(&format!(
            "revoke lag over {} expiries: p50 {}s, p95 {}s, max {}s\n",
            l.count, l.p50_seconds, l.p95_seconds, l.max_seconds
        )),
        None => output::stdout("revoke lag: no expiries recorded yet\n"),
    }
    Exit::Ok
}
