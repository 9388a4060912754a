//! `kv-jit plan`: the plan a grant run would carry out now, without carrying it out.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Utc};

use kv_jit_core::diag::Format;
use kv_jit_core::plan::{self, Action, state};
use kv_jit_core::request::RequestId;

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
    // The request files first, so the ledger's state keeps only what the plan asks about
    // them (and every active grant); a ledger problem is still reported first.
    let requests = ctx.requests();
    let ids: HashSet<RequestId> = match &requests {
        Ok((desired, invalid)) => desired
            .iter()
            .map(|d| d.request.id.clone())
            .chain(invalid.iter().map(|i| i.id.clone()))
            .collect(),
        Err(_) => HashSet::new(),
    };
    let ledger = match ctx.ledger().read_state(state::Interest::Only(&ids)) {
        Ok(s) => s,
        Err(p) => return fail("ledger-unreadable", p.message(), Exit::Problems),
    };
    let (desired, invalid) = match requests {
        Ok(r) => r,
        Err(m) => return fail("requests-unreadable", &m, Exit::Usage),
    };
    let actions = plan::plan(&desired, &invalid, &ledger, &ctx.config, now);
    match format {
        Format::Json => {
            let by_id = by_id(&desired);
            let view: Vec<serde_json::Value> = actions
                .iter()
                .map(|a| json_action(a, &by_id, &ctx.config))
                .collect();
            output::stdout(&(serde_json::to_string_pretty(&view).expect("plan serializes") + "\n"));
        }
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

/// The request files by id, for [`json_action`]: the first file of an id wins, as a search in
/// file order would find.
pub fn by_id(desired: &[plan::Desired]) -> HashMap<&str, &plan::Desired> {
    let mut m = HashMap::with_capacity(desired.len());
    for d in desired {
        m.entry(d.request.id.as_str()).or_insert(d);
    }
    m
}

/// One action of `plan --format json`: what it is (`action`), for which request, and, wherever
/// the plan or the request files know it, who (`requester`), where (`vault`, `secret`, the
/// Azure `scope`), which role (`role: {alias, id}`) and when (`start`, `expires`, `starts`: RFC
/// 3339 to the second, UTC). Refusals add `code` and `reason`.
pub fn json_action(
    a: &Action,
    desired: &HashMap<&str, &plan::Desired>,
    config: &kv_jit_core::config::Config,
) -> serde_json::Value {
    use serde_json::{Value, json};
    let t = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let alias_of = |role_id: &str| {
        config
            .roles
            .iter()
            .find(|(_, id)| id.eq_ignore_ascii_case(role_id))
            .map(|(alias, _)| alias.clone())
    };
    // What the request file on the default branch says (a grant, a wait, a refusal of a
    // readable file), including the scope its vault's policy gives it.
    let from_request = |id: &str| -> serde_json::Map<String, Value> {
        let Some(r) = desired.get(id).map(|d| &d.request) else {
            return serde_json::Map::new();
        };
        let scope = config.vaults.get(&r.vault).and_then(|p| {
            let vault = kv_jit_core::azure::VaultRef::new(
                &p.subscription_id,
                &p.resource_group,
                r.vault.clone(),
            )
            .ok()?;
            Some(match p.scope {
                kv_jit_core::config::Scope::Vault => vault.scope(),
                kv_jit_core::config::Scope::Secret => vault.secret_scope(&r.secret),
            })
        });
        let v = json!({
            "requester": r.requester.to_string(),
            "vault": r.vault.to_string(),
            "secret": r.secret.to_string(),
            "role": {"alias": r.role, "id": r.role_id},
            "scope": scope,
            "duration": r.duration.to_string(),
        });
        match v {
            Value::Object(m) => m,
            _ => unreachable!("a JSON object"),
        }
    };
    let mut out = serde_json::Map::new();
    match a {
        Action::Grant {
            request,
            start,
            expires,
            extends,
            ..
        } => {
            out.insert("action".into(), json!("grant"));
            out.insert("request".into(), json!(request.to_string()));
            out.extend(from_request(request.as_str()));
            if let Some(ext) = extends {
                // An extension shares the assignment of the grant it continues.
                out.insert("scope".into(), json!(ext.base.scope));
                out.insert("extends".into(), json!(ext.base.request.to_string()));
            }
            out.insert("start".into(), json!(t(start)));
            out.insert("expires".into(), json!(t(expires)));
        }
        Action::Revoke {
            grant,
            reason,
            shared_with,
            ..
        } => {
            out.insert("action".into(), json!("revoke"));
            out.insert("request".into(), json!(grant.request.to_string()));
            out.insert("requester".into(), json!(grant.requester));
            out.insert("vault".into(), json!(grant.vault));
            out.insert("secret".into(), json!(grant.secret));
            out.insert(
                "role".into(),
                json!({"alias": alias_of(&grant.role_id), "id": grant.role_id}),
            );
            out.insert("scope".into(), json!(grant.scope));
            out.insert("start".into(), json!(t(&grant.start)));
            out.insert("expires".into(), json!(t(&grant.expires)));
            out.insert(
                "reason".into(),
                serde_json::to_value(reason).unwrap_or(Value::Null),
            );
            if let Some(o) = shared_with {
                out.insert("shared_with".into(), json!(o.to_string()));
            }
        }
        Action::Refuse {
            request,
            path,
            reason,
            ..
        } => {
            out.insert("action".into(), json!("refuse"));
            out.insert("request".into(), json!(request.to_string()));
            out.extend(from_request(request.as_str()));
            out.insert("path".into(), json!(path));
            out.insert("code".into(), json!(reason.code()));
            out.insert("reason".into(), json!(reason.to_string()));
        }
        Action::Wait { request, starts } => {
            out.insert("action".into(), json!("wait"));
            out.insert("request".into(), json!(request.to_string()));
            out.extend(from_request(request.as_str()));
            out.insert("starts".into(), json!(t(starts)));
        }
    }
    Value::Object(out)
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
