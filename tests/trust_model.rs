//! The trust model (issue 8), one test per hole a security review reproduced: the ledger is
//! evidence, never authority; kv-jit removes only what it created; revokes never wait on
//! what grants need. Each test plays the attacker (a writer of the ledger branch, an admin
//! in the portal) against the real binary, the emulators and a real git origin.

mod support;
#[path = "support/world.rs"]
mod world;

use kv_jit_core::ledger::{Event, NewEntry, Role, Window};
use support::{T0, t0_plus};
use world::{ALICE_OID, REQUEST, REQUEST_ID, World};

const BOB_OID: &str = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";
const SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";
const BY_HAND: &str = "0b5fe924-9a61-425c-96af-cfe6e287ca2d";

/// Empties the ledger file in a work clone (a truncation by a writer of its branch).
fn truncate_ledger(work: &std::path::Path) {
    std::fs::write(work.join("audit/ledger.jsonl"), "").unwrap();
}

fn ledger(w: &World) -> Vec<serde_json::Value> {
    w.origin_ledger()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A correctly chained `granted` line, as a writer of the ledger branch could append one.
fn forged_grant(request: &str, principal: &str, assignment: &str, expires: &str) -> NewEntry {
    NewEntry {
        request: Some(request.into()),
        request_sha256: Some("0".repeat(64)),
        requester: Some("alice@contoso.com".into()),
        principal_id: Some(principal.into()),
        vault: Some("flowlibs-demo-kv".into()),
        secret: Some("demo-api-key".into()),
        scope: Some(World::vault_target().scope()),
        role: Some(Role {
            id: SECRETS_USER.into(),
            alias: None,
        }),
        assignment: Some(assignment.into()),
        window: Some(Window {
            start: T0.parse().unwrap(),
            expires: expires.parse().unwrap(),
        }),
        ..NewEntry::new(T0.parse().unwrap(), Event::Granted)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_extension_base_does_not_stretch_the_window() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    let real = ledger(&w)[0]["assignment"].as_str().unwrap().to_owned();
    // A chained line for a request that never existed, naming the real assignment, to 2099.
    w.forge_ledger(vec![forged_grant(
        "2026/forged-base",
        ALICE_OID,
        &real,
        "2099-01-01T00:00:00Z",
    )]);
    let ext = world::request("alice@contoso.com", "1h") + "extends: 2026/forged-base\n";
    w.merge_pr(8, "requests/2026/alice-more.yaml", &ext);
    let run = w.kv_jit(&["grant", "--now", &t0_plus(30)]).await;
    let entries = ledger(&w);
    let granted = entries
        .iter()
        .find(|e| e["event"] == "granted" && e["request"] == "2026/alice-more")
        .unwrap_or_else(|| panic!("{}{}\n{entries:#?}", run.stdout, run.stderr));
    // The approval covers one hour from its merge, whatever the ledger claims.
    assert_eq!(granted["window"]["expires"], t0_plus(60));
    assert!(granted.get("extends").is_none(), "{granted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_granted_line_cannot_delete_a_hand_made_assignment() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    // Bob's standing access, made in the portal; then a chained line naming it, due at 09:30.
    w.assign_by_hand(BOB_OID, SECRETS_USER, BY_HAND).await;
    w.forge_ledger(vec![forged_grant(
        "2026/not-a-request",
        BOB_OID,
        BY_HAND,
        &t0_plus(30),
    )]);
    let run = w.kv_jit(&["revoke", "--now", &t0_plus(60)]).await;
    assert!(
        w.assignment_exists(BY_HAND).await,
        "kv-jit deleted access it did not create: {}{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(w.azure_calls("DELETE", BY_HAND), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_made_assignment_that_absorbed_a_grant_survives_its_expiry() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    // Alice already holds the role by hand: kv-jit's PUT answers 409 with that assignment.
    w.assign_by_hand(ALICE_OID, SECRETS_USER, BY_HAND).await;
    let grant = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(grant.code, 1, "{}{}", grant.stdout, grant.stderr);
    let entries = ledger(&w);
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0]["event"], "refused");
    assert!(
        entries[0]["error"]
            .as_str()
            .unwrap()
            .contains("which kv-jit did not create"),
        "{}",
        entries[0]
    );
    let revoke = w.kv_jit(&["revoke", "--now", &t0_plus(125)]).await;
    assert_eq!(revoke.code, 0, "{}{}", revoke.stdout, revoke.stderr);
    assert_eq!(ledger(&w).len(), 1, "nothing to revoke, no drift");
    assert!(
        w.assignment_exists(BY_HAND).await,
        "the standing access stays"
    );
    assert_eq!(
        w.azure_calls("PUT", "/roleAssignmentScheduleRequests/"),
        0,
        "a revoker-mode grant is never ended through PIM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_ledger_is_deleted_an_early_revoked_window_is_not_granted_again() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    let revoke = w
        .kv_jit(&[
            "revoke",
            "--request",
            REQUEST_ID,
            "--reason",
            "laptop stolen",
            "--now",
            &t0_plus(10),
        ])
        .await;
    assert_eq!(revoke.code, 0, "{}{}", revoke.stdout, revoke.stderr);
    // A writer of the ledger branch deletes the record; the window (to 11:00) is still open.
    w.push_to_main("clean up", |work| {
        std::fs::remove_file(work.join("audit/ledger.jsonl")).unwrap()
    });
    let run = w.kv_jit(&["grant", "--now", &t0_plus(20)]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("the ledger lost entries"),
        "{}",
        run.stderr
    );
    assert_eq!(
        w.azure_calls("PUT", "/roleAssignments/"),
        1,
        "granted once only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_ledger_stops_grants_until_it_is_restored() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    let truncation = w.push_to_main("truncate", truncate_ledger);
    let run = w.kv_jit(&["grant", "--now", &t0_plus(5)]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&truncation),
        "names the commit: {}",
        run.stderr
    );
    // Restored (the truncation reverted): the ledger is whole again and runs go on.
    world::git(&w.work, &["revert", "--no-edit", &truncation]);
    world::git(&w.work, &["push", "--quiet", "origin", "main"]);
    let again = w.kv_jit(&["grant", "--now", &t0_plus(10)]).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_dedicated_ledger_branch_stops_grants() {
    let w = World::new_with(&world::request("alice@contoso.com", "2h"), |c| {
        c.replace("  branch: main\n", "  branch: kv-jit-ledger\n")
    })
    .await;
    let first = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(first.code, 1, "{}{}", first.stdout, first.stderr);
    assert!(
        first.stderr.contains("kv-jit-ledger` does not exist"),
        "{}",
        first.stderr
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
    // Created (and protected) by the operator: kv-jit records there.
    world::git(
        &w.work,
        &["push", "--quiet", "origin", "main:kv-jit-ledger"],
    );
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // Deleted with everything it said: grants stop again.
    world::git(&w.work, &["push", "--quiet", "origin", ":kv-jit-ledger"]);
    let gone = w.kv_jit(&["grant", "--now", &t0_plus(5)]).await;
    assert_eq!(gone.code, 1, "{}{}", gone.stdout, gone.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extension_of_a_base_azure_does_not_hold_is_refused() {
    use kv_jit_effects::azure::{Azure, ExpiryMode, Principal, PrincipalType, RevokeSpec};
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    // The base's assignment is gone behind kv-jit's back (the ledger still holds it).
    w.azure_client()
        .revoke(&RevokeSpec {
            name: None,
            request_id: REQUEST_ID.into(),
            target: World::vault_target(),
            role: SECRETS_USER.parse().unwrap(),
            principal: Principal {
                object_id: ALICE_OID.parse().unwrap(),
                kind: PrincipalType::User,
            },
            mode: ExpiryMode::Revoker,
        })
        .await
        .unwrap();
    let ext = world::request("alice@contoso.com", "2h") + &format!("extends: {REQUEST_ID}\n");
    w.merge_pr(8, "requests/2026/alice-more.yaml", &ext);
    let run = w.kv_jit(&["grant", "--now", &t0_plus(30)]).await;
    let refused = ledger(&w)
        .into_iter()
        .find(|e| e["request"] == "2026/alice-more")
        .unwrap_or_else(|| panic!("{}{}", run.stdout, run.stderr));
    assert_eq!(refused["event"], "refused", "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("Azure holds no assignment kv-jit made"),
        "{refused}"
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_for_a_secret_that_does_not_exist_is_refused_once() {
    let text = world::request("alice@contoso.com", "2h")
        .replace("secret: demo-api-key", "secret: demo-missing");
    let w = World::new_with(&text, |c| {
        c.replace(
            "secrets: [demo-api-key, demo-connection-string]",
            "secrets: [demo-api-key, demo-connection-string, \"demo-*\"]",
        )
    })
    .await;
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let entries = ledger(&w);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["event"], "refused");
    assert!(
        entries[0]["error"]
            .as_str()
            .unwrap()
            .contains("secret `demo-missing` does not exist"),
        "{}",
        entries[0]
    );
    // Recorded once, not retried by every scheduled run until the window ends.
    let again = w.kv_jit(&["revoke", "--now", &t0_plus(5)]).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert_eq!(ledger(&w).len(), 1);
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_whose_payload_lacks_the_default_branch_still_revokes() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    // A second request is due, so the run would want to grant: its precondition fails.
    w.merge_pr(
        8,
        "requests/2026/alice-later.yaml",
        &(world::request("alice@contoso.com", "4h") + "start: 2026-11-27T10:00:00Z\n"),
    );
    let payload = w.tmp.path().join("event.json");
    std::fs::write(&payload, r#"{"schedule": "*/5 * * * *", "repository": {}}"#).unwrap();
    let run = w
        .kv_jit_in(
            &w.work,
            &["revoke", "--now", &t0_plus(125)],
            &[
                ("GITHUB_REF", "refs/heads/main"),
                ("GITHUB_EVENT_PATH", payload.to_str().unwrap()),
            ],
        )
        .await;
    assert!(
        w.ledger_events()
            .contains(&("revoked".into(), REQUEST_ID.into(), Some("expired".into()))),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(w.azure_calls("DELETE", "/roleAssignments/"), 1);
    assert!(
        run.stderr.contains("grant(s) are due but cannot run"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_revoke_records_who_asked_and_why() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    let empty = w
        .kv_jit(&[
            "revoke",
            "--request",
            REQUEST_ID,
            "--reason",
            "  ",
            "--now",
            &t0_plus(5),
        ])
        .await;
    assert_eq!(
        empty.code, 2,
        "an empty reason is refused: {}",
        empty.stderr
    );
    let run = w
        .kv_jit_in(
            &w.work,
            &[
                "revoke",
                "--request",
                REQUEST_ID,
                "--reason",
                "laptop stolen",
                "--now",
                &t0_plus(10),
            ],
            &[("GITHUB_ACTOR", "carol")],
        )
        .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let revoked = ledger(&w).pop().unwrap();
    assert_eq!(revoked["event"], "revoked");
    assert_eq!(revoked["reason"], "early");
    assert_eq!(revoked["actor"], "carol");
    assert_eq!(revoked["note"], "laptop stolen");
    // Deleting the file also says what triggered it.
    let w2 = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w2.kv_jit(&["grant", "--now", T0]).await.code, 0);
    w2.push_to_main("done with it", |work| {
        std::fs::remove_file(work.join(REQUEST)).unwrap()
    });
    assert_eq!(w2.kv_jit(&["revoke", "--now", &t0_plus(15)]).await.code, 0);
    let revoked = ledger(&w2).pop().unwrap();
    assert_eq!(
        revoked["note"],
        "the request file was deleted from the default branch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_marker_does_not_make_an_assignment_kv_jits_to_remove() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    // An admin copies kv-jit's marker into a hand-made assignment's description.
    w.assign_by_hand_described(
        BOB_OID,
        SECRETS_USER,
        BY_HAND,
        Some("kv-jit:v1 request=2026/bob expires=2026-11-27T09:00:00Z"),
    )
    .await;
    let run = w.kv_jit(&["revoke", "--now", &t0_plus(30)]).await;
    assert!(
        w.assignment_exists(BY_HAND).await,
        "reconcile removed it as an orphan: {}{}",
        run.stdout,
        run.stderr
    );
    // Nor does the expiry sweep, when the ledger cannot be trusted.
    w.push_to_main("truncate", truncate_ledger);
    let swept = w.kv_jit(&["revoke", "--now", &t0_plus(180)]).await;
    assert_eq!(swept.code, 1, "{}{}", swept.stdout, swept.stderr);
    assert!(w.assignment_exists(BY_HAND).await, "{}", swept.stdout);
    assert!(
        swept
            .stdout
            .contains("revoked       2026/alice-api-key (expired by its marker"),
        "kv-jit's own expired grant is still swept: {}",
        swept.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_ledger_still_ends_access_revoked_early() {
    use kv_jit_effects::azure::Azure;
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    // The ledger is truncated, and the request file deleted (an early revoke) in the same push.
    w.push_to_main("tidy up", |work| {
        truncate_ledger(work);
        std::fs::remove_file(work.join(REQUEST)).unwrap();
    });
    let run = w.kv_jit(&["revoke", "--now", &t0_plus(10)]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("its request was revoked early"),
        "{}{}",
        run.stdout,
        run.stderr
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
async fn a_commit_dated_away_from_githubs_merge_time_is_refused() {
    // The merge commit says 09:00, but GitHub merged the pull request at 12:00: the commit's
    // dates were chosen by whoever made it (a head pushed straight to main keeps them), so a
    // window anchored on them could be moved at will.
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let mut seed = w.reseed_github(
        &world::config(w.azure.base_url().trim_end_matches('/')),
        "carol",
    );
    seed.repos[0].pulls[0].merged_at = Some(support::t0() + chrono::Duration::hours(3));
    w.github.reseed(seed);
    let run = w.kv_jit(&["grant", "--now", &t0_plus(5)]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("the window is anchored on the merge, so the dates must agree"),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_line_claiming_a_shared_assignment_does_not_keep_it() {
    // `2026/z` is on main but never granted (its start is tomorrow). A chained line says it was
    // granted alice's real assignment until 2099, so alice's expiry would be "ledger only".
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    let real = ledger(&w)[0]["assignment"].as_str().unwrap().to_owned();
    let z = world::request("alice@contoso.com", "1h") + "start: 2026-11-28T09:00:00Z\n";
    w.merge_pr(8, "requests/2026/z.yaml", &z);
    let z_sha = kv_jit_core::ledger::sha256_hex(z.as_bytes());
    let mut forged = forged_grant("2026/z", ALICE_OID, &real, "2099-01-01T00:00:00Z");
    forged.request_sha256 = Some(z_sha);
    w.forge_ledger(vec![forged]);
    let run = w.kv_jit(&["revoke", "--now", &t0_plus(125)]).await;
    use kv_jit_effects::azure::Azure;
    assert!(
        w.azure_client()
            .list_managed(&World::vault_target())
            .await
            .unwrap()
            .is_empty(),
        "alice's access outlived its window: {}{}",
        run.stdout,
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebase_merged_pull_request_cannot_pick_its_own_trusted_base() {
    // After a rebase merge the commit before the request's commit is the PR's own earlier commit
    // (which could have set CODEOWNERS and identities, reverted later in the PR). Here GitHub
    // says the first parent belongs to the same pull request.
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let mut seed = w.reseed_github(
        &world::config(w.azure.base_url().trim_end_matches('/')),
        "carol",
    );
    let mut earlier = seed.repos[0].pulls[0].commits[0].clone();
    earlier.sha = w.base_sha.clone();
    earlier.files = vec![".github/CODEOWNERS".into()];
    seed.repos[0].pulls[0].commits.insert(0, earlier);
    w.github.reseed(seed);
    let run = w.kv_jit(&["grant", "--now", &t0_plus(5)]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("was merged by rebase"),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_author_offboarded_after_the_merge_gets_nothing_that_still_waits() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    // Before the grant runs, alice's binding is removed on main (a reviewed config change).
    w.push_to_main("offboard alice", |work| {
        let path = work.join(".github/kv-jit.yml");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("  alice-gh: alice@contoso.com\n", "");
        std::fs::write(&path, text).unwrap();
    });
    let run = w.kv_jit(&["grant", "--now", &t0_plus(5)]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("no longer bound"), "{}", run.stdout);
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shallow_clone_grants_and_refuses_nothing_but_still_revokes() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    // A second request, and a checkout with one commit of history.
    w.merge_pr(
        8,
        "requests/2026/alice-later.yaml",
        &world::request("alice@contoso.com", "1h"),
    );
    let shallow = w.tmp.path().join("shallow");
    world::git(
        w.tmp.path(),
        &[
            "clone",
            "--quiet",
            "--depth",
            "1",
            &format!("file://{}", w.origin.display()),
            shallow.to_str().unwrap(),
        ],
    );
    let run = w
        .kv_jit_in(&shallow, &["revoke", "--now", &t0_plus(125)], &[])
        .await;
    assert!(run.stderr.contains("shallow clone"), "{}", run.stderr);
    let events = w.ledger_events();
    assert!(
        events.contains(&("revoked".into(), REQUEST_ID.into(), Some("expired".into()))),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e.1 == "2026/alice-later"),
        "nothing granted or refused from a cut history: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_marker_on_standing_access_is_not_taken_over_by_a_grant() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    // Alice's standing access carries a copy of kv-jit's marker that ends soon.
    w.assign_by_hand_described(
        ALICE_OID,
        SECRETS_USER,
        BY_HAND,
        Some("kv-jit:v1 request=2026/other expires=2026-11-27T09:30:00Z"),
    )
    .await;
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let entries = ledger(&w);
    assert_eq!(entries[0]["event"], "refused", "{entries:#?}");
    assert_eq!(
        w.azure_calls("PUT", BY_HAND),
        1,
        "only the hand-made PUT itself: kv-jit never rewrote its description"
    );
    let later = w.kv_jit(&["revoke", "--now", &t0_plus(60)]).await;
    assert!(w.assignment_exists(BY_HAND).await, "{}", later.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_removed_from_codeowners_after_the_merge_no_longer_counts() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    // Before the grant runs (a retry, a future start), carol stops owning requests/ on main.
    w.push_to_main("carol moved teams", |work| {
        std::fs::write(work.join(".github/CODEOWNERS"), "/requests/ @dave\n").unwrap()
    });
    let run = w.kv_jit(&["grant", "--now", &t0_plus(5)]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("@carol no longer owns"),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
}
