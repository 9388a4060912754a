//! The benchmark's generators produce what kv-jit accepts, checked without running the
//! benchmark: a generated world passes `kv-jit validate --offline`, its pull requests hold each
//! request once, by its own requester, and every request names its own Azure assignment; a
//! generated ledger verifies.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kv_jit::Exit;
use kv_jit::cli::ValidateArgs;
use kv_jit_bench::world::{self, Spec};

fn t0() -> chrono::DateTime<chrono::Utc> {
    "2026-11-27T09:00:00Z".parse().unwrap()
}

fn validate_offline(work: &Path) -> Exit {
    // Request ids are paths below `requests/`, read from the working directory (this test
    // binary's only test that moves it: nextest runs each test in its own process).
    std::env::set_current_dir(work).unwrap();
    kv_jit::cmd::validate::run(
        &ValidateArgs {
            offline: true,
            pr: None,
            paths: vec![PathBuf::from("requests")],
        },
        Path::new(".github/kv-jit.yml"),
        t0(),
        kv_jit_core::diag::Format::Text,
        false,
    )
}

#[test]
fn a_generated_world_is_valid_and_its_pull_requests_cover_every_request_once() {
    let spec = Spec {
        requests: 60,
        vaults: 5,
        subscriptions: 2,
        prs: 8,
        requesters: 4,
        minutes: 60,
    };
    let tmp = tempfile::tempdir().unwrap();
    let repo = world::generate(tmp.path(), &spec, "http://127.0.0.1:9", t0()).unwrap();
    assert_eq!(repo.ids.len(), 60);

    // Every request once, in a pull request by its own requester, approved by the code owner
    // on the head, merged; the base's files are the config and CODEOWNERS.
    let gh = &repo.github.repos[0];
    let mut seen = BTreeSet::new();
    for pull in &gh.pulls {
        assert!(pull.merged && pull.merge_commit_sha.is_some());
        assert_eq!(pull.reviews[0].user, "carol");
        assert_eq!(
            pull.reviews[0].commit_id.as_deref(),
            Some(pull.head_sha.as_str())
        );
        assert!(gh.files[&pull.base_sha].contains_key(".github/kv-jit.yml"));
        for f in &pull.files {
            let id = f
                .filename
                .strip_prefix("requests/")
                .unwrap()
                .strip_suffix(".yaml")
                .unwrap();
            let k: usize = id.strip_prefix("bench/r").unwrap().parse().unwrap();
            assert_eq!(world::login(world::item(&spec, k).requester), pull.author);
            assert!(seen.insert(id.to_owned()), "{id} twice");
        }
    }
    assert_eq!(seen.len(), 60);
    // One (principal, scope) per request: Azure keeps one assignment per principal, role, scope.
    let pairs: BTreeSet<(usize, usize, usize)> = (0..60)
        .map(|k| {
            let it = world::item(&spec, k);
            (it.requester, it.vault, it.secret)
        })
        .collect();
    assert_eq!(pairs.len(), 60);
    // Vault v in subscription v % S; the Azure seed names every vault and every secret used.
    let seed = world::azure_seed(&spec, false);
    assert_eq!(seed.vaults.len(), 5);
    for k in 0..60 {
        let it = world::item(&spec, k);
        let v = &seed.vaults[it.vault];
        assert_eq!(v.name, world::vault_name(it.vault));
        assert_eq!(v.subscription_id, world::subscription(it.vault % 2));
        assert!(v.secrets.contains_key(&format!("s-{:04}", it.secret)));
    }
    assert!(world::azure_seed(&spec, true).limits.write_bucket_capacity <= 200.0);

    // The checkout is what kv-jit validates: config, CODEOWNERS and every request pass.
    assert_eq!(validate_offline(&repo.work), Exit::Ok);
}

#[test]
fn a_generated_plan_repository_holds_the_files_and_a_verifying_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let work = world::generate_plan_repo(tmp.path(), 25, 101, t0()).unwrap();
    let files = std::fs::read_dir(work.join("requests/bench"))
        .unwrap()
        .count();
    assert_eq!(files, 25);
    let ledger = work.join("audit/ledger.jsonl");
    let text = std::fs::read_to_string(&ledger).unwrap();
    assert_eq!(text.lines().count(), 101);
    let exit = kv_jit::cmd::audit::audit_verify_cmd(
        Some(&ledger),
        &work.join(".github/kv-jit.yml"),
        kv_jit_core::diag::Format::Text,
    );
    assert_eq!(exit, Exit::Ok);
    // A changed byte breaks the chain: the check above can fail.
    std::fs::write(&ledger, text.replacen("alice", "alicf", 1)).unwrap();
    let exit = kv_jit::cmd::audit::audit_verify_cmd(
        Some(&ledger),
        &work.join(".github/kv-jit.yml"),
        kv_jit_core::diag::Format::Text,
    );
    assert_eq!(exit, Exit::Problems);
    assert_eq!(validate_offline(&work), Exit::Ok);
}

#[test]
fn pull_requests_split_each_requesters_requests() {
    let spec = Spec::p1(1000);
    let sizes: Vec<usize> = (0..spec.prs)
        .map(|p| world::pr_items(&spec, p).len())
        .collect();
    assert_eq!(sizes, vec![50; 20]);
    let quick = Spec::p1(100);
    let sizes: Vec<usize> = (0..quick.prs)
        .map(|p| world::pr_items(&quick, p).len())
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), 100);
    let s = Spec::scale_out(10, 1000);
    assert_eq!(s.requests, 10_000);
    let per_sub = (0..s.requests)
        .filter(|&k| {
            world::vault_subscription(&s, world::item(&s, k).vault) == world::subscription(3)
        })
        .count();
    assert_eq!(per_sub, 1000);
}
