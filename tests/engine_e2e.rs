//! The whole loop with real parts: request → approved, merged PR → `kv-jit grant` → clock past
//! expiry → `kv-jit revoke` → `kv-jit audit verify`, against the Azure and GitHub emulators and a
//! real git origin.

mod support;
#[path = "support/world.rs"]
mod world;

use support::T0;
use world::{REQUEST_ID, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_grant_then_revoke_then_verify() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;

    let grant = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(grant.code, 0, "{}{}", grant.stdout, grant.stderr);
    assert!(
        grant
            .stdout
            .contains(&format!("granted       {REQUEST_ID}")),
        "{}",
        grant.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 1);
    let ledger = w.origin_ledger();
    assert_eq!(ledger.lines().count(), 1, "{ledger}");
    let entry: serde_json::Value = serde_json::from_str(ledger.lines().next().unwrap()).unwrap();
    assert_eq!(entry["event"], "granted");
    assert_eq!(entry["principal_id"], world::ALICE_OID);
    assert_eq!(entry["approvals"]["pr"], 7);
    assert_eq!(entry["approvals"]["by"][0]["login"], "carol");
    assert_eq!(entry["approvals"]["commit"], w.head_sha.as_str());
    assert_eq!(entry["window"]["expires"], "2026-11-27T11:00:00Z");

    // Running again changes nothing: no second PUT, no second entry.
    let again = w.kv_jit(&["grant", "--now", "2026-11-27T09:05:00Z"]).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 1);
    assert_eq!(w.origin_ledger().lines().count(), 1);

    // Before expiry the revoker does nothing; an hour after expiry it revokes.
    let early = w.kv_jit(&["revoke", "--now", "2026-11-27T10:59:00Z"]).await;
    assert_eq!(early.code, 0, "{}{}", early.stdout, early.stderr);
    assert_eq!(w.azure_calls("DELETE", "/roleAssignments/"), 0);
    let revoke = w.kv_jit(&["revoke", "--now", "2026-11-27T12:00:00Z"]).await;
    assert_eq!(revoke.code, 0, "{}{}", revoke.stdout, revoke.stderr);
    assert!(
        revoke
            .stdout
            .contains(&format!("revoked       {REQUEST_ID} (expired)")),
        "{}",
        revoke.stdout
    );
    assert_eq!(w.azure_calls("DELETE", "/roleAssignments/"), 1);
    let ledger = w.origin_ledger();
    let last: serde_json::Value = serde_json::from_str(ledger.lines().last().unwrap()).unwrap();
    assert_eq!(
        (
            last["event"].as_str(),
            last["reason"].as_str(),
            last["lag_seconds"].as_i64()
        ),
        (Some("revoked"), Some("expired"), Some(3600))
    );

    // Revoking again changes nothing.
    let again = w.kv_jit(&["revoke", "--now", "2026-11-27T12:05:00Z"]).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert_eq!(w.azure_calls("DELETE", "/roleAssignments/"), 1);
    assert_eq!(w.origin_ledger().lines().count(), 2);

    // Anyone can verify the trail from a clone.
    world::git(&w.work, &["pull", "--quiet", "--ff-only", "origin", "main"]);
    let verify = w.kv_jit(&["audit", "verify"]).await;
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert!(
        verify.stdout.contains("2 entries, chain intact"),
        "{}",
        verify.stdout
    );
    let status = w.kv_jit(&["status", "--now", "2026-11-27T12:05:00Z"]).await;
    assert!(
        status.stdout.contains("active grants: 0"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("p50 3600s"), "{}", status.stdout);

    // kv-jit never touched a secret value.
    assert_eq!(
        w.azure
            .core()
            .log()
            .iter()
            .filter(|e| e.path.contains("/secrets/") && !e.path.contains("/providers/"))
            .count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unapproved_request_is_refused_and_never_granted() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    w.reseed_github(
        &world::config(w.azure.base_url().trim_end_matches('/')),
        "alice-gh",
    );
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!("refused       {REQUEST_ID}")),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
    let entry: serde_json::Value =
        serde_json::from_str(w.origin_ledger().lines().next().unwrap()).unwrap();
    assert_eq!(entry["event"], "refused");
    // Refused once, not on every run.
    let again = w.kv_jit(&["grant", "--now", "2026-11-27T09:05:00Z"]).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert_eq!(w.origin_ledger().lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_what_grant_would_do_without_doing_it() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let plan = w.kv_jit(&["plan", "--now", T0]).await;
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("grant   2026/alice-api-key: alice@contoso.com gets secrets-user on flowlibs-demo-kv/demo-api-key from 2026-11-27T09:00:00Z until 2026-11-27T11:00:00Z"), "{}", plan.stdout);
    assert_eq!(w.azure.core().log().len(), 0, "plan calls no cloud");
    let json = w.kv_jit(&["plan", "--now", T0, "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v[0]["action"], "grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_runs_racing_to_grant_record_exactly_one_grant() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let clones: Vec<_> = (0..3).map(|i| w.clone(&format!("racer{i}"))).collect();
    let runs = futures_util::future::join_all(
        clones
            .iter()
            .map(|c| w.kv_jit_in(c, &["grant", "--now", T0], &[])),
    )
    .await;
    for run in &runs {
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
    assert_eq!(
        w.ledger_events(),
        [("granted".into(), REQUEST_ID.into(), None)],
        "exactly one entry, whoever won"
    );
    let verify = w.kv_jit_in(&clones[0], &["audit", "verify"], &[]).await;
    world::git(&clones[0], &["pull", "--quiet", "--ff-only"]);
    let verify_after = w.kv_jit_in(&clones[0], &["audit", "verify"], &[]).await;
    assert_eq!(
        verify_after.code, 0,
        "{} {}",
        verify.stdout, verify_after.stdout
    );
    // However many PUTs raced, Azure holds one assignment.
    use kv_jit_effects::azure::Azure;
    assert_eq!(
        w.azure_client()
            .list_managed(&World::vault_target())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_each_effect_boundary_the_next_run_converges() {
    for point in ["after-effects", "after-ledger-push"] {
        let w = World::new(&world::request("alice@contoso.com", "2h")).await;
        let killed = w
            .kv_jit_in(
                &w.work,
                &["grant", "--now", T0],
                &[("KV_JIT_FAILPOINT", point)],
            )
            .await;
        assert_eq!(killed.code, -9, "{point}: the process was SIGKILLed");
        let rerun = w.kv_jit(&["grant", "--now", "2026-11-27T09:01:00Z"]).await;
        assert_eq!(rerun.code, 0, "{point}: {}{}", rerun.stdout, rerun.stderr);
        assert_eq!(
            w.ledger_events(),
            [("granted".into(), REQUEST_ID.into(), None)],
            "{point}"
        );

        let killed = w
            .kv_jit_in(
                &w.work,
                &["revoke", "--now", "2026-11-27T11:00:00Z"],
                &[("KV_JIT_FAILPOINT", point)],
            )
            .await;
        assert_eq!(killed.code, -9, "{point}");
        let rerun = w.kv_jit(&["revoke", "--now", "2026-11-27T11:05:00Z"]).await;
        assert_eq!(rerun.code, 0, "{point}: {}{}", rerun.stdout, rerun.stderr);
        assert_eq!(
            w.ledger_events(),
            [
                ("granted".into(), REQUEST_ID.into(), None),
                ("revoked".into(), REQUEST_ID.into(), Some("expired".into()))
            ],
            "{point}"
        );
        use kv_jit_effects::azure::Azure;
        assert!(
            w.azure_client()
                .list_managed(&World::vault_target())
                .await
                .unwrap()
                .is_empty(),
            "{point}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_removes_orphans_and_records_drift_once() {
    use kv_jit_effects::azure::{
        Azure, ExpiryMode, GrantSpec, Principal, PrincipalType, RevokeSpec,
    };
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    let azure = w.azure_client();
    let alice = Principal {
        object_id: world::ALICE_OID.parse().unwrap(),
        kind: PrincipalType::User,
    };
    let role = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7".parse().unwrap();
    // An assignment carrying kv-jit's marker that the ledger never recorded: an orphan.
    azure
        .grant(&GrantSpec {
            request_id: "2026/ghost".into(),
            target: World::vault_target(),
            role,
            principal: alice,
            starts_at: "2026-11-27T08:00:00Z".parse().unwrap(),
            expires_at: "2026-11-27T20:00:00Z".parse().unwrap(),
            mode: ExpiryMode::Revoker,
            justification: None,
        })
        .await
        .unwrap();
    // And the ledger's grant removed behind kv-jit's back: drift.
    let secrets_user = "4633458b-17de-408a-b874-0445c86b69e6".parse().unwrap();
    azure
        .revoke(&RevokeSpec {
            name: None,
            request_id: REQUEST_ID.into(),
            target: World::vault_target(),
            role: secrets_user,
            principal: alice,
            mode: ExpiryMode::Revoker,
        })
        .await
        .unwrap();

    let run = w.kv_jit(&["revoke", "--now", "2026-11-27T09:30:00Z"]).await;
    assert_eq!(
        run.code, 1,
        "drift is a finding: {}{}",
        run.stdout, run.stderr
    );
    assert_eq!(
        w.ledger_events()[1..],
        [
            ("revoked".into(), "2026/ghost".into(), Some("orphan".into())),
            ("drift".into(), REQUEST_ID.into(), None)
        ]
    );
    assert!(
        azure
            .list_managed(&World::vault_target())
            .await
            .unwrap()
            .is_empty()
    );
    // Recorded once: the next run adds nothing.
    let again = w.kv_jit(&["revoke", "--now", "2026-11-27T09:35:00Z"]).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert_eq!(w.ledger_events().len(), 3);
    // At expiry the grant still ends in the ledger (Azure already lost it).
    let end = w.kv_jit(&["revoke", "--now", "2026-11-27T11:00:00Z"]).await;
    assert_eq!(end.code, 0, "{}{}", end.stdout, end.stderr);
    assert_eq!(
        w.ledger_events()[3],
        ("revoked".into(), REQUEST_ID.into(), Some("expired".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extension_continues_access_without_a_gap() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    let extension = world::request("alice@contoso.com", "2h") + &format!("extends: {REQUEST_ID}\n");
    w.merge_pr(8, "requests/2026/alice-api-key-more.yaml", &extension);
    let grant = w.kv_jit(&["grant", "--now", "2026-11-27T10:30:00Z"]).await;
    assert_eq!(grant.code, 0, "{}{}", grant.stdout, grant.stderr);
    let ledger: Vec<serde_json::Value> = w
        .origin_ledger()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ledger[1]["request"], "2026/alice-api-key-more");
    assert_eq!(
        ledger[1]["window"]["expires"], "2026-11-27T13:00:00Z",
        "runs on from the old expiry"
    );
    assert_eq!(
        ledger[1]["assignment"], ledger[0]["assignment"],
        "Azure keeps one assignment per principal, role and scope"
    );

    // The shared assignment's marker now names the extension and its later expiry, so
    // nothing that reads markers (reconcile, the expiry sweep) ends it at the old time.
    use kv_jit_effects::azure::Azure;
    let listed = w
        .azure_client()
        .list_managed(&World::vault_target())
        .await
        .unwrap();
    let marker = listed[0].marker.clone().unwrap();
    assert_eq!(marker.request_id, "2026/alice-api-key-more");
    assert_eq!(marker.expires_at.to_rfc3339(), "2026-11-27T13:00:00+00:00");

    // The first grant ends at 11:00 in the ledger, but the access it shares continues.
    let revoke = w.kv_jit(&["revoke", "--now", "2026-11-27T11:00:00Z"]).await;
    assert_eq!(revoke.code, 0, "{}{}", revoke.stdout, revoke.stderr);
    assert_eq!(w.azure_calls("DELETE", "/roleAssignments/"), 0);
    assert_eq!(
        w.azure_client()
            .list_managed(&World::vault_target())
            .await
            .unwrap()
            .len(),
        1
    );
    // At 13:00 the extension ends and the assignment goes.
    let end = w.kv_jit(&["revoke", "--now", "2026-11-27T13:00:00Z"]).await;
    assert_eq!(end.code, 0, "{}{}", end.stdout, end.stderr);
    assert_eq!(w.azure_calls("DELETE", "/roleAssignments/"), 1);
    assert!(
        w.azure_client()
            .list_managed(&World::vault_target())
            .await
            .unwrap()
            .is_empty()
    );
    let events = w.ledger_events();
    assert_eq!(
        events.iter().filter(|e| e.0 == "revoked").count(),
        2,
        "{events:?}"
    );
    assert!(events.iter().all(|e| e.0 != "drift"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_is_announced_in_teams_and_the_job_summary() {
    use wiremock::matchers::{method, path};
    let teams = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(wiremock::ResponseTemplate::new(202))
        .expect(1)
        .mount(&teams)
        .await;
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let summary = w.tmp.path().join("summary.md");
    let hook = format!("{}/hook", teams.uri());
    let run = w
        .kv_jit_in(
            &w.work,
            &["grant", "--now", T0],
            &[
                ("KV_JIT_TEAMS_WEBHOOK", hook.as_str()),
                ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        !run.stderr.contains(&hook),
        "the webhook URL is never printed"
    );
    let posted = &teams.received_requests().await.unwrap()[0];
    let card: serde_json::Value = serde_json::from_slice(&posted.body).unwrap();
    let fact = &card["attachments"][0]["content"]["body"][1]["facts"][0];
    assert_eq!(fact["title"], format!("granted {REQUEST_ID}"));
    assert_eq!(
        fact["value"],
        "alice@\u{200b}contoso.com on flowlibs-demo-kv/demo-api-key until 2026-11-27T11:00:00Z"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("| granted | 2026/alice-api-key | alice@\u{200b}contoso.com | flowlibs-demo-kv/demo-api-key | 2026-11-27T11:00:00Z |"), "{md}");
    assert!(
        !w.origin_ledger().contains("/hook"),
        "the webhook never enters the ledger"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_revokers_record_one_revoke_and_deleting_the_file_revokes_early() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);

    // A merged PR that deletes the request file ends access early, at the next run.
    world::git(&w.work, &["pull", "--quiet", "--ff-only", "origin", "main"]);
    world::git(&w.work, &["rm", "--quiet", world::REQUEST]);
    world::git(
        &w.work,
        &["commit", "--quiet", "-m", "Done with demo-api-key"],
    );
    world::git(&w.work, &["push", "--quiet", "origin", "main"]);
    let clones: Vec<_> = (0..3).map(|i| w.clone(&format!("revoker{i}"))).collect();
    let runs = futures_util::future::join_all(
        clones
            .iter()
            .map(|c| w.kv_jit_in(c, &["revoke", "--now", "2026-11-27T09:30:00Z"], &[])),
    )
    .await;
    for run in &runs {
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
    assert_eq!(
        w.ledger_events(),
        [
            ("granted".into(), REQUEST_ID.into(), None),
            ("revoked".into(), REQUEST_ID.into(), Some("early".into()))
        ],
        "three racing revokers, one revoke recorded"
    );
    let last: serde_json::Value =
        serde_json::from_str(w.origin_ledger().lines().last().unwrap()).unwrap();
    assert_eq!(
        last["lag_seconds"], -5400,
        "revoked 90 minutes before expiry"
    );
    use kv_jit_effects::azure::Azure;
    assert!(
        w.azure_client()
            .list_managed(&World::vault_target())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_revoke_ends_one_grant_now() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    let missing_reason = w.kv_jit(&["revoke", "--request", REQUEST_ID]).await;
    assert_eq!(missing_reason.code, 2, "--request needs --reason");
    let unknown = w
        .kv_jit(&[
            "revoke",
            "--request",
            "2026/nobody",
            "--reason",
            "test",
            "--now",
            "2026-11-27T09:10:00Z",
        ])
        .await;
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("has no active grant"),
        "{}",
        unknown.stderr
    );
    let run = w
        .kv_jit(&[
            "revoke",
            "--request",
            REQUEST_ID,
            "--reason",
            "laptop stolen",
            "--now",
            "2026-11-27T09:10:00Z",
        ])
        .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        w.ledger_events()[1],
        ("revoked".into(), REQUEST_ID.into(), Some("early".into()))
    );
    assert_eq!(w.azure_calls("DELETE", "/roleAssignments/"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_secret_grant_the_ledger_never_recorded_is_removed_as_an_orphan() {
    let w = World::new_with(&world::request("alice@contoso.com", "2h"), |c| {
        c.replace(
            "    max_duration: 4h\n",
            "    max_duration: 4h\n    scope: secret\n",
        )
    })
    .await;
    // The grant reaches Azure, then the process dies before the ledger push.
    let killed = w
        .kv_jit_in(
            &w.work,
            &["grant", "--now", T0],
            &[("KV_JIT_FAILPOINT", "after-effects")],
        )
        .await;
    assert_eq!(killed.code, -9);
    assert_eq!(
        w.azure_calls(
            "PUT",
            "/secrets/demo-api-key/providers/Microsoft.Authorization/roleAssignments/"
        ),
        1
    );
    // Long after the window, with the request gone from main, only reconcile can find it.
    world::git(&w.work, &["pull", "--quiet", "--ff-only", "origin", "main"]);
    world::git(&w.work, &["rm", "--quiet", world::REQUEST]);
    world::git(&w.work, &["commit", "--quiet", "-m", "remove"]);
    world::git(&w.work, &["push", "--quiet", "origin", "main"]);
    let run = w.kv_jit(&["revoke", "--now", "2026-11-27T14:00:00Z"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        w.ledger_events(),
        [("revoked".into(), REQUEST_ID.into(), Some("orphan".into()))]
    );
    assert_eq!(
        w.azure_calls(
            "DELETE",
            "/secrets/demo-api-key/providers/Microsoft.Authorization/roleAssignments/"
        ),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pim_grants_are_not_mistaken_for_drift() {
    let w = World::new_with(&world::request("alice@contoso.com", "2h"), |c| {
        c.replace(
            "    max_duration: 4h\n",
            "    max_duration: 4h\n    expiry: pim\n",
        )
    })
    .await;
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        w.ledger_events(),
        [("granted".into(), REQUEST_ID.into(), None)]
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignmentScheduleRequests/"), 1);
    let again = w.kv_jit(&["revoke", "--now", "2026-11-27T10:00:00Z"]).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert_eq!(w.ledger_events().len(), 1, "no drift recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_start_is_granted_by_the_scheduled_run_when_it_begins() {
    let w =
        World::new(&(world::request("alice@contoso.com", "2h") + "start: 2026-11-27T12:00:00Z\n"))
            .await;
    let merge_run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(
        merge_run.code, 0,
        "{}{}",
        merge_run.stdout, merge_run.stderr
    );
    assert!(
        merge_run
            .stdout
            .contains("wait    2026/alice-api-key: starts 2026-11-27T12:00:00Z"),
        "{}",
        merge_run.stdout
    );
    assert!(w.origin_ledger().is_empty());
    let scheduled = w.kv_jit(&["revoke", "--now", "2026-11-27T12:03:00Z"]).await;
    assert_eq!(
        scheduled.code, 0,
        "{}{}",
        scheduled.stdout, scheduled.stderr
    );
    let entry: serde_json::Value =
        serde_json::from_str(w.origin_ledger().lines().next().unwrap()).unwrap();
    assert_eq!(entry["event"], "granted");
    assert_eq!(entry["window"]["start"], "2026-11-27T12:00:00Z");
    assert_eq!(entry["window"]["expires"], "2026-11-27T14:00:00Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_cannot_approve_itself_by_editing_the_policy() {
    // The same PR adds `demo-extra` to the allow-list and requests it.
    let text = world::request("alice@contoso.com", "2h")
        .replace("secret: demo-api-key", "secret: demo-extra");
    let w = World::new_with_pr_config(&text, |c| {
        c.replace(
            "secrets: [demo-api-key, demo-connection-string]",
            "secrets: [demo-api-key, demo-connection-string, demo-extra]",
        )
    })
    .await;
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("under the config before this pull request the request is not allowed"),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
    assert_eq!(w.ledger_events()[0].0, "refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_push_is_retried_while_github_may_lag_then_refused() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    // GitHub knows of no pull request for the merge commit: a direct push, or GitHub lagging.
    let mut seed = w.reseed_github(
        &world::config(w.azure.base_url().trim_end_matches('/')),
        "carol",
    );
    seed.repos[0].pulls.clear();
    w.github.reseed(seed);
    let committed: i64 = world::git(&w.work, &["log", "-1", "--format=%ct"])
        .parse()
        .unwrap();
    let at = |minutes: i64| {
        chrono::DateTime::from_timestamp(committed + minutes * 60, 0)
            .unwrap()
            .to_rfc3339()
    };

    let soon = w.kv_jit(&["grant", "--now", &at(2)]).await;
    assert_eq!(soon.code, 1, "{}{}", soon.stdout, soon.stderr);
    assert!(
        soon.stdout.contains("grant_failed"),
        "retried, not refused: {}",
        soon.stdout
    );
    let later = w.kv_jit(&["grant", "--now", &at(30)]).await;
    assert_eq!(later.code, 1, "{}{}", later.stdout, later.stderr);
    assert!(
        later.stdout.contains("refused") && later.stdout.contains("direct push"),
        "{}",
        later.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_ledger_stops_recording_but_not_revocation() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    // Someone with push access edits the ledger to stretch the grant.
    world::git(&w.work, &["pull", "--quiet", "--ff-only", "origin", "main"]);
    let ledger = w.work.join("audit/ledger.jsonl");
    let text = std::fs::read_to_string(&ledger)
        .unwrap()
        .replace("2026-11-27T11:00:00Z", "2027-11-27T11:00:00Z");
    std::fs::write(&ledger, text).unwrap();
    world::git(&w.work, &["commit", "--quiet", "-am", "nothing to see"]);
    world::git(&w.work, &["push", "--quiet", "origin", "main"]);

    let verify = w.kv_jit(&["audit", "verify"]).await;
    assert_eq!(verify.code, 1);
    assert!(
        verify.stdout.contains("audit/ledger.jsonl:1:"),
        "names the line: {}",
        verify.stdout
    );
    // The revoker cannot trust the ledger, but access still ends when the marker says: not
    // before (the grant runs to 11:00), and not later.
    let before = w.kv_jit(&["revoke", "--now", "2026-11-27T10:00:00Z"]).await;
    assert_eq!(before.code, 1, "{}{}", before.stdout, before.stderr);
    use kv_jit_effects::azure::Azure;
    assert_eq!(
        w.azure_client()
            .list_managed(&World::vault_target())
            .await
            .unwrap()
            .len(),
        1,
        "not expired yet: kept"
    );
    let run = w.kv_jit(&["revoke", "--now", "2026-11-27T11:05:00Z"]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("revoked       2026/alice-api-key (expired by its marker"),
        "{}",
        run.stdout
    );
    assert!(
        w.azure_client()
            .list_managed(&World::vault_target())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowering_the_approval_count_after_the_merge_does_not_count() {
    // Before this PR the vault needed two distinct code-owner approvals; carol alone approved.
    // The count is lowered on main after the merge: the larger of the two still applies.
    let w = World::new_with(&world::request("alice@contoso.com", "2h"), |c| {
        c.replace(
            "    max_duration: 4h\n",
            "    max_duration: 4h\n    approvals: 2\n",
        )
    })
    .await;
    let path = w.work.join(".github/kv-jit.yml");
    let lowered = std::fs::read_to_string(&path)
        .unwrap()
        .replace("    approvals: 2\n", "    approvals: 1\n");
    std::fs::write(&path, lowered).unwrap();
    world::git(&w.work, &["commit", "--quiet", "-am", "approvals: 1"]);
    world::git(&w.work, &["push", "--quiet", "origin", "main"]);
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("has 1 of 2 required code-owner approvals"),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_run_only_on_the_default_branch() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let event = w.tmp.path().join("event.json");
    std::fs::write(&event, r#"{"repository": {"default_branch": "main"}}"#).unwrap();
    let env = |git_ref: &'static str| {
        [
            ("GITHUB_REF", git_ref),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ]
    };
    let elsewhere = w
        .kv_jit_in(&w.work, &["grant", "--now", T0], &env("refs/heads/feature"))
        .await;
    assert_eq!(
        elsewhere.code, 2,
        "{}{}",
        elsewhere.stdout, elsewhere.stderr
    );
    assert!(
        elsewhere
            .stderr
            .contains("grants run only on the default branch"),
        "{}",
        elsewhere.stderr
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
    let main = w
        .kv_jit_in(&w.work, &["grant", "--now", T0], &env("refs/heads/main"))
        .await;
    assert_eq!(main.code, 0, "{}{}", main.stdout, main.stderr);
}
