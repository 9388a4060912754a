//! `kv-jit audit check-azure`: the ledger against what Azure itself holds and recorded (role
//! assignments, standing Key Vault data access, the Activity Log). Read-only. The comparison is
//! `kv_jit_core::audit::azure`; this module fetches its inputs and prints the table.

use std::path::Path;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use kv_jit_core::audit::azure::{self as audit, Fetched, Inputs, Level, Report, Status, Verdict};
use kv_jit_core::azure::{Assignment, AzureError, VaultRef};
use kv_jit_core::diag::Format;
use kv_jit_effects::azure::{activity_log, arm, role_definitions};
use kv_jit_engine::ports::LedgerStore;

use super::context::{Ctx, fail};
use crate::Exit;
use crate::cli::CheckAzureArgs;
use crate::output::{self, Fatal};

/// `kv-jit audit check-azure [--since T] [--until T] [--identity ID]...`
pub fn run(args: &CheckAzureArgs, config_path: &Path, now: DateTime<Utc>, format: Format) -> Exit {
    let until = args.until.unwrap_or(now);
    let since = args
        .since
        .unwrap_or(until - Duration::days(activity_log::RETENTION_DAYS));
    if since > until {
        return output::fatal(Fatal::usage(
            "invalid-argument",
            format!("--since {} is after --until {}", ts(since), ts(until)),
        ));
    }
    if until - since > Duration::days(activity_log::RETENTION_DAYS)
        || since < now - Duration::days(activity_log::RETENTION_DAYS)
    {
        return output::fatal(
            Fatal::usage(
                "invalid-argument",
                format!(
                    "the window {} .. {} reaches past the Activity Log's {} days of retention",
                    ts(since),
                    ts(until),
                    activity_log::RETENTION_DAYS
                ),
            )
            .help("give a --since within the last 90 days (the default is exactly that)"),
        );
    }
    let ctx = match Ctx::load(config_path, format, &args.remote) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let entries = match ctx.ledger().read() {
        Ok(e) => e,
        Err(p) => return fail("ledger-unreadable", p.message(), Exit::Problems),
    };
    let mut vaults = Vec::new();
    for policy in ctx.config.vaults.values() {
        match VaultRef::new(
            &policy.subscription_id,
            &policy.resource_group,
            policy.name.clone(),
        ) {
            Ok(v) => vaults.push(v),
            Err(e) => {
                return output::fatal(Fatal::usage(
                    "config-invalid",
                    format!("vault {}: {e}", policy.name),
                ));
            }
        }
    }
    let kv_jit_ids: Vec<String> = if args.identity.is_empty() {
        ctx.var("AZURE_CLIENT_ID")
            .map(|id| vec![id.to_owned()])
            .unwrap_or_default()
    } else {
        args.identity.clone()
    };
    let runtime = super::runtime();
    let _guard = runtime.enter();
    let azure = match ctx.azure_client() {
        Ok(a) => a,
        Err(e) => {
            return output::fatal(
                Fatal::usage("azure-credential", e)
                    .help("run with the workflow's AZURE_* environment (an identity with Reader on the vaults' resource groups)"),
            );
        }
    };
    let (around, operations, role_definitions) = runtime.block_on(async {
        let mut around = Vec::new();
        let mut around_err = None;
        for v in &vaults {
            match arm::list_around_scope(&azure, &v.scope()).await {
                Ok(list) => around.extend(list),
                Err(e) => {
                    around_err = Some(failed(&e));
                    break;
                }
            }
        }
        let mut events = Vec::new();
        let mut events_err = None;
        let mut groups: Vec<&VaultRef> = Vec::new();
        for v in &vaults {
            if !groups.iter().any(|g| {
                g.subscription_id() == v.subscription_id()
                    && g.resource_group().eq_ignore_ascii_case(v.resource_group())
            }) {
                groups.push(v);
            }
        }
        for v in groups {
            match activity_log::list(&azure, v, since, until).await {
                Ok(list) => events.extend(list),
                Err(e) => {
                    events_err = Some(failed(&e));
                    break;
                }
            }
        }
        let around = match around_err {
            Some(f) => f,
            None => Fetched::Got(around),
        };
        let operations = match events_err {
            Some(f) => f,
            None => {
                let (ops, skipped) = audit::operations(&events);
                if skipped > 0 {
                    output::stderr(&format!(
                        "note: {skipped} role assignment event(s) in the Activity Log had no time, resource id or correlation id and were left out\n"
                    ));
                }
                Fetched::Got(ops)
            }
        };
        // Each role's definition, for its data actions (custom roles included).
        let mut role_definitions = Vec::new();
        if let (Fetched::Got(list), Some(v)) = (&around, vaults.first()) {
            let mut roles: Vec<&str> = list.iter().map(|a| a.role.as_str()).collect();
            roles.sort_unstable();
            roles.dedup();
            for role in roles {
                match role_definitions::get(&azure, &v.scope(), role).await {
                    Ok(Some(d)) => role_definitions.push(audit::RoleInfo {
                        id: d.id,
                        name: d.name,
                        data_actions: d.data_actions,
                        not_data_actions: d.not_data_actions,
                    }),
                    // Unknown to Azure, or unreadable: judged by the built-in table.
                    Ok(None) => {}
                    Err(e) => output::stderr(&format!(
                        "note: role definition {role} could not be read ({e}); judged by the built-in roles' table\n"
                    )),
                }
            }
        }
        (around, operations, role_definitions)
    });
    let vault_scopes: Vec<String> = vaults.iter().map(VaultRef::scope).collect();
    let managed = match &around {
        Fetched::Got(list) => Fetched::Got(
            list.iter()
                .filter(|a| vault_scopes.iter().any(|v| at_or_below(&a.scope, v)))
                .cloned()
                .collect::<Vec<Assignment>>(),
        ),
        Fetched::Failed { why, forbidden } => Fetched::Failed {
            why: why.clone(),
            forbidden: *forbidden,
        },
    };
    let inputs = Inputs {
        now,
        since,
        until,
        vault_scopes,
        managed,
        around,
        operations,
        kv_jit_ids: kv_jit_ids.clone(),
        role_definitions,
    };
    let report = audit::check(&entries, &inputs);
    render(&report, &inputs, format);
    match report.verdict() {
        Verdict::AllGood => Exit::Ok,
        Verdict::Problems => Exit::Problems,
        Verdict::NotPermitted => Exit::Usage,
    }
}

