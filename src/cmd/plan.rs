//! `kv-jit plan`: the plan a grant run would carry out now, without carrying it out.

use std::path::Path;

use chrono::{DateTime, Utc};

use kv_jit_core::diag::Format;
use kv_jit_core::plan::{self, Action, state};
use kv_jit_engine::ports::LedgerStore;

use super::context::{Ctx, fail};
use crate::Exit;
use crate::output;

/// `kv-jit plan`: what a grant run would do now (or at `--now`), without doing it. Approvals
/// are verified only by `grant`; the plan lists what is due.
pub fn plan_cmd(config_path: &Path, now: DateTime<Utc>, format: Format, remote: &str) -> Exit {
    let ctx = match Ctx::load(config_path, format, remote) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let entries = match ctx.ledger().read() {
        Ok(e) => e,
        Err(p) => return fail("ledger-unreadable", p.message(), Exit::Problems),
    };
    let (desired, invalid) = match ctx.requests() {
        Ok(r) => r,
        Err(m) => return fail("requests-unreadable", &m, Exit::Usage),
    };
    let actions = plan::plan(
        &desired,
        &invalid,
        &state::from_ledger(&entries),
        &ctx.config,
        now,
    );
    match format {
        Format::Json => output::stdout(
            &(serde_json::to_string_pretty(&actions).expect("plan serializes") + "\n"),
        ),
        _ => {
            if actions.is_empty() {
                output::stdout("nothing to do\n");
            }
            for a in &actions {
                output::stdout(&(describe(a) + "\n"));
            }
        }
    }
    Exit::Ok
}

pub fn describe(a: &Action) -> String {
    let t = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match a {
        Action::Grant {
            desired,
            start,
            expires,
            ..
        } => {
            let r = &desired.request;
            format!(
                "grant   {}: {} gets {} on {}/{} from {} until {}",
                r.id,
                r.requester,
                r.role,
                r.vault,
                r.secret,
                t(start),
                t(expires)
            )
        }
        Action::Revoke {
            grant,
            reason,
            shared_with,
            ..
        } => {
            let why = match reason {
                plan::RevokeReason::Expired => format!("its window ended at {}", t(&grant.expires)),
                plan::RevokeReason::Early => {
                    format!("early; its window ran to {}", t(&grant.expires))
                }
            };
            let shared = shared_with
                .as_ref()
                .map(|o| format!("; the assignment continues for {o}"))
                .unwrap_or_default();
            format!(
                "revoke  {}: {} on {}/{} ({why}{shared})",
                grant.request, grant.requester, grant.vault, grant.secret
            )
        }
        Action::Refuse {
            request, reason, ..
        } => format!("refuse  {request}: {reason}"),
        Action::Wait { request, starts } => format!("wait    {request}: starts {}", t(starts)),
    }
}
