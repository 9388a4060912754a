//! `kv-jit audit check-azure` (issue 12, item 2): the ledger against what Azure itself holds and
//! recorded, against the emulator's role assignments and Activity Log, with the real binary.

mod support;
#[path = "support/world.rs"]
mod world;

use kv_jit_core::ledger::{Event, NewEntry, Reason, Role, Window};
use kv_jit_effects::azure::{Azure, ExpiryMode, Principal, PrincipalType, RevokeSpec};
use kv_jit_emulator::{Fault, FaultKind};
use serde_json::{Value, json};
use support::{T0, t0_plus};
use world::{ALICE_OID, SUB, World};

const BOB_OID: &str = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";
const SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";
/// kv-jit's workflow identity in the test world: its client id and service principal.
const KVJIT_APP: &str = "33333333-3333-3333-3333-333333333333";
const KVJIT_OID: &str = "44444444-4444-4444-4444-444444444444";
const MALLORY_OID: &str = "99999999-9999-9999-9999-999999999999";

async fn check(w: &World, now: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["audit", "check-azure", "--now", now, "--format", "json"];
    args.extend_from_slice(extra);
    let run = w.kv_jit(&args).await;
    let doc: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    (run.code, doc, run.stderr)
}

/// (code, level) of every row.
fn rows(doc: &Value) -> Vec<(String, String)> {
    doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["code"].as_str().unwrap().to_owned(),
                r["level"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn has(doc: &Value, code: &str) -> bool {
    rows(doc).iter().any(|(c, _)| c == code)
}

fn status<'a>(doc: &'a Value, check: &str) -> &'a Value {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("no check {check} in {doc}"))
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Plants a role assignment operation in the emulator's Activity Log.
async fn plant(w: &World, event: Value) {
    let r = http()
        .post(format!(
            "{}/_emulator/azure/activity-log",
            w.azure.base_url()
        ))
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
}

fn kv_jit_caller() -> Value {
    json!({"caller": KVJIT_OID, "oid": KVJIT_OID, "appid": KVJIT_APP, "tenant": world::TENANT})
}

fn mallory() -> Value {
    json!({"caller": "mallory@contoso.com", "oid": MALLORY_OID, "tenant": world::TENANT})
}

fn alice() -> Principal {
    Principal {
        object_id: ALICE_OID.parse().unwrap(),
        kind: PrincipalType::User,
    }
}

async fn granted(w: &World) -> String {
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let line: Value = serde_json::from_str(w.origin_ledger().lines().next().unwrap()).unwrap();
    line["assignment"].as_str().unwrap().to_owned()
}

/// Deletes an assignment with kv-jit's own credential, behind kv-jit's back.
async fn delete_by_hand(w: &World, name: &str) {
    w.azure_client()
        .revoke(&RevokeSpec {
            request_id: world::REQUEST_ID.into(),
            name: Some(name.parse().unwrap()),
            target: World::vault_target(),
            role: SECRETS_USER.parse().unwrap(),
            principal: alice(),
            mode: ExpiryMode::Revoker,
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_state_passes_after_a_real_grant_and_a_real_revoke() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    granted(&w).await;
    let (code, doc, err) = check(&w, &t0_plus(60), &[]).await;
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(rows(&doc), vec![]);
    assert_eq!(doc["ok"], true);
    for c in ["assignments", "standing-access", "activity-log"] {
        assert_eq!(status(&doc, c)["status"], "passed", "{c}");
    }

    let revoke = w.kv_jit(&["revoke", "--now", &t0_plus(125)]).await;
    assert_eq!(revoke.code, 0, "{}{}", revoke.stdout, revoke.stderr);
    let (code, doc, err) = check(&w, &t0_plus(180), &[]).await;
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(rows(&doc), vec![]);

    // The text table says each check passed and that the ledger matches.
    let text = w
        .kv_jit(&["audit", "check-azure", "--now", &t0_plus(180)])
        .await;
    assert_eq!(text.code, 0, "{}{}", text.stdout, text.stderr);
    assert!(
        text.stdout.contains("activity-log     passed"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("the ledger matches Azure"),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assignment_deleted_behind_kv_jits_back_is_missing() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let name = granted(&w).await;
    w.azure.core().clock.set(t0_plus(10).parse().unwrap());
    delete_by_hand(&w, &name).await;
    let (code, doc, _) = check(&w, &t0_plus(60), &[]).await;
    assert_eq!(code, 1, "{doc:#}");
    assert!(has(&doc, "missing-assignment"), "{doc:#}");
    // The delete was made with kv-jit's credential, and no ledger entry accounts for it.
    assert!(has(&doc, "unrecorded-delete"), "{doc:#}");
    assert_eq!(status(&doc, "assignments")["status"], "failed");
    assert_eq!(doc["ok"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extra_marked_assignment_is_found() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    granted(&w).await;
    w.assign_by_hand_described(
        BOB_OID,
        SECRETS_USER,
        "5f5f5f5f-0000-4000-8000-000000000001",
        Some("kv-jit:v1 request=2026/ghost expires=2099-01-01T00:00:00Z"),
    )
    .await;
    let (code, doc, _) = check(&w, &t0_plus(60), &[]).await;
    assert_eq!(code, 1, "{doc:#}");
    let extra: Vec<&Value> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["code"] == "unrecorded-assignment")
        .collect();
    assert_eq!(extra.len(), 1, "{doc:#}");
    assert_eq!(extra[0]["subject"], "5f5f5f5f-0000-4000-8000-000000000001");
    assert!(extra[0]["detail"].as_str().unwrap().contains("2026/ghost"));
    assert!(has(&doc, "unrecorded-write"), "{doc:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledgers_assignment_held_by_another_principal_is_a_wrong_principal() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let name = granted(&w).await;
    delete_by_hand(&w, &name).await;
    let marker = format!(
        "kv-jit:v1 request={} expires=2026-11-27T11:00:00Z",
        world::REQUEST_ID
    );
    w.assign_by_hand_described(BOB_OID, SECRETS_USER, &name, Some(&marker))
        .await;
    let (code, doc, _) = check(&w, &t0_plus(60), &[]).await;
    assert_eq!(code, 1, "{doc:#}");
    let row = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "wrong-principal")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(row["subject"], world::REQUEST_ID);
    assert!(row["detail"].as_str().unwrap().contains(BOB_OID));
}

/// Standing access is information: listed, never a failure by itself (a person judges it;
/// kv-jit removes only what it created).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standing_access_is_listed_as_information_and_alone_passes() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    granted(&w).await;
    w.assign_by_hand(
        BOB_OID,
        SECRETS_USER,
        "6e6e6e6e-0000-4000-8000-000000000001",
    )
    .await;
    // The window starts after that hand-made write, so only the standing access remains.
    let (code, doc, _) = check(&w, &t0_plus(60), &["--since", &t0_plus(1)]).await;
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        rows(&doc),
        vec![("standing-access".to_owned(), "info".to_owned())]
    );
    let row = &doc["rows"][0];
    assert_eq!(row["subject"], BOB_OID);
    assert!(
        row["detail"]
            .as_str()
            .unwrap()
            .contains("Key Vault Secrets User")
    );
    assert!(
        row["detail"]
            .as_str()
            .unwrap()
            .contains("reads secret values")
    );
    assert_eq!(status(&doc, "standing-access")["status"], "passed");
    // Roles are judged by the data actions of their definitions, read from ARM.
    assert!(w.azure_calls("GET", "/roleDefinitions/") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_log_write_with_no_ledger_entry_is_found_and_other_callers_listed() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    granted(&w).await;
    let scope = World::vault_target().scope();
    plant(
        &w,
        json!({"action": "write", "scope": scope, "name": "7a7a7a7a-0000-4000-8000-000000000001",
               "subscription_id": SUB, "caller": kv_jit_caller(), "principal_id": BOB_OID,
               "role": SECRETS_USER, "at": t0_plus(20)}),
    )
    .await;
    plant(
        &w,
        json!({"action": "write", "scope": format!("/subscriptions/{SUB}/resourceGroups/rg-flowlibs-demo"),
               "name": "7b7b7b7b-0000-4000-8000-000000000001", "subscription_id": SUB,
               "caller": mallory(), "principal_id": MALLORY_OID, "role": SECRETS_USER,
               "at": t0_plus(25)}),
    )
    .await;
    let (code, doc, _) = check(&w, &t0_plus(60), &[]).await;
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        rows(&doc),
        vec![
            ("unrecorded-write".to_owned(), "problem".to_owned()),
            ("other-caller".to_owned(), "info".to_owned()),
        ]
    );
    let other = &doc["rows"][1];
    assert_eq!(other["subject"], "mallory@contoso.com");
    assert!(other["detail"].as_str().unwrap().contains(MALLORY_OID));
    assert_eq!(status(&doc, "activity-log")["status"], "failed");
    assert_eq!(status(&doc, "assignments")["status"], "passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_grant_with_no_activity_log_write_is_found() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    granted(&w).await;
    let forged = NewEntry {
        request: Some("2026/forged".into()),
        principal_id: Some(BOB_OID.into()),
        scope: Some(World::vault_target().scope()),
        role: Some(Role {
            id: SECRETS_USER.into(),
            alias: None,
        }),
        assignment: Some("8c8c8c8c-0000-4000-8000-000000000001".into()),
        window: Some(Window {
            start: t0_plus(5).parse().unwrap(),
            expires: t0_plus(15).parse().unwrap(),
        }),
        expiry: Some(kv_jit_core::ledger::ExpiryMode::Revoker),
        ..NewEntry::new(t0_plus(5).parse().unwrap(), Event::Granted)
    };
    let revoked = NewEntry {
        event: Event::Revoked,
        time: t0_plus(15).parse().unwrap(),
        reason: Some(Reason::Expired),
        ..forged.clone()
    };
    w.forge_ledger(vec![forged, revoked]);
    let (code, doc, _) = check(&w, &t0_plus(60), &[]).await;
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        rows(&doc),
        vec![
            ("grant-not-in-activity-log".to_owned(), "problem".to_owned()),
            (
                "revoke-not-in-activity-log".to_owned(),
                "problem".to_owned()
            ),
        ]
    );
    assert_eq!(doc["rows"][0]["subject"], "2026/forged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_activity_log_exits_2_and_names_the_check() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    granted(&w).await;
    let r = http()
        .put(format!(
            "{}/_emulator/azure/activity-log/readers",
            w.azure.base_url()
        ))
        .json(&json!({"readers": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (code, doc, _) = check(&w, &t0_plus(60), &[]).await;
    assert_eq!(code, 2, "{doc:#}");
    let al = status(&doc, "activity-log");
    assert_eq!(al["status"], "not_run");
    assert_eq!(al["forbidden"], true);
    assert!(
        al["why"].as_str().unwrap().contains("AuthorizationFailed"),
        "{al}"
    );
    // The checks that could run did, and still say so.
    assert_eq!(status(&doc, "assignments")["status"], "passed");
    assert_eq!(doc["ok"], false);

    let text = w
        .kv_jit(&["audit", "check-azure", "--now", &t0_plus(60)])
        .await;
    assert_eq!(text.code, 2);
    assert!(
        text.stdout.contains("activity-log     NOT RUN:"),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("matches Azure"), "{}", text.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_log_that_cannot_be_read_is_not_run_and_fails() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    granted(&w).await;
    w.azure.core().add_fault(
        Fault::new(FaultKind::Status {
            status: 400,
            code: Some("BadRequest".into()),
            retry_after: None,
        })
        .path_contains("/eventtypes/management/values"),
    );
    let (code, doc, _) = check(&w, &t0_plus(60), &[]).await;
    assert_eq!(code, 1, "{doc:#}");
    let al = status(&doc, "activity-log");
    assert_eq!(al["status"], "not_run");
    assert_eq!(al["forbidden"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_activity_log_is_read_page_by_page() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    granted(&w).await;
    let scope = World::vault_target().scope();
    // 60 operations by another caller: 120 events, more than one page of 100.
    for i in 0..60 {
        plant(
            &w,
            json!({"action": "write", "scope": scope,
                   "name": format!("9d9d9d9d-0000-4000-8000-{i:012}"), "subscription_id": SUB,
                   "caller": mallory(), "principal_id": MALLORY_OID, "role": SECRETS_USER,
                   "at": t0_plus(30)}),
        )
        .await;
    }
    w.azure.core().clear_log();
    let (code, doc, _) = check(&w, &t0_plus(60), &[]).await;
    assert_eq!(code, 0, "{doc:#}");
    let others = rows(&doc)
        .iter()
        .filter(|(c, _)| c == "other-caller")
        .count();
    assert_eq!(others, 60);
    assert!(w.azure_calls("GET", "/eventtypes/management/values") >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_past_the_retention_is_a_usage_error() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let run = w
        .kv_jit(&[
            "audit",
            "check-azure",
            "--now",
            T0,
            "--since",
            "2026-01-01T00:00:00Z",
        ])
        .await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("90 days"), "{}", run.stderr);
}

/// An ARM token of the workflow's identity from the emulator.
async fn arm_token(w: &World) -> String {
    let tok: Value = http()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            w.azure.base_url(),
            world::TENANT
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", world::CLIENT_ID),
            ("client_secret", "app-secret"),
            ("scope", &format!("{}/.default", w.azure.base_url())),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tok["access_token"].as_str().unwrap().to_owned()
}

/// GET the Activity Log with `filter` (and `select`): (status, body).
async fn activity(w: &World, filter: Option<&str>, select: Option<&str>) -> (u16, Value) {
    let mut url = url::Url::parse(&format!(
        "{}/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01",
        w.azure.base_url()
    ))
    .unwrap();
    if let Some(f) = filter {
        url.query_pairs_mut().append_pair("$filter", f);
    }
    if let Some(s) = select {
        url.query_pairs_mut().append_pair("$select", s);
    }
    let r = http()
        .get(url)
        .bearer_auth(arm_token(w).await)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulators_activity_log_follows_the_contract() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let name = granted(&w).await;
    let range = format!(
        "eventTimestamp ge '{}' and eventTimestamp le '{}'",
        t0_plus(-60),
        t0_plus(60)
    );
    let (status, body) = activity(
        &w,
        Some(&format!(
            "{range} and resourceGroupName eq 'rg-flowlibs-demo'"
        )),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let events = body["value"].as_array().unwrap();
    // The grant's PUT: Started, then Succeeded, one correlation id, the caller's claims.
    let ours: Vec<&Value> = events
        .iter()
        .filter(|e| e["resourceId"].as_str().unwrap().ends_with(&name))
        .collect();
    assert_eq!(ours.len(), 2, "{body:#}");
    let statuses: Vec<&str> = ours
        .iter()
        .map(|e| e["status"]["value"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"Started") && statuses.contains(&"Succeeded"));
    assert_eq!(ours[0]["correlationId"], ours[1]["correlationId"]);
    for e in &ours {
        assert_eq!(
            e["operationName"]["value"],
            "Microsoft.Authorization/roleAssignments/write"
        );
        assert_eq!(e["caller"], KVJIT_OID);
        assert_eq!(e["claims"]["appid"], KVJIT_APP);
        assert_eq!(
            e["eventTimestamp"].as_str().unwrap(),
            "2026-11-27T09:00:00.000000Z"
        );
        assert_eq!(e["resourceGroupName"], "rg-flowlibs-demo");
    }
    let started = ours
        .iter()
        .find(|e| e["status"]["value"] == "Started")
        .unwrap();
    let body_text = started["properties"]["requestbody"].as_str().unwrap();
    assert!(body_text.contains(ALICE_OID), "{body_text}");

    // $select keeps only the named properties.
    let (_, selected) = activity(&w, Some(&range), Some("correlationId,status")).await;
    let first = selected["value"][0].as_object().unwrap();
    let mut keys: Vec<&String> = first.keys().collect();
    keys.sort();
    assert_eq!(keys, ["correlationId", "status"]);

    // Another resource group, or a window before the grant: nothing.
    let (_, other) = activity(
        &w,
        Some(&format!("{range} and resourceGroupName eq 'rg-other'")),
        None,
    )
    .await;
    assert_eq!(other["value"], json!([]));
    let before = format!(
        "eventTimestamp ge '{}' and eventTimestamp le '{}'",
        t0_plus(-60),
        t0_plus(-1)
    );
    assert_eq!(
        activity(&w, Some(&before), None).await.1["value"],
        json!([])
    );

    // Azure's refusals: no filter, no start time, a pattern it does not allow, over 90 days,
    // a start after the end.
    for bad in [
        None,
        Some(format!("eventTimestamp le '{}'", t0_plus(0))),
        Some(format!("{range} and caller eq 'x'")),
        Some(format!("{range} or resourceGroupName eq 'x'")),
        Some(
            "eventTimestamp ge '2026-01-01T00:00:00Z' and eventTimestamp le '2026-11-27T00:00:00Z'"
                .to_owned(),
        ),
        Some(format!(
            "eventTimestamp ge '{}' and eventTimestamp le '{}'",
            t0_plus(60),
            t0_plus(0)
        )),
    ] {
        let (status, body) = activity(&w, bad.as_deref(), None).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert_eq!(body["error"]["code"], "BadRequest", "{bad:?}");
    }

    // Without the read permission: 403 AuthorizationFailed naming the action.
    http()
        .put(format!(
            "{}/_emulator/azure/activity-log/readers",
            w.azure.base_url()
        ))
        .json(&json!({"readers": [ALICE_OID]}))
        .send()
        .await
        .unwrap();
    let (status, body) = activity(&w, Some(&range), None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "AuthorizationFailed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Microsoft.Insights/eventtypes/values/read")
    );
}

/// An extension shares its first grant's assignment: the first grant's revoke deletes nothing,
/// and the Activity Log still matches the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extension_and_its_shared_assignment_match_the_activity_log() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    granted(&w).await;
    let extension =
        world::request("alice@contoso.com", "2h") + &format!("extends: {}\n", world::REQUEST_ID);
    w.merge_pr(8, "requests/2026/alice-api-key-more.yaml", &extension);
    let grant = w.kv_jit(&["grant", "--now", "2026-11-27T10:30:00Z"]).await;
    assert_eq!(grant.code, 0, "{}{}", grant.stdout, grant.stderr);
    let (code, doc, _) = check(&w, "2026-11-27T11:30:00Z", &[]).await;
    assert_eq!(code, 0, "{doc:#}");
    for now in ["2026-11-27T11:00:00Z", "2026-11-27T13:00:00Z"] {
        let revoke = w.kv_jit(&["revoke", "--now", now]).await;
        assert_eq!(revoke.code, 0, "{}{}", revoke.stdout, revoke.stderr);
    }
    let (code, doc, _) = check(&w, "2026-11-27T14:00:00Z", &[]).await;
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(rows(&doc), vec![]);
}
