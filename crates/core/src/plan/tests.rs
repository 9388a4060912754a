use super::*;
use crate::names::{SecretName, VaultName};
use crate::request::{Duration, Upn};

fn t(s: &str) -> DateTime<Utc> {
    format!("2026-11-27T{s}:00Z").parse().unwrap()
}

fn id(s: &str) -> RequestId {
    RequestId::parse(s).unwrap()
}

fn req(name: &str, dur: &str) -> Desired {
    Desired {
        request: Request {
            id: id(name),
            path: format!("requests/{name}.yaml"),
            requester_pos: crate::diag::Pos::START,
            vault_pos: crate::diag::Pos::START,
            secret_pos: crate::diag::Pos::START,
            requester: Upn::parse("alice@contoso.com").unwrap(),
            vault: VaultName::parse("flowlibs-demo-kv").unwrap(),
            secret: SecretName::parse("demo-api-key").unwrap(),
            duration: Duration::parse(dur).unwrap(),
            justification: "Rotate the partner API client".into(),
            role: "secrets-user".into(),
            role_id: "4633458b-17de-408a-b874-0445c86b69e6".into(),
            start: None,
            ticket: None,
            extends: None,
            revoke: false,
            break_glass: false,
            issue: None,
        },
        sha256: format!("sha-{name}"),
        merged: Some(Merge {
            commit: format!("merge-{name}"),
            at: t("09:00"),
        }),
    }
}

/// The test config: one vault, 4h maximum, the default 30-day start bound.
fn config() -> Config {
    let text = "tenant_id: 00000000-0000-0000-0000-000000000000\nvaults:\n  flowlibs-demo-kv:\n    subscription_id: 11111111-1111-1111-1111-111111111111\n    resource_group: rg\n    secrets: [demo-api-key, demo-connection-string]\n    max_duration: 4h\n    roles: [secrets-user, secrets-officer]\n";
    crate::config::parse(text.as_bytes(), &mut crate::diag::Sink::new("c")).unwrap()
}

fn plan(
    desired: &[Desired],
    invalid: &[Invalid],
    ledger: &LedgerState,
    now: DateTime<Utc>,
) -> Vec<Action> {
    super::plan(desired, invalid, ledger, &config(), now)
}

fn merged_at(mut d: Desired, hhmm: &str) -> Desired {
    d.merged = Some(Merge {
        commit: format!("merge-{}", d.request.id),
        at: t(hhmm),
    });
    d
}

fn active(name: &str, start: &str, expires: &str) -> ActiveGrant {
    ActiveGrant {
        request: id(name),
        request_sha256: format!("sha-{name}"),
        start: t(start),
        expires: t(expires),
        assignment: format!("asg-{name}"),
        scope: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/flowlibs-demo-kv".into(),
        vault: "flowlibs-demo-kv".into(),
        secret: "demo-api-key".into(),
        requester: "alice@contoso.com".into(),
        principal_id: "p".into(),
        role_id: "4633458b-17de-408a-b874-0445c86b69e6".into(),
        expiry: None,
        extends: None,
    }
}

fn ledger_with(grants: &[ActiveGrant]) -> LedgerState {
    let mut l = LedgerState::default();
    for g in grants {
        l.granted.insert(
            g.request.clone(),
            GrantedOnce {
                sha256: g.request_sha256.clone(),
                at: g.start,
            },
        );
        l.active.insert(g.request.clone(), g.clone());
    }
    l
}

/// One line per action, so each case reads as a table row.
fn show(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::Revoke {
                grant,
                reason,
                shared_with: None,
                ..
            } => format!("revoke {} {reason:?}", grant.request),
            Action::Revoke {
                grant,
                reason,
                shared_with: Some(o),
                ..
            } => {
                format!(
                    "revoke {} {reason:?} in the ledger only (assignment continues for {o})",
                    grant.request
                )
            }
            Action::Grant {
                request,
                start,
                expires,
                ..
            } => {
                format!(
                    "grant {request} {}-{}",
                    start.format("%H:%M"),
                    expires.format("%H:%M")
                )
            }
            Action::Refuse {
                request, reason, ..
            } => format!(
                "refuse {request} [{}]: {}",
                reason.code(),
                reason.to_string().split(';').next().unwrap()
            ),
            Action::Wait { request, starts } => {
                format!("wait {request} until {}", starts.format("%H:%M"))
            }
        })
        .collect()
}

#[test]
fn a_new_approved_request_is_granted_from_now() {
    let got = plan(&[req("a", "2h")], &[], &LedgerState::default(), t("09:00"));
    assert_eq!(show(&got), ["grant a 09:00-11:00"]);
}

