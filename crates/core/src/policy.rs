//! Policy: a raw request checked against the config, as of `now`. Every rule reports on its own
//! line with a note pointing at the config line that made the rule; all rules run, so one pass
//! shows every problem. The same function runs in the PR check and again on main before a grant.

use chrono::{DateTime, Utc};

use crate::config::{Config, VaultPolicy};
use crate::diag::{Code, DiagExt, Sink};
use crate::fields::Spanned;
use crate::names::{SecretName, VaultName, escape};
use crate::request::{Duration, RawRequest, Request, RequestId, Upn};

/// Checks `raw` (whose id is `id`) against `config` as of `now`. Returns the validated request
/// only when no rule failed. With `now` absent the time-dependent rule (window already ended) is
/// left to the planner, which knows whether the request was granted in time.
pub fn check(
    raw: &RawRequest,
    id: Option<RequestId>,
    config: &Config,
    now: Option<DateTime<Utc>>,
    sink: &mut Sink,
) -> Option<Request> {
    let cfg = config.path.as_str();

    let requester = raw
        .requester
        .as_ref()
        .and_then(|r| match Upn::parse(&r.value) {
            Ok(u) => Some(u),
            Err(m) => {
                sink.error(Code::InvalidRequester, r.pos, m)
                    .with_help("use your Entra sign-in name, e.g. alice@contoso.com");
                None
            }
        });

    let vault_name = raw
        .vault
        .as_ref()
        .and_then(|v| match VaultName::parse(&v.value) {
            Ok(n) => Some(n),
            Err(e) => {
                sink.error(Code::InvalidVaultName, v.pos, e.0);
                None
            }
        });
    let policy: Option<&VaultPolicy> = match (&vault_name, &raw.vault) {
        (Some(name), Some(v)) => {
            let found = config.vaults.get(name);
            if found.is_none() {
                let known: Vec<&str> = config.vaults.keys().map(VaultName::as_str).collect();
                sink.error(
                    Code::UnknownVault,
                    v.pos,
                    format!("vault `{name}` is not configured"),
                )
                .with_help(format!("use one of: {}", known.join(", ")))
                .with_note(cfg, config.vaults_pos, "vaults are configured here");
            }
            found
        }
        _ => None,
    };

    let secret = raw
        .secret
        .as_ref()
        .and_then(|s| match SecretName::parse(&s.value) {
            Ok(name) => {
                if let Some(p) = policy
                    && !p.allows_secret(&name)
                {
                    let list: Vec<&str> = p.secrets.value.iter().map(|s| s.text.as_str()).collect();
                    sink.error(
                        Code::SecretNotAllowed,
                        s.pos,
                        format!(
                            "secret `{name}` is not on the allow-list of vault `{}`",
                            p.name
                        ),
                    )
                    .with_help(format!(
                        "request one of: {}; or ask the vault's owners to add it",
                        list.join(", ")
                    ))
                    .with_note(cfg, p.secrets.pos, "allow-list set here");
                    return None;
                }
                Some(name)
            }
            Err(e) => {
                sink.error(Code::InvalidSecretName, s.pos, e.0);
                None
            }
        });

    let duration = raw
        .duration
        .as_ref()
        .and_then(|d| duration(d, policy, cfg, sink));

    let role = match policy {
        None => None,
        Some(p) => match &raw.role {
            None => {
                let alias = p.roles.value[0].clone();
                Some((config.roles[&alias].clone(), alias))
            }
            Some(r) if p.roles.value.contains(&r.value) => {
                Some((config.roles[&r.value].clone(), r.value.clone()))
            }
            Some(r) => {
                sink.error(
                    Code::RoleNotAllowed,
                    r.pos,
                    format!(
                        "role `{}` is not allowed on vault `{}`",
                        escape(&r.value),
                        p.name
                    ),
                )
                .with_help(format!(
                    "use one of: {} (or leave `role` out for {})",
                    p.roles.value.join(", "),
                    p.roles.value[0]
                ))
                .with_note(cfg, p.roles.pos, "roles set here");
                None
            }
        },
    };

    let justification = raw.justification.as_ref().and_then(|j| {
        let text = j.value.trim();
        let problem = if text.chars().count() < 10 {
            Some("is too short: say what you will do and why (at least 10 characters)")
        } else if text.chars().count() > 1000 {
            Some("is over 1000 characters")
        } else if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            Some("holds control characters")
        } else {
            None
        };
        match problem {
            Some(p) => {
                sink.error(
                    Code::InvalidJustification,
                    j.pos,
                    format!("the justification {p}"),
                );
                None
            }
            None => Some(text.to_owned()),
        }
    });

    let start = raw
        .start
        .as_ref()
        .and_then(|s| match DateTime::parse_from_rfc3339(&s.value) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                sink.error(
                    Code::InvalidStart,
                    s.pos,
                    format!("`{}` is not an RFC 3339 instant", escape(&s.value)),
                )
                .with_help(
                    "write e.g. 2026-11-27T09:00:00Z (date, `T`, time and a zone: `Z` or `+01:00`)",
                );
                None
            }
        });
    if let (Some(now), Some(start), Some(d), Some(s)) = (now, start, duration, &raw.start) {
        let end = start + d.to_chrono();
        if end <= now {
            sink.error(
                Code::WindowEnded,
                s.pos,
                format!(
                    "the window {} to {} has already ended (now is {})",
                    rfc(start),
                    rfc(end),
                    rfc(now)
                ),
            )
            .with_help("move `start` to the future or remove it to start at merge");
        }
    }

    let ticket = raw.ticket.as_ref().and_then(|t| {
        let ok = t.value.len() <= 64 && t.value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '#' | '.' | '/'));
        if !ok {
            sink.error(Code::InvalidTicket, t.pos, format!("ticket `{}` has characters outside letters, digits and `-_#./`, or is over 64 characters", escape(&t.value)));
            return None;
        }
        Some(t.value.clone())
    });
    if let Some(p) = policy
        && p.require_ticket.value
        && raw.ticket.is_none()
    {
        sink.error(
            Code::TicketRequired,
            crate::diag::Pos::START,
            format!("vault `{}` requires a `ticket`", p.name),
        )
        .with_help("add `ticket: INC-1234` naming the change or incident")
        .with_note(cfg, p.require_ticket.pos, "require_ticket set here");
    }

    let extends = raw.extends.as_ref().and_then(|e| match RequestId::parse(&e.value) {
        Ok(x) if Some(&x) == id.as_ref() => {
            sink.error(Code::InvalidExtends, e.pos, "a request cannot extend itself");
            None
        }
        Ok(x) => Some(x),
        Err(m) => {
            sink.error(Code::InvalidExtends, e.pos, m).with_help("name the id of the request this one continues: its path below requests/ without .yaml");
            None
        }
    });

    if let Some(i) = raw.issue.as_ref().filter(|i| i.value == 0) {
        sink.error(
            Code::WrongType,
            i.pos,
            "`issue` must be the number of an issue in this repository (1 or more)",
        );
    }
    let break_glass = raw.break_glass.as_ref().filter(|b| b.value);
    if let Some(b) = break_glass {
        check_break_glass(b, raw, policy, duration, cfg, sink);
    }

    if sink.has_errors() {
        return None;
    }
    let (role_id, role) = role?;
    Some(Request {
        id: id?,
        path: sink.file().to_owned(),
        requester_pos: raw
            .requester
            .as_ref()
            .map_or(crate::diag::Pos::START, |r| r.pos),
        vault_pos: raw
            .vault
            .as_ref()
            .map_or(crate::diag::Pos::START, |r| r.pos),
        secret_pos: raw
            .secret
            .as_ref()
            .map_or(crate::diag::Pos::START, |r| r.pos),
        requester: requester?,
        vault: vault_name?,
        secret: secret?,
        duration: duration?,
        justification: justification?,
        role,
        role_id,
        start,
        ticket,
        extends,
        revoke: raw.revoke.as_ref().is_some_and(|r| r.value),
        break_glass: break_glass.is_some(),
        issue: raw
            .issue
            .as_ref()
            .map(|i| u64::from(i.value))
            .filter(|n| *n > 0),
    })
}