fn failed<T>(e: &AzureError) -> Fetched<T> {
    let forbidden = matches!(
        e,
        AzureError::AuthorizationFailed { .. } | AzureError::Api { status: 403, .. }
    );
    Fetched::Failed {
        why: e.to_string(),
        forbidden,
    }
}

fn at_or_below(scope: &str, vault: &str) -> bool {
    let (s, v) = (scope.to_ascii_lowercase(), vault.to_ascii_lowercase());
    s == v || s.starts_with(&format!("{v}/"))
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Text from Azure (callers, descriptions through the marker) on one line without control
/// characters: no terminal escapes, no forged workflow commands.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn level(l: Level) -> &'static str {
    match l {
        Level::Problem => "problem",
        Level::Info => "info",
    }
}

fn render(report: &Report, inputs: &Inputs, format: Format) {
    if format == Format::Json {
        let doc = serde_json::json!({
            "ok": report.verdict() == Verdict::AllGood,
            "window": {"since": ts(inputs.since), "until": ts(inputs.until)},
            "identity": inputs.kv_jit_ids,
            "checks": report.checks,
            "rows": report.rows,
        });
        output::stdout(&(serde_json::to_string_pretty(&doc).expect("serializes") + "\n"));
        return;
    }
    let mut out = format!(
        "check-azure: {} vault(s), Activity Log window {} .. {}\n",
        inputs.vault_scopes.len(),
        ts(inputs.since),
        ts(inputs.until)
    );
    if !report.rows.is_empty() {
        let w_check = report
            .rows
            .iter()
            .map(|r| r.check.as_str().len())
            .max()
            .unwrap_or(0)
            .max(5);
        let w_code = report
            .rows
            .iter()
            .map(|r| r.code.len())
            .max()
            .unwrap_or(0)
            .max(4);
        let w_subject = report
            .rows
            .iter()
            .map(|r| r.subject.chars().count())
            .max()
            .unwrap_or(0)
            .max(7);
        out.push_str(&format!(
            "\n{:<8} {:<w_check$} {:<w_code$} {:<w_subject$} DETAIL\n",
            "LEVEL", "CHECK", "CODE", "SUBJECT"
        ));
        for r in &report.rows {
            out.push_str(&format!(
                "{:<8} {:<w_check$} {:<w_code$} {:<w_subject$} {}\n",
                level(r.level),
                r.check.as_str(),
                r.code,
                clean(&r.subject),
                clean(&r.detail)
            ));
        }
    }
    out.push('\n');
    for c in &report.checks {
        let infos = report
            .rows
            .iter()
            .filter(|r| r.check == c.check && r.level == Level::Info)
            .count();
        let problems = report
            .rows
            .iter()
            .filter(|r| r.check == c.check && r.level == Level::Problem)
            .count();
        let status = match &c.status {
            Status::Passed if infos > 0 => format!("passed ({infos} for information)"),
            Status::Passed => "passed".to_owned(),
            Status::Failed => format!("FAILED ({problems} problem(s))"),
            Status::NotRun { why, .. } => format!("NOT RUN: {}", clean(why)),
        };
        out.push_str(&format!("{:<16} {status}\n", c.check.as_str()));
    }
    out.push_str(match report.verdict() {
        Verdict::AllGood => "check-azure: the ledger matches Azure\n",
        Verdict::Problems => "check-azure: the ledger and Azure disagree, or a check could not run\n",
        Verdict::NotPermitted => {
            "check-azure: a check could not run for lack of permission or identity (see docs/activity-log.md)\n"
        }
    });
    output::stdout(&out);
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_from_azure_cannot_break_the_line() {
        assert_eq!(
            super::clean("req\u{1b}[31m\n::error::x"),
            "req?[31m?::error::x"
        );
    }
}