#[test]
fn a_future_start_waits_then_is_granted_for_its_own_window() {
    let mut r = req("a", "2h");
    r.request.start = Some(t("12:00"));
    assert_eq!(
        show(&plan(
            &[r.clone()],
            &[],
            &LedgerState::default(),
            t("09:00")
        )),
        ["wait a until 12:00"]
    );
    // A run that comes late still ends access at start + duration, not later.
    assert_eq!(
        show(&plan(
            &[r.clone()],
            &[],
            &LedgerState::default(),
            t("12:30")
        )),
        ["grant a 12:00-14:00"]
    );
    assert_eq!(
        show(&plan(&[r], &[], &LedgerState::default(), t("14:00"))),
        [
            "refuse a [window-ended]: its approved window ended at 2026-11-27T14:00:00Z before it could be granted"
        ]
    );
}

#[test]
fn due_and_overdue_grants_are_revoked_and_granted_ids_not_regranted() {
    let ledger = ledger_with(&[active("a", "08:00", "10:00"), active("b", "08:00", "12:00")]);
    let reqs = [req("a", "2h"), req("b", "4h")];
    assert_eq!(
        show(&plan(&reqs, &[], &ledger, t("10:00"))),
        ["revoke a Expired"]
    );
    // Missed runs: hours later, both are revoked at once, nothing re-granted.
    assert_eq!(
        show(&plan(&reqs, &[], &ledger, t("23:00"))),
        ["revoke a Expired", "revoke b Expired"]
    );
    assert!(plan(&reqs, &[], &ledger, t("09:00")).is_empty());
}

#[test]
fn early_revoke_by_deleting_the_file_or_setting_revoke() {
    let ledger = ledger_with(&[active("a", "08:00", "12:00"), active("b", "08:00", "12:00")]);
    let mut b = req("b", "4h");
    b.request.revoke = true;
    b.sha256 = "sha-b-revoked".into();
    assert_eq!(
        show(&plan(&[b], &[], &ledger, t("09:00"))),
        ["revoke a Early", "revoke b Early"]
    );
}

#[test]
fn a_changed_file_is_refused_once_and_the_grant_keeps_its_window() {
    let ledger = ledger_with(&[active("a", "08:00", "12:00")]);
    let mut a = req("a", "4h");
    a.sha256 = "sha-a-edited".into();
    let got = plan(&[a.clone()], &[], &ledger, t("09:00"));
    assert_eq!(
        show(&got),
        ["refuse a [changed-after-grant]: the request file changed after it was granted"]
    );
    let mut after = ledger.clone();
    after.refused.insert((id("a"), "sha-a-edited".into()));
    assert!(
        plan(&[a], &[], &after, t("09:00")).is_empty(),
        "refused once, not every run"
    );
}

#[test]
fn a_reused_id_is_refused() {
    let mut ledger = LedgerState::default();
    ledger.granted.insert(
        id("a"),
        GrantedOnce {
            sha256: "sha-old".into(),
            at: t("08:00"),
        },
    );
    let got = plan(&[req("a", "1h")], &[], &ledger, t("09:00"));
    assert_eq!(
        show(&got),
        ["refuse a [id-reused]: the request id was already used"]
    );
}

#[test]
fn an_invalid_file_on_main_is_refused_and_ends_its_grant_early() {
    // The policy tightened (or the file broke): access it no longer allows ends now.
    let ledger = ledger_with(&[active("a", "08:00", "12:00")]);
    let bad = Invalid {
        id: id("a"),
        path: "requests/a.yaml".into(),
        sha256: "x".into(),
        problems: vec!["duration-too-long".into()],
    };
    let got = plan(&[], &[bad], &ledger, t("09:00"));
    assert_eq!(
        show(&got),
        [
            "revoke a Early",
            "refuse a [invalid-request]: the request is invalid on the default branch: duration-too-long"
        ]
    );
}

#[test]
fn an_extension_runs_on_from_the_old_expiry_without_a_gap() {
    let ledger = ledger_with(&[active("a", "08:00", "10:00")]);
    let mut b = req("b", "2h");
    b.request.extends = Some(id("a"));
    let got = plan(
        &[merged_at(req("a", "2h"), "08:00"), b.clone()],
        &[],
        &ledger,
        t("09:30"),
    );
    assert_eq!(show(&got), ["grant b 09:30-12:00"]);
    // At 10:00 the old grant is revoked; the extension is a different assignment and stays.
    let mut after = ledger.clone();
    after.granted.insert(
        id("b"),
        GrantedOnce {
            sha256: b.sha256.clone(),
            at: t("09:30"),
        },
    );
    after.active.insert(
        id("b"),
        ActiveGrant {
            request: id("b"),
            start: t("09:30"),
            expires: t("12:00"),
            ..active("b", "09:30", "12:00")
        },
    );
    assert_eq!(
        show(&plan(
            &[merged_at(req("a", "2h"), "08:00"), b],
            &[],
            &after,
            t("10:00")
        )),
        ["revoke a Expired"]
    );
}

