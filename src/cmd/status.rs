//! `kv-jit status`: who holds access now, what is pending, and how late revokes run.

use std::path::Path;

use chrono::{DateTime, Utc};

use kv_jit_core::diag::Format;
use kv_jit_core::ledger;
use kv_jit_core::plan::{self, Action, LedgerState, state};
use kv_jit_engine::ports::LedgerStore;
use std::collections::BTreeSet;

use kv_jit_core::approval::retrospective::{BreakGlassGrant, RetroState};

use super::pr::GithubEnv;

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
    let retros = retrospectives(&ctx, &entries);
    let break_glass: BTreeSet<String> = retros.iter().map(|(g, _)| g.request.to_string()).collect();
    if format == Format::Json {
        let v = serde_json::json!({
            "now": now,
            "active": st.active.values().map(|g| serde_json::json!({
                "request": g.request, "requester": g.requester, "vault": g.vault, "secret": g.secret,
                "start": g.start, "expires": g.expires, "seconds_left": (g.expires - now).num_seconds(),
                "break_glass": break_glass.contains(g.request.as_str()),
            })).collect::<Vec<_>>(),
            "pending": pending.iter().map(|(r, s)| serde_json::json!({"request": r, "starts": s})).collect::<Vec<_>>(),
            "revoke_lag": lag,
            "retrospectives": retros.iter().map(|(g, state)| {
                let mut v = serde_json::to_value(state).expect("serializes");
                v["request"] = serde_json::json!(g.request);
                v["requester"] = serde_json::json!(g.requester);
                v
            }).collect::<Vec<_>>(),
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
        let marker = if break_glass.contains(g.request.as_str()) {
            "  BREAK-GLASS"
        } else {
            ""
        };
        output::stdout(&format!(
            "  {}  {} on {}/{}  until {}  ({left}){marker}\n",
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
    if !retros.is_empty() {
        let open = retros
            .iter()
            .filter(|(_, s)| !matches!(s, RetroState::Done { .. }))
            .count();
        output::stdout(&format!(
            "break-glass retrospectives: {} ({open} open)\n",
            retros.len()
        ));
        for (g, state) in &retros {
            let line = match state {
                RetroState::Done { issue, by } => format!("done  #{issue} (approved by @{by})"),
                RetroState::Open { issue, missing } => format!("open  #{issue}: {missing}"),
                RetroState::NotOpened => "open  (issue not opened yet)".to_owned(),
                RetroState::Unverified { issue, why } => format!("open? #{issue}: {why}"),
            };
            output::stdout(&format!("  {}  {line}\n", g.request));
        }
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

/// Every break-glass grant and whether its retrospective is done, read through GitHub when a
/// token is there (without one, every opened retrospective is unverified).
fn retrospectives(ctx: &Ctx, entries: &[ledger::Entry]) -> Vec<(BreakGlassGrant, RetroState)> {
    if kv_jit_core::approval::retrospective::break_glass_grants(entries).is_empty() {
        return Vec::new();
    }
    let runtime = super::runtime();
    let _guard = runtime.enter();
    let github = GithubEnv::from_env(&ctx.env).and_then(|g| g.client().map(|c| (g, c)));
    let paths = super::grant::request_paths(ctx);
    let today = kv_jit_core::github::codeowners::pick(|path| {
        std::fs::read_to_string(ctx.repo_dir.join(path)).ok()
    });
    runtime.block_on(kv_jit_effects::github::retrospective::states(
        github.as_ref().ok().map(|(g, c)| (c, &g.repo)),
        entries,
        today.as_ref().map(|(_, c)| c),
        &ctx.config.identities,
        |id| super::grant::path_of(&paths, id),
    ))
}
