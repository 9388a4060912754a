use super::*;
use crate::azure::Marker;
use crate::ledger::{NewEntry, Reason, Role, Tip, Window, append};
use serde_json::json;

const VAULT: &str = "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv";
const RG: &str = "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg";
const ALICE: &str = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
const BOB: &str = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";
const KVJIT_APP: &str = "33333333-3333-3333-3333-333333333333";
const KVJIT_OID: &str = "44444444-4444-4444-4444-444444444444";
const USER_ROLE: &str = "4633458b-17de-408a-b874-0445c86b69e6";
const NAME: &str = "0f0f0f0f-0000-5000-8000-000000000001";

fn secret_scope(name: &str) -> String {
    format!("{VAULT}/secrets/{}", name)
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn granted(at: &str) -> NewEntry {
    NewEntry {
        request: Some("2026/alice".into()),
        principal_id: Some(ALICE.into()),
        scope: Some(VAULT.into()),
        role: Some(Role {
            id: USER_ROLE.into(),
            alias: None,
        }),
        assignment: Some(NAME.into()),
        window: Some(Window {
            start: t("2026-11-27T09:00:00Z"),
            expires: t("2026-11-27T11:00:00Z"),
        }),
        expiry: Some(crate::ledger::ExpiryMode::Revoker),
        ..NewEntry::new(t(at), Event::Granted)
    }
}

fn revoked(at: &str, reason: Reason) -> NewEntry {
    NewEntry {
        event: Event::Revoked,
        reason: Some(reason),
        ..granted(at)
    }
}

fn assignment(name: &str, principal: &str, role: &str, scope: &str, marked: bool) -> Assignment {
    Assignment {
        id: format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
        name: name.into(),
        scope: scope.into(),
        role: role.into(),
        principal_id: principal.into(),
        principal_type: Some("User".into()),
        description: None,
        marker: marked.then(|| Marker {
            request_id: "2026/alice".into(),
            expires_at: t("2026-11-27T11:00:00Z"),
        }),
        marker_not_updated: None,
    }
}

fn op(action: Action, at: &str, by: &str, name: &str, principal: &str) -> Operation {
    Operation {
        correlation_id: format!("c-{at}-{name}"),
        action,
        outcome: Outcome::Succeeded,
        at: t(at),
        resource_id: format!("{VAULT}/providers/Microsoft.Authorization/roleAssignments/{name}"),
        caller: by.into(),
        caller_ids: vec![by.into()],
        principal_id: (action == Action::Write).then(|| principal.into()),
        role: (action == Action::Write).then(|| USER_ROLE.into()),
    }
}

fn inputs(assignments: Vec<Assignment>, ops: Vec<Operation>) -> Inputs {
    Inputs {
        now: t("2026-11-27T10:00:00Z"),
        since: t("2026-11-01T00:00:00Z"),
        until: t("2026-11-27T10:00:00Z"),
        vault_scopes: vec![VAULT.into()],
        managed: Fetched::Got(assignments.clone()),
        around: Fetched::Got(assignments),
        operations: Fetched::Got(ops),
        kv_jit_ids: vec![KVJIT_APP.into(), KVJIT_OID.into()],
        role_definitions: vec![],
    }
}

fn codes(r: &Report) -> Vec<(&'static str, Level)> {
    r.rows.iter().map(|r| (r.code, r.level)).collect()
}

fn status(r: &Report, c: Check) -> &Status {
    &r.checks.iter().find(|x| x.check == c).unwrap().status
}

#[test]
fn a_grant_azure_holds_and_recorded_passes() {
    let ledger = append(&Tip::genesis(), vec![granted("2026-11-27T09:00:05Z")]);
    let ra = assignment(NAME, ALICE, USER_ROLE, VAULT, true);
    let w = op(
        Action::Write,
        "2026-11-27T09:00:03Z",
        KVJIT_OID,
        NAME,
        ALICE,
    );
    let r = check(&ledger, &inputs(vec![ra], vec![w]));
    assert_eq!(codes(&r), vec![]);
    assert_eq!(r.verdict(), Verdict::AllGood);
}

#[test]
fn a_grant_and_its_revoke_pass_with_both_operations() {
    let ledger = append(
        &Tip::genesis(),
        vec![
            granted("2026-11-27T09:00:05Z"),
            revoked("2026-11-27T09:20:00Z", Reason::Early),
        ],
    );
    let ops = vec![
        op(
            Action::Write,
            "2026-11-27T09:00:03Z",
            KVJIT_APP,
            NAME,
            ALICE,
        ),
        op(
            Action::Delete,
            "2026-11-27T09:19:58Z",
            KVJIT_APP,
            NAME,
            ALICE,
        ),
    ];
    let r = check(&ledger, &inputs(vec![], ops));
    assert_eq!(codes(&r), vec![]);
    assert_eq!(r.verdict(), Verdict::AllGood);
}

#[test]
fn an_active_grant_azure_lost_is_missing() {
    let ledger = append(&Tip::genesis(), vec![granted("2026-11-27T09:00:05Z")]);
    let w = op(
        Action::Write,
        "2026-11-27T09:00:03Z",
        KVJIT_OID,
        NAME,
        ALICE,
    );
    let r = check(&ledger, &inputs(vec![], vec![w]));
    assert_eq!(codes(&r), vec![("missing-assignment", Level::Problem)]);
    assert_eq!(r.rows[0].subject, "2026/alice");
    assert_eq!(status(&r, Check::Assignments), &Status::Failed);
    assert_eq!(status(&r, Check::ActivityLog), &Status::Passed);
    assert_eq!(r.verdict(), Verdict::Problems);
}

#[test]
fn the_same_name_for_another_principal_is_a_wrong_principal() {
    let ledger = append(&Tip::genesis(), vec![granted("2026-11-27T09:00:05Z")]);
    let ra = assignment(NAME, BOB, USER_ROLE, VAULT, true);
    let w = op(
        Action::Write,
        "2026-11-27T09:00:03Z",
        KVJIT_OID,
        NAME,
        ALICE,
    );
    let r = check(&ledger, &inputs(vec![ra], vec![w]));
    let c = codes(&r);
    assert!(c.contains(&("wrong-principal", Level::Problem)), "{c:?}");
    assert!(r.rows[0].detail.contains(BOB));
}

#[test]
fn a_wrong_role_is_found() {
    let ledger = append(&Tip::genesis(), vec![granted("2026-11-27T09:00:05Z")]);
    let ra = assignment(
        NAME,
        ALICE,
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        VAULT,
        true,
    );
    let r = check(&ledger, &inputs(vec![ra], vec![]));
    assert!(codes(&r).contains(&("wrong-role", Level::Problem)));
}

#[test]
fn a_marked_assignment_the_ledger_does_not_hold_is_unrecorded() {
    let ledger = append(
        &Tip::genesis(),
        vec![
            granted("2026-11-27T09:00:05Z"),
            revoked("2026-11-27T09:20:00Z", Reason::Early),
        ],
    );
    let ra = assignment(NAME, ALICE, USER_ROLE, VAULT, true);
    let mut i = inputs(vec![ra], vec![]);
    i.operations = Fetched::Got(vec![
        op(
            Action::Write,
            "2026-11-27T09:00:03Z",
            KVJIT_APP,
            NAME,
            ALICE,
        ),
        op(
            Action::Delete,
            "2026-11-27T09:19:58Z",
            KVJIT_APP,
            NAME,
            ALICE,
        ),
    ]);
    let r = check(&ledger, &i);
    assert_eq!(codes(&r), vec![("unrecorded-assignment", Level::Problem)]);
    assert_eq!(r.rows[0].subject, NAME);
}

#[test]
fn standing_access_is_information_on_at_below_and_above_the_vault() {
    let ledger = append(&Tip::genesis(), vec![]);
    let around = vec![
        assignment("n1", BOB, USER_ROLE, VAULT, false),
        // One secret's scope (ARM's `vaults/{v}/secrets/{name}` resource).
        assignment("n2", BOB, USER_ROLE, &secret_scope("s"), false),
        assignment("n3", BOB, "00482a5a-887f-4fb3-b363-3b7fe8e74483", RG, false),
        // Owner: no data actions, not listed.
        assignment("n4", BOB, "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", RG, false),
        // Another vault in the same group: not this vault's.
        assignment(
            "n5",
            BOB,
            USER_ROLE,
            &format!("{RG}/providers/Microsoft.KeyVault/vaults/other"),
            false,
        ),
        // kv-jit's own (marked): not standing access.
        assignment("n6", ALICE, USER_ROLE, VAULT, true),
    ];
    let mut i = inputs(vec![], vec![]);
    i.around = Fetched::Got(around);
    let r = check(&ledger, &i);
    let standing: Vec<&str> = r
        .rows
        .iter()
        .filter(|r| r.code == "standing-access")
        .map(|r| r.detail.as_str())
        .collect();
    assert_eq!(standing.len(), 3, "{standing:?}");
    assert!(standing[0].contains("on the vault") && standing[0].contains("reads secret values"));
    assert!(standing[1].contains("on one secret"));
    assert!(
        standing[2].contains("above the vault") && standing[2].contains("Key Vault Administrator")
    );
    assert!(r.rows.iter().all(|r| r.level == Level::Info));
    assert_eq!(status(&r, Check::StandingAccess), &Status::Passed);
    // Information only: standing access alone never fails the run.
    assert_eq!(r.verdict(), Verdict::AllGood);
}

#[test]
fn a_kv_jit_write_with_no_ledger_entry_is_unrecorded() {
    let ledger = append(&Tip::genesis(), vec![]);
    let w = op(
        Action::Write,
        "2026-11-27T09:00:03Z",
        KVJIT_OID,
        NAME,
        ALICE,
    );
    let d = op(
        Action::Delete,
        "2026-11-27T09:10:00Z",
        KVJIT_OID,
        NAME,
        ALICE,
    );
    let r = check(&ledger, &inputs(vec![], vec![w, d]));
    assert_eq!(
        codes(&r),
        vec![
            ("unrecorded-write", Level::Problem),
            ("unrecorded-delete", Level::Problem)
        ]
    );
    assert_eq!(status(&r, Check::ActivityLog), &Status::Failed);
}

#[test]
fn a_write_far_from_its_ledger_entry_does_not_match() {
    let ledger = append(&Tip::genesis(), vec![granted("2026-11-27T09:00:05Z")]);
    let ra = assignment(NAME, ALICE, USER_ROLE, VAULT, true);
    let w = op(
        Action::Write,
        "2026-11-20T09:00:00Z",
        KVJIT_OID,
        NAME,
        ALICE,
    );
    let r = check(&ledger, &inputs(vec![ra], vec![w]));
    assert_eq!(
        codes(&r),
        vec![
            ("unrecorded-write", Level::Problem),
            ("grant-not-in-activity-log", Level::Problem)
        ]
    );
}

#[test]
fn a_crashed_grant_reconciled_as_an_orphan_accounts_for_its_write() {
    let ledger = append(
        &Tip::genesis(),
        vec![revoked("2026-11-27T09:40:00Z", Reason::Orphan)],
    );
    let ops = vec![
        op(
            Action::Write,
            "2026-11-27T09:00:03Z",
            KVJIT_OID,
            NAME,
            ALICE,
        ),
        op(
            Action::Delete,
            "2026-11-27T09:39:59Z",
            KVJIT_OID,
            NAME,
            ALICE,
        ),
    ];
    let r = check(&ledger, &inputs(vec![], ops));
    assert_eq!(codes(&r), vec![]);
}

#[test]
fn a_ledger_grant_with_no_write_in_the_log_is_found() {
    let ledger = append(&Tip::genesis(), vec![granted("2026-11-27T09:00:05Z")]);
    let ra = assignment(NAME, ALICE, USER_ROLE, VAULT, true);
    let r = check(&ledger, &inputs(vec![ra], vec![]));
    assert_eq!(
        codes(&r),
        vec![("grant-not-in-activity-log", Level::Problem)]
    );
    assert_eq!(r.rows[0].subject, "2026/alice");
}

#[test]
fn a_revoke_with_no_delete_in_the_log_is_found() {
    let ledger = append(
        &Tip::genesis(),
        vec![
            granted("2026-11-27T09:00:05Z"),
            revoked("2026-11-27T09:20:00Z", Reason::Expired),
        ],
    );
    let w = op(
        Action::Write,
        "2026-11-27T09:00:03Z",
        KVJIT_OID,
        NAME,
        ALICE,
    );
    let r = check(&ledger, &inputs(vec![], vec![w]));
    assert_eq!(
        codes(&r),
        vec![("revoke-not-in-activity-log", Level::Problem)]
    );
}

#[test]
fn a_grant_younger_than_the_ingestion_delay_is_not_yet_required() {
    let ledger = append(&Tip::genesis(), vec![granted("2026-11-27T09:50:00Z")]);
    let ra = assignment(NAME, ALICE, USER_ROLE, VAULT, true);
    let r = check(&ledger, &inputs(vec![ra], vec![]));
    assert_eq!(codes(&r), vec![("not-yet-in-activity-log", Level::Info)]);
    assert_eq!(r.verdict(), Verdict::AllGood);
}

#[test]
fn entries_outside_the_window_are_not_required() {
    let ledger = append(&Tip::genesis(), vec![granted("2026-10-01T09:00:05Z")]);
    let ra = assignment(NAME, ALICE, USER_ROLE, VAULT, true);
    let r = check(&ledger, &inputs(vec![ra], vec![]));
    assert_eq!(codes(&r), vec![]);
}

#[test]
fn writes_by_other_callers_are_listed_as_information() {
    let ledger = append(&Tip::genesis(), vec![]);
    let mut w = op(
        Action::Write,
        "2026-11-27T09:00:03Z",
        "mallory@contoso.com",
        "n9",
        BOB,
    );
    w.caller_ids
        .push("mmmmmmmm-0000-0000-0000-000000000000".into());
    let mut failed = op(
        Action::Write,
        "2026-11-27T09:01:00Z",
        "mallory@contoso.com",
        "n8",
        BOB,
    );
    failed.outcome = Outcome::Failed;
    // Another resource group's vault is not managed here.
    let mut elsewhere = op(
        Action::Write,
        "2026-11-27T09:02:00Z",
        "mallory@contoso.com",
        "n7",
        BOB,
    );
    elsewhere.resource_id = "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/other/providers/Microsoft.Authorization/roleAssignments/n7".into();
    let r = check(&ledger, &inputs(vec![], vec![w, failed, elsewhere]));
    assert_eq!(codes(&r), vec![("other-caller", Level::Info)]);
    assert_eq!(r.rows[0].subject, "mallory@contoso.com");
    assert!(r.rows[0].detail.contains(BOB));
    assert_eq!(r.verdict(), Verdict::AllGood);
}

#[test]
fn an_rg_scope_write_by_another_caller_is_listed() {
    let ledger = append(&Tip::genesis(), vec![]);
    let mut w = op(
        Action::Write,
        "2026-11-27T09:00:03Z",
        "mallory@contoso.com",
        "n9",
        BOB,
    );
    w.resource_id = format!("{RG}/providers/Microsoft.Authorization/roleAssignments/n9");
    let r = check(&ledger, &inputs(vec![], vec![w]));
    assert_eq!(codes(&r), vec![("other-caller", Level::Info)]);
}

#[test]
fn a_check_that_could_not_run_is_never_passed() {
    let ledger = append(&Tip::genesis(), vec![]);
    let mut i = inputs(vec![], vec![]);
    i.operations = Fetched::Failed {
        why: "HTTP 403 AuthorizationFailed".into(),
        forbidden: true,
    };
    let r = check(&ledger, &i);
    assert!(matches!(
        status(&r, Check::ActivityLog),
        Status::NotRun {
            forbidden: true,
            ..
        }
    ));
    assert_eq!(r.verdict(), Verdict::NotPermitted);

    i.operations = Fetched::Failed {
        why: "HTTP 503".into(),
        forbidden: false,
    };
    i.managed = Fetched::Failed {
        why: "HTTP 503".into(),
        forbidden: false,
    };
    let r = check(&ledger, &i);
    assert!(matches!(
        status(&r, Check::Assignments),
        Status::NotRun { .. }
    ));
    assert_eq!(r.verdict(), Verdict::Problems);
}

#[test]
fn without_kv_jit_identity_the_activity_log_check_does_not_run() {
    let ledger = append(&Tip::genesis(), vec![]);
    let mut i = inputs(vec![], vec![]);
    i.kv_jit_ids.clear();
    let r = check(&ledger, &i);
    assert!(matches!(
        status(&r, Check::ActivityLog),
        Status::NotRun {
            forbidden: true,
            ..
        }
    ));
    assert_eq!(r.verdict(), Verdict::NotPermitted);
}

#[test]
fn pim_grants_are_matched_by_principal_role_and_scope_and_not_in_the_log() {
    let pim = NewEntry {
        expiry: Some(crate::ledger::ExpiryMode::Pim),
        assignment: Some("schedule-request-1".into()),
        ..granted("2026-11-27T09:00:05Z")
    };
    let ledger = append(&Tip::genesis(), vec![pim]);
    let ra = assignment("pim-made", ALICE, USER_ROLE, VAULT, true);
    let r = check(&ledger, &inputs(vec![ra], vec![]));
    assert_eq!(codes(&r), vec![]);
    // Past its window PIM ended it, before it PIM has not started it: nothing is expected.
    for now in ["2026-11-27T12:00:00Z", "2026-11-27T08:00:00Z"] {
        let mut i = inputs(vec![], vec![]);
        i.now = t(now);
        let r = check(&ledger, &i);
        assert_eq!(codes(&r), vec![], "{now}");
    }
    // Inside it, Azure must hold it.
    let r = check(&ledger, &inputs(vec![], vec![]));
    assert_eq!(codes(&r), vec![("missing-assignment", Level::Problem)]);
}

#[test]
fn events_merge_into_operations_by_correlation_id() {
    let started = json!({
        "operationName": {"value": "Microsoft.Authorization/roleAssignments/write"},
        "status": {"value": "Started"},
        "eventTimestamp": "2026-11-27T09:00:01.5Z",
        "resourceId": format!("{VAULT}/providers/Microsoft.Authorization/roleAssignments/{NAME}"),
        "correlationId": "c1",
        "caller": KVJIT_OID,
        "claims": {"appid": KVJIT_APP},
        "properties": {"requestbody": format!(
            "{{\"Id\":\"{NAME}\",\"Properties\":{{\"PrincipalId\":\"{}\",\"RoleDefinitionId\":\"/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/{USER_ROLE}\"}}}}",
            ALICE.to_uppercase()
        )},
    });
    let mut done = started.clone();
    done["status"] = json!({"value": "Succeeded"});
    done["eventTimestamp"] = json!("2026-11-27T09:00:02Z");
    done["properties"] = json!({"statusCode": "Created"});
    let other = json!({
        "operationName": {"value": "Microsoft.KeyVault/vaults/write"},
        "status": {"value": "Succeeded"},
        "eventTimestamp": "2026-11-27T09:00:02Z",
        "resourceId": VAULT,
        "correlationId": "c2",
    });
    let broken = json!({"operationName": "Microsoft.Authorization/roleAssignments/delete"});
    let (ops, skipped) = operations(&[done, started, other, broken]);
    assert_eq!(skipped, 1);
    assert_eq!(ops.len(), 1);
    let o = &ops[0];
    assert_eq!(o.outcome, Outcome::Succeeded);
    assert_eq!(o.at, t("2026-11-27T09:00:02Z"));
    assert_eq!(o.principal_id.as_deref(), Some(ALICE));
    assert_eq!(o.role.as_deref(), Some(USER_ROLE));
    assert_eq!(o.name(), NAME);
    assert_eq!(o.scope(), VAULT);
    assert!(o.by(&[KVJIT_APP.to_uppercase()]));
    assert!(!o.by(&["someone".into()]));
}

#[test]
fn key_vault_data_roles_follow_their_data_actions() {
    assert_eq!(
        key_vault_data_role(USER_ROLE).map(|r| r.1),
        Some(DataAccess::ReadsSecrets)
    );
    assert_eq!(
        key_vault_data_role("00482a5a-887f-4fb3-b363-3b7fe8e74483").map(|r| r.1),
        Some(DataAccess::ReadsSecrets)
    );
    assert_eq!(
        key_vault_data_role("21090545-7CA7-4776-B22C-E363652D74D2").map(|r| r.1),
        Some(DataAccess::OtherKeyVaultData)
    );
    // Owner and Data Access Administrator carry no data actions.
    assert_eq!(
        key_vault_data_role("8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
        None
    );
    assert_eq!(
        key_vault_data_role("8b54135c-b56d-4d72-a534-26097cfdc8d8"),
        None
    );
    assert_eq!(data_access(&["*"]), Some(DataAccess::ReadsSecrets));
    assert_eq!(data_access(&["Microsoft.Storage/*"]), None);
}

#[test]
fn the_first_grants_revoke_deletes_nothing_while_its_extension_holds_the_assignment() {
    let extension = NewEntry {
        request: Some("2026/alice-more".into()),
        extends: Some("2026/alice".into()),
        ..granted("2026-11-27T10:30:00Z")
    };
    let end_of_extension = NewEntry {
        event: Event::Revoked,
        reason: Some(Reason::Expired),
        ..extension.clone()
    };
    let ledger = append(
        &Tip::genesis(),
        vec![
            granted("2026-11-27T09:00:05Z"),
            extension,
            revoked("2026-11-27T11:00:00Z", Reason::Expired),
            NewEntry {
                time: t("2026-11-27T13:00:00Z"),
                ..end_of_extension
            },
        ],
    );
    let ops = vec![
        op(
            Action::Write,
            "2026-11-27T09:00:03Z",
            KVJIT_OID,
            NAME,
            ALICE,
        ),
        // The extension rewrote the shared assignment's marker.
        op(
            Action::Write,
            "2026-11-27T10:30:00Z",
            KVJIT_OID,
            NAME,
            ALICE,
        ),
        op(
            Action::Delete,
            "2026-11-27T13:00:00Z",
            KVJIT_OID,
            NAME,
            ALICE,
        ),
    ];
    let mut i = inputs(vec![], ops);
    i.now = t("2026-11-27T14:00:00Z");
    i.until = i.now;
    let r = check(&ledger, &i);
    assert_eq!(codes(&r), vec![]);
    // Without the extension's grant the first revoke must have its delete.
    let alone = append(
        &Tip::genesis(),
        vec![
            granted("2026-11-27T09:00:05Z"),
            revoked("2026-11-27T11:00:00Z", Reason::Expired),
        ],
    );
    let mut i = inputs(
        vec![],
        vec![op(
            Action::Write,
            "2026-11-27T09:00:03Z",
            KVJIT_OID,
            NAME,
            ALICE,
        )],
    );
    i.now = t("2026-11-27T14:00:00Z");
    i.until = i.now;
    assert_eq!(
        codes(&check(&alone, &i)),
        vec![("revoke-not-in-activity-log", Level::Problem)]
    );
}

#[test]
fn a_custom_role_counts_by_the_data_actions_azure_returned() {
    let custom = RoleInfo {
        id: "c0c0c0c0-0000-4000-8000-000000000001".into(),
        name: "Contoso secret reader".into(),
        data_actions: vec![concat!("Microsoft.KeyVault/vaults/", "secrets/*").into()],
        not_data_actions: vec![],
    };
    let mut masked = custom.clone();
    masked.id = "c0c0c0c0-0000-4000-8000-000000000002".into();
    masked.not_data_actions =
        vec![concat!("Microsoft.KeyVault/vaults/", "secrets/getSecret/action").into()];
    // A definition overrides the table (here: a Secrets User id redefined without data actions).
    let redefined = RoleInfo {
        id: USER_ROLE.into(),
        name: "Key Vault Secrets User".into(),
        data_actions: vec![],
        not_data_actions: vec![],
    };
    let defs = vec![custom.clone(), masked.clone(), redefined];
    assert_eq!(
        classify(&custom.id, &defs),
        Some(("Contoso secret reader".into(), DataAccess::ReadsSecrets))
    );
    assert_eq!(
        classify(&masked.id, &defs).map(|c| c.1),
        Some(DataAccess::OtherKeyVaultData)
    );
    assert_eq!(classify(USER_ROLE, &defs), None);
    assert_eq!(
        classify(USER_ROLE, &[]).map(|c| c.1),
        Some(DataAccess::ReadsSecrets)
    );

    let ledger = append(&Tip::genesis(), vec![]);
    let mut i = inputs(vec![], vec![]);
    i.around = Fetched::Got(vec![assignment("n1", BOB, &custom.id, RG, false)]);
    i.role_definitions = defs;
    let r = check(&ledger, &i);
    assert_eq!(codes(&r), vec![("standing-access", Level::Info)]);
    assert!(r.rows[0].detail.contains("Contoso secret reader"));
}