#[test]
fn an_extension_of_someone_elses_grant_is_refused() {
    let ledger = ledger_with(&[active("a", "08:00", "10:00")]);
    let mut b = req("b", "2h");
    b.request.extends = Some(id("a"));
    b.request.secret = SecretName::parse("demo-connection-string").unwrap();
    let got = plan(&[req("a", "2h"), b], &[], &ledger, t("09:30"));
    assert_eq!(
        show(&got),
        [
            "refuse b [extends-other-access]: `extends: a` names a grant for another vault, secret, requester or role"
        ]
    );
}

#[test]
fn revokes_come_before_grants() {
    let ledger = ledger_with(&[active("a", "08:00", "09:00")]);
    let got = plan(&[req("a", "1h"), req("b", "1h")], &[], &ledger, t("09:00"));
    assert_eq!(show(&got), ["revoke a Expired", "grant b 09:00-10:00"]);
}

#[test]
fn a_refused_file_is_not_retried_until_it_changes() {
    let mut ledger = LedgerState::default();
    ledger.refused.insert((id("a"), "sha-a".into()));
    assert!(plan(&[req("a", "1h")], &[], &ledger, t("09:00")).is_empty());
    let mut changed = req("a", "1h");
    changed.sha256 = "sha-a-2".into();
    assert_eq!(
        show(&plan(&[changed], &[], &ledger, t("09:00"))),
        ["grant a 09:00-10:00"]
    );
}

#[test]
fn an_extension_sharing_the_assignment_keeps_it_when_the_old_grant_ends() {
    // Azure answered the extension's PUT with the existing assignment: both hold one name.
    let a = active("a", "08:00", "10:00");
    let b = ActiveGrant {
        request: id("b"),
        request_sha256: "sha-b".into(),
        ..active("a", "09:30", "12:00")
    };
    let ledger = ledger_with(&[a, b]);
    let mut b_req = req("b", "2h");
    b_req.request.extends = Some(id("a"));
    let a_req = merged_at(req("a", "2h"), "08:00");
    let got = plan(&[a_req.clone(), b_req.clone()], &[], &ledger, t("10:00"));
    assert_eq!(
        show(&got),
        ["revoke a Expired in the ledger only (assignment continues for b)"]
    );
    // When both end together the assignment is deleted once.
    let got = plan(&[a_req, b_req], &[], &ledger, t("12:00"));
    assert_eq!(show(&got), ["revoke a Expired", "revoke b Expired"]);
}

#[test]
fn extending_a_grant_whose_window_already_ended_is_a_plain_new_grant() {
    // The revoker has not run yet: the base is still active in the ledger but its window is over.
    let ledger = ledger_with(&[active("a", "08:00", "10:00")]);
    let mut b = merged_at(req("b", "2h"), "10:30");
    b.request.extends = Some(id("a"));
    let got = plan(
        &[merged_at(req("a", "2h"), "08:00"), b],
        &[],
        &ledger,
        t("10:30"),
    );
    assert_eq!(show(&got), ["revoke a Expired", "grant b 10:30-12:30"]);
}

// Issue 8, the ledger is evidence, never authority: one test per hole.

#[test]
fn a_forged_extension_base_in_the_ledger_cannot_move_the_window() {
    // A hand-appended, correctly chained `granted` line says the base runs to 2099.
    let mut forged = active("a", "08:00", "10:00");
    forged.expires = "2099-01-01T00:00:00Z".parse().unwrap();
    let ledger = ledger_with(&[forged]);
    let mut b = merged_at(req("b", "1h"), "09:00");
    b.request.extends = Some(id("a"));
    let got = plan(
        &[merged_at(req("a", "2h"), "08:00"), b],
        &[],
        &ledger,
        t("09:30"),
    );
    // The base's approved window (its file and merge) ends at 10:00: the extension ends at 11:00.
    assert_eq!(show(&got), ["grant b 09:30-11:00"]);
}

#[test]
fn after_the_ledger_is_lost_an_old_request_is_not_granted_again() {
    // Merged the day before, granted and revoked then; the ledger that said so is gone.
    let mut old = req("a", "2h");
    old.merged = Some(Merge {
        commit: "m".into(),
        at: "2026-11-26T09:00:00Z".parse().unwrap(),
    });
    let got = plan(&[old], &[], &LedgerState::default(), t("09:00"));
    assert_eq!(
        show(&got),
        [
            "refuse a [window-ended]: its approved window ended at 2026-11-26T11:00:00Z before it could be granted"
        ]
    );
}

#[test]
fn a_late_grant_still_ends_when_its_approved_window_ends() {
    // Merged at 09:00; the grant failed and a run at 10:00 retries it.
    let got = plan(&[req("a", "2h")], &[], &LedgerState::default(), t("10:00"));
    assert_eq!(show(&got), ["grant a 09:00-11:00"]);
}