/// The break-glass rules: the vault must allow it (`break_glass:` in its config), the duration
/// must be within `break_glass.max_duration`, and it stands alone: no `extends:` (it would
/// continue an approved grant without approval) and no `start:` (its window is the merge's).
fn check_break_glass(
    b: &Spanned<bool>,
    raw: &RawRequest,
    policy: Option<&VaultPolicy>,
    duration: Option<Duration>,
    cfg: &str,
    sink: &mut Sink,
) {
    if let Some(p) = policy {
        match &p.break_glass {
            None => {
                sink.error(
                    Code::BreakGlassNotAllowed,
                    b.pos,
                    format!("vault `{}` does not allow break-glass requests", p.name),
                )
                .with_help("remove `break_glass` and ask a code owner to approve, or ask the vault's owners to add `break_glass: {max_duration: 1h}` in their own pull request")
                .with_note(cfg, p.pos, "the vault is configured here, without `break_glass`");
            }
            Some(allowed) => {
                let max = allowed.max_duration.value;
                if let (Some(dur), Some(d)) = (duration, &raw.duration)
                    && dur > max
                {
                    sink.error(
                        Code::BreakGlassTooLong,
                        d.pos,
                        format!(
                            "{dur} is over the {max} vault `{}` allows for break-glass",
                            p.name
                        ),
                    )
                    .with_help(format!(
                        "ask for {max} or less; a longer need goes through approval"
                    ))
                    .with_note(
                        cfg,
                        allowed.max_duration.pos,
                        format!("break_glass.max_duration {max} set here"),
                    );
                }
            }
        }
    }
    for (key, field) in [("extends", &raw.extends), ("start", &raw.start)] {
        if let Some(f) = field {
            sink.error(
                Code::BreakGlassConflict,
                f.pos,
                format!("a break-glass request cannot have `{key}`"),
            )
            .with_help(if key == "start" {
                "break-glass access starts at the merge: remove `start`"
            } else {
                "break-glass access stands alone: remove `extends` (an extension is approved like any request)"
            });
        }
    }
}

fn duration(
    d: &Spanned<String>,
    policy: Option<&VaultPolicy>,
    cfg: &str,
    sink: &mut Sink,
) -> Option<Duration> {
    match Duration::parse(&d.value) {
        Ok(dur) => {
            if let Some(p) = policy {
                let max = p.max_duration.value;
                if dur > max {
                    sink.error(Code::DurationTooLong, d.pos, format!("{dur} is over the {max} that vault `{}` allows", p.name))
                        .with_help(format!("ask for {max} or less; file a follow-up request with `extends:` if you need more"))
                        .with_note(cfg, p.max_duration.pos, format!("max_duration {max} set here"));
                    return None;
                }
            }
            Some(dur)
        }
        Err(e) => {
            let diag = sink.error(Code::InvalidDuration, d.pos, e.message);
            if let Some(h) = e.help {
                diag.with_help(h);
            }
            None
        }
    }
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests;
