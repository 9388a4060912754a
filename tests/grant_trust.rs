//! `kv-jit grant` trusts the default branch as it was just before the merge (the merge commit's
//! first parent, read from local git), never GitHub's copy of anything the pull request or its
//! opening tip could hold, and never a pull request that changes more than `requests/`.

mod support;
#[path = "support/world.rs"]
mod world;

use kv_jit_emulator::github::FileSeed;
use support::T0;
use world::World;

fn base_config(w: &World) -> String {
    world::config(w.azure.base_url().trim_end_matches('/'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_reads_codeowners_from_the_first_parent_not_from_github() {
    // GitHub's copy at the PR's base sha names mallory as the owner of requests/ (say, a
    // CODEOWNERS that main has since dropped); local git at the first parent names carol only.
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let mut seed = w.reseed_github(&base_config(&w), "mallory");
    let repo = &mut seed.repos[0];
    repo.collaborators.insert("mallory".into(), "write".into());
    repo.files
        .get_mut(&w.base_sha)
        .unwrap()
        .insert(".github/CODEOWNERS".into(), "/requests/ @mallory\n".into());
    w.github.reseed(seed);
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("@mallory is not a code owner"),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
    // No contents read through GitHub on the grant path.
    assert!(
        !w.github
            .request_log()
            .iter()
            .any(|r| r.path.contains("/contents/")),
        "{:#?}",
        w.github.request_log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_reads_identities_from_the_first_parent_not_from_github() {
    // GitHub's base copy binds mallory-gh to alice; the first parent does not know mallory-gh.
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let config = base_config(&w).replace(
        "  alice-gh: alice@contoso.com\n",
        "  alice-gh: alice@contoso.com\n  mallory-gh: alice@contoso.com\n",
    );
    let mut seed = w.reseed_github(&config, "carol");
    seed.repos[0].pulls[0].author = "mallory-gh".into();
    seed.repos[0].pulls[0].commits[0].author = Some("mallory-gh".into());
    w.github.reseed(seed);
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("@mallory-gh is not in `identities` on the default branch"),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_pr_that_also_changes_codeowners_is_refused() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let mut seed = w.reseed_github(&base_config(&w), "carol");
    seed.repos[0].pulls[0].files.push(FileSeed {
        filename: ".github/CODEOWNERS".into(),
        status: "modified".into(),
        previous_filename: None,
    });
    w.github.reseed(seed);
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("changes files outside requests/ (`.github/CODEOWNERS`)"),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
    assert_eq!(w.ledger_events()[0].0, "refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_into_a_side_branch_is_never_granted() {
    // Merged into `side`, whose rules the attacker wrote, then fast-forwarded to main.
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let mut seed = w.reseed_github(&base_config(&w), "carol");
    seed.repos[0].pulls[0].base_ref = "side".into();
    w.github.reseed(seed);
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("targets `side`, not the default branch `main`"),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_branch_comes_from_the_event_payload_first() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let event = w.tmp.path().join("event.json");
    std::fs::write(&event, r#"{"repository": {"default_branch": "trunk"}}"#).unwrap();
    let run = w
        .kv_jit_in(
            &w.work,
            &["grant", "--now", T0],
            &[("GITHUB_EVENT_PATH", event.to_str().unwrap())],
        )
        .await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("targets `main`, not the default branch `trunk`"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_policy_field_changed_on_main_after_the_merge_is_refused() {
    // Not one of a list of fields: any field of the vault's policy (here `max_duration`), the
    // tenant, the cloud and the role's id must be what they were when the request was approved.
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let path = w.work.join(".github/kv-jit.yml");
    let changed = std::fs::read_to_string(&path)
        .unwrap()
        .replace("    max_duration: 4h\n", "    max_duration: 8h\n");
    std::fs::write(&path, changed).unwrap();
    world::git(&w.work, &["commit", "--quiet", "-am", "max_duration: 8h"]);
    world::git(&w.work, &["push", "--quiet", "origin", "main"]);
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "vault `flowlibs-demo-kv`: max_duration differ from the config before this pull request; merge policy changes in their own pull request first"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
}