#[test]
fn a_request_without_a_merge_is_refused() {
    let mut a = req("a", "2h");
    a.merged = None;
    let got = plan(&[a], &[], &LedgerState::default(), t("10:00"));
    assert_eq!(
        show(&got),
        [
            "refuse a [no-merge-commit]: no commit on the default branch brought this file, so there is no approved window"
        ]
    );
}

#[test]
fn a_start_beyond_max_start_delay_is_refused() {
    let mut a = req("a", "2h");
    a.request.start = Some("2026-12-28T09:00:01Z".parse().unwrap());
    let got = plan(&[a.clone()], &[], &LedgerState::default(), t("09:00"));
    assert_eq!(
        show(&got),
        [
            "refuse a [start-too-late]: `start: 2026-12-28T09:00:01Z` is more than 720h after the merge (2026-11-27T09:00:00Z)"
        ]
    );
    a.request.start = Some("2026-12-27T09:00:00Z".parse().unwrap());
    let got = plan(&[a], &[], &LedgerState::default(), t("09:00"));
    assert_eq!(show(&got), ["wait a until 09:00"]);
}

#[test]
fn extends_with_another_role_is_refused() {
    let ledger = ledger_with(&[active("a", "08:00", "12:00")]);
    let mut b = req("b", "1h");
    b.request.extends = Some(id("a"));
    b.request.role = "secrets-officer".into();
    b.request.role_id = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7".into();
    let got = plan(
        &[merged_at(req("a", "4h"), "08:00"), b],
        &[],
        &ledger,
        t("09:30"),
    );
    assert_eq!(
        show(&got),
        [
            "refuse b [extends-other-access]: `extends: a` names a grant for another vault, secret, requester or role"
        ]
    );
}

#[test]
fn a_deleted_request_re_added_byte_for_byte_is_refused() {
    // Granted at 09:00 and revoked early when its file was deleted; the same bytes come back
    // under the same id in a later, approved pull request merged at 12:00.
    let mut ledger = LedgerState::default();
    ledger.granted.insert(
        id("a"),
        GrantedOnce {
            sha256: "sha-a".into(),
            at: t("09:00"),
        },
    );
    let again = merged_at(req("a", "2h"), "12:00");
    assert_eq!(
        show(&plan(&[again], &[], &ledger, t("12:05"))),
        [
            "refuse a [id-brought-again]: the request id was already used (the file was brought again after its grant)"
        ]
    );
    // The same bytes, untouched since the grant: already done, nothing to record.
    assert!(plan(&[req("a", "2h")], &[], &ledger, t("12:05")).is_empty());
}

// The security review's findings, one test each.

#[test]
fn an_extends_chain_through_a_refused_far_future_start_moves_nothing() {
    // `a` starts in 2099 (beyond max_start_delay: refused, but on main); `b` extends `a` and was
    // granted as a plain grant; `e` extends `b`. Nothing may run to 2099.
    let mut a = req("a", "1h");
    a.request.start = Some("2099-01-01T00:00:00Z".parse().unwrap());
    let mut b = req("b", "1h");
    b.request.extends = Some(id("a"));
    let mut e = merged_at(req("e", "1h"), "09:30");
    e.request.extends = Some(id("b"));
    let ledger = ledger_with(&[active("b", "09:00", "10:00")]);
    let got = plan(&[a, b, e], &[], &ledger, t("09:30"));
    assert!(
        show(&got).contains(&"grant e 09:30-11:00".to_owned()),
        "{:?}",
        show(&got)
    );
}

#[test]
fn an_extends_cycle_moves_nothing() {
    let mut a = req("a", "4h");
    a.request.extends = Some(id("b"));
    let mut b = req("b", "4h");
    b.request.extends = Some(id("a"));
    let on_main: BTreeMap<&RequestId, &Desired> = [(&a.request.id, &a), (&b.request.id, &b)]
        .into_iter()
        .collect();
    let (_, end) = approved_window(&b, &on_main, &config()).unwrap();
    assert!(end <= t("17:00"), "{end}");
}

#[test]
fn a_forged_line_for_a_waiting_request_is_ended_and_capped() {
    // `z` waits for its start at 12:00; a chained line says it was granted until 2099.
    let mut z = req("z", "1h");
    z.request.start = Some(t("12:00"));
    let mut forged = active("z", "09:00", "10:00");
    forged.expires = "2099-01-01T00:00:00Z".parse().unwrap();
    let ledger = ledger_with(&[forged]);
    let got = plan(&[z.clone()], &[], &ledger, t("09:30"));
    assert_eq!(show(&got), ["revoke z Early"]);
    // And once its window is open, it ends with it.
    assert_eq!(
        show(&plan(&[z], &[], &ledger, t("13:00"))),
        ["revoke z Expired"]
    );
}
