//! Approval verification against the GitHub emulator: the good path and every attack from issue 4,
//! each refused with its own reason.

#[path = "support/github.rs"]
mod support;

use kv_jit_core::approval::{Approval, ApprovalInput, NotCounted, Refusal, TrustedBase};
use kv_jit_effects::approval::verify;
use kv_jit_emulator::github::{FileSeed, GithubSeed, PullSeed};
use support::*;

struct Case {
    seed: GithubSeed,
    commit: String,
    requester: String,
    approvals: u32,
    token: &'static str,
    /// Where the trusted base is read from the seed's files (the caller's job in production).
    trusted_at: String,
}

impl Case {
    fn new(seed: GithubSeed) -> Case {
        Case {
            seed,
            commit: MERGE.into(),
            requester: "alice@contoso.com".into(),
            approvals: 1,
            token: APP_TOKEN,
            trusted_at: BASE.into(),
        }
    }

    async fn run(self) -> Result<Approval, Refusal> {
        let base = trusted(&self.seed, &self.trusted_at);
        let (url, _state) = start(self.seed).await;
        let client = client(&url, self.token);
        let repo = repo();
        let input = ApprovalInput {
            repo: &repo,
            commit: &self.commit,
            request_path: REQUEST,
            requester: &self.requester,
            approvals_required: self.approvals,
            break_glass: false,
            issue: None,
        };
        verify(&client, &input, &base).await
    }
}

fn with_reviews(reviews: Vec<kv_jit_emulator::github::ReviewSeed>) -> GithubSeed {
    let mut seed = support::seed();
    pull_mut(&mut seed).reviews = reviews;
    seed
}

fn not_enough(
    result: Result<Approval, Refusal>,
) -> (Vec<String>, Vec<(String, NotCounted)>, String) {
    match result {
        Err(e @ Refusal::NotEnoughApprovals { .. }) => {
            let message = e.to_string();
            let Refusal::NotEnoughApprovals {
                counted, rejected, ..
            } = e
            else {
                unreachable!()
            };
            (counted, rejected, message)
        }
        other => panic!("expected NotEnoughApprovals, got {other:?}"),
    }
}

#[tokio::test]
async fn owner_approval_on_head_of_merged_pr_verifies() {
    let approval = Case::new(seed()).run().await.expect("approved");
    assert_eq!(approval.pull_number, 7);
    assert_eq!(approval.author, "alice-gh");
    assert_eq!(approval.head_sha, HEAD);
    assert_eq!(approval.base_sha, BASE);
    assert_eq!(approval.merge_commit_sha.as_deref(), Some(MERGE));
    assert_eq!(approval.codeowners_path, ".github/CODEOWNERS");
    assert_eq!(approval.codeowners_line, 2);
    assert_eq!(approval.approvers.len(), 1);
    assert_eq!(approval.approvers[0].login, "carol");
    assert_eq!(approval.approvers[0].as_owner, "@carol");
    assert_eq!(approval.approvers[0].review_id, 700_001);
}

#[tokio::test]
async fn team_owner_approval_counts_through_membership() {
    let approval = Case::new(with_reviews(vec![review("dave", "APPROVED", Some(HEAD))]))
        .run()
        .await
        .unwrap();
    assert_eq!(approval.approvers[0].as_owner, "@acme/security");
}

#[tokio::test]
async fn later_comment_does_not_cancel_approval() {
    let seed = with_reviews(vec![
        review("carol", "APPROVED", Some(HEAD)),
        review("carol", "COMMENTED", Some(HEAD)),
    ]);
    Case::new(seed)
        .run()
        .await
        .expect("a COMMENTED review keeps the approval");
}

#[tokio::test]
async fn self_approval_is_refused() {
    let (counted, rejected, message) = not_enough(
        Case::new(with_reviews(vec![review(
            "alice-gh",
            "APPROVED",
            Some(HEAD),
        )]))
        .run()
        .await,
    );
    assert!(counted.is_empty());
    assert_eq!(
        rejected,
        vec![("alice-gh".to_string(), NotCounted::SelfApproval)]
    );
    assert!(
        message.contains("@alice-gh approved their own pull request"),
        "{message}"
    );
}

#[tokio::test]
async fn requester_cannot_approve_even_when_not_author() {
    // bob owns requests/ but his login maps to the requester's UPN: his approval does not count.
    let mut seed = with_reviews(vec![review("bob", "APPROVED", Some(HEAD))]);
    repo_mut(&mut seed).files.get_mut(BASE).unwrap().insert(
        ".github/kv-jit.yml".into(),
        "identities:\n  alice-gh: alice@contoso.com\n  bob: alice@contoso.com\n".into(),
    );
    repo_mut(&mut seed)
        .files
        .get_mut(BASE)
        .unwrap()
        .insert(".github/CODEOWNERS".into(), "/requests/ @bob\n".into());
    let (_, rejected, _) = not_enough(Case::new(seed).run().await);
    assert_eq!(rejected, vec![("bob".to_string(), NotCounted::Requester)]);
}

#[tokio::test]
async fn non_owner_approval_is_refused() {
    // erin owns `*` through @acme/platform, but the later `/requests/` line wins.
    let seed = with_reviews(vec![
        review("bob", "APPROVED", Some(HEAD)),
        review("erin", "APPROVED", Some(HEAD)),
    ]);
    let (_, rejected, message) = not_enough(Case::new(seed).run().await);
    assert_eq!(
        rejected,
        vec![
            ("bob".into(), NotCounted::NotOwner),
            ("erin".into(), NotCounted::NotOwner)
        ]
    );
    assert!(
        message.contains("@bob is not a code owner of the request file"),
        "{message}"
    );
}

#[tokio::test]
async fn approval_on_older_commit_is_refused() {
    let (_, rejected, message) = not_enough(
        Case::new(with_reviews(vec![review("carol", "APPROVED", Some(H1))]))
            .run()
            .await,
    );
    assert_eq!(
        rejected,
        vec![(
            "carol".into(),
            NotCounted::StaleCommit {
                commit_id: Some(H1.into())
            }
        )]
    );
    assert!(
        message.contains("approved commit 111111111111, not the final head"),
        "{message}"
    );
}

#[tokio::test]
async fn approval_on_vanished_commit_is_refused() {
    let (_, rejected, _) = not_enough(
        Case::new(with_reviews(vec![review("carol", "APPROVED", None)]))
            .run()
            .await,
    );
    assert_eq!(
        rejected,
        vec![("carol".into(), NotCounted::StaleCommit { commit_id: None })]
    );
}

#[tokio::test]
async fn approval_then_changes_requested_is_refused() {
    let seed = with_reviews(vec![
        review("carol", "APPROVED", Some(HEAD)),
        review("dave", "APPROVED", Some(HEAD)),
        review("carol", "CHANGES_REQUESTED", Some(HEAD)),
        review("carol", "COMMENTED", Some(HEAD)),
    ]);
    match Case::new(seed).run().await {
        Err(e @ Refusal::ChangesRequested { .. }) => {
            assert_eq!(
                e.to_string(),
                "code owner @carol requested changes on pull request #7 and did not approve since"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn dismissed_approval_is_refused() {
    let (_, rejected, message) = not_enough(
        Case::new(with_reviews(vec![review("carol", "DISMISSED", Some(HEAD))]))
            .run()
            .await,
    );
    assert_eq!(rejected, vec![("carol".into(), NotCounted::Dismissed)]);
    assert!(
        message.contains("@carol had their approval dismissed"),
        "{message}"
    );
}

#[tokio::test]
async fn too_few_distinct_owners_is_refused() {
    // Two approvals by the same person (once with different case) are one owner.
    let seed = with_reviews(vec![
        review("carol", "APPROVED", Some(HEAD)),
        review("CAROL", "APPROVED", Some(HEAD)),
    ]);
    let mut case = Case::new(seed);
    case.approvals = 2;
    let (counted, rejected, message) = not_enough(case.run().await);
    assert_eq!(counted, vec!["CAROL".to_string()]);
    assert!(rejected.is_empty());
    assert!(
        message.starts_with("pull request #7 has 1 of 2 required code-owner approvals"),
        "{message}"
    );
}

#[tokio::test]
async fn two_distinct_owners_meet_two_approvals() {
    let seed = with_reviews(vec![
        review("carol", "APPROVED", Some(HEAD)),
        review("dave", "APPROVED", Some(HEAD)),
    ]);
    let mut case = Case::new(seed);
    case.approvals = 2;
    let approval = case.run().await.unwrap();
    let logins: Vec<&str> = approval
        .approvers
        .iter()
        .map(|a| a.login.as_str())
        .collect();
    assert_eq!(logins, ["carol", "dave"]);
}

#[tokio::test]
async fn direct_push_without_pr_is_refused() {
    let mut seed = support::seed();
    repo_mut(&mut seed)
        .commits
        .push(commit("d1d1d1d1d1d1d1d1", Some("alice-gh"), &[REQUEST]));
    let mut case = Case::new(seed);
    case.commit = "d1d1d1d1d1d1d1d1".into();
    match case.run().await {
        Err(e @ Refusal::NoPullRequest { .. }) => {
            assert!(e.to_string().contains("direct push"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn pr_not_merged_is_refused() {
    let mut seed = support::seed();
    let open = PullSeed {
        number: 8,
        merged: false,
        merge_commit_sha: None,
        head_sha: "8888".into(),
        ..pull_mut(&mut seed).clone()
    };
    repo_mut(&mut seed).pulls.push(open);
    let mut case = Case::new(seed);
    case.commit = "8888".into();
    match case.run().await {
        Err(e @ Refusal::NotMerged { .. }) => {
            assert_eq!(e.to_string(), "pull request #8 is not merged")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn requester_not_bound_to_author_is_refused() {
    let mut case = Case::new(seed());
    case.requester = "bob@contoso.com".into();
    match case.run().await {
        Err(e @ Refusal::RequesterMismatch { .. }) => assert_eq!(
            e.to_string(),
            "pull request author @alice-gh may request only for `alice@contoso.com` (identities on the default branch), not for `bob@contoso.com`"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn identities_change_in_same_pr_does_not_count() {
    // mallory opens the PR and adds herself to identities in it: the base map counts.
    let mut seed = support::seed();
    let head = repo_mut(&mut seed).files.get_mut(HEAD).unwrap();
    head.insert(
        ".github/kv-jit.yml".into(),
        format!("{CONFIG}  mallory: mallory@contoso.com\n"),
    );
    pull_mut(&mut seed).author = "mallory".into();
    pull_mut(&mut seed).commits = vec![commit(
        HEAD,
        Some("mallory"),
        &[REQUEST, ".github/kv-jit.yml"],
    )];
    let mut case = Case::new(seed);
    case.requester = "mallory@contoso.com".into();
    match case.run().await {
        Err(Refusal::AuthorNotBound { author, .. }) => assert_eq!(author, "mallory"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn codeowners_change_in_same_pr_does_not_count() {
    // The PR makes bob an owner of requests/; bob's approval still does not count.
    let mut seed = with_reviews(vec![review("bob", "APPROVED", Some(HEAD))]);
    let head = repo_mut(&mut seed).files.get_mut(HEAD).unwrap();
    head.insert(
        ".github/CODEOWNERS".into(),
        format!("{CODEOWNERS}/requests/ @bob\n"),
    );
    let (_, rejected, _) = not_enough(Case::new(seed).run().await);
    assert_eq!(rejected, vec![("bob".into(), NotCounted::NotOwner)]);
}

#[tokio::test]
async fn logins_differing_only_in_case_are_the_same_person() {
    // The author approving under another capitalisation is still self-approval.
    let (_, rejected, _) = not_enough(
        Case::new(with_reviews(vec![review(
            "ALICE-GH",
            "APPROVED",
            Some(HEAD),
        )]))
        .run()
        .await,
    );
    assert_eq!(
        rejected,
        vec![("ALICE-GH".into(), NotCounted::SelfApproval)]
    );
    // An owner listed as @carol approving as "Carol" counts once.
    let approval = Case::new(with_reviews(vec![review("Carol", "APPROVED", Some(HEAD))]))
        .run()
        .await
        .unwrap();
    assert_eq!(approval.approvers[0].as_owner, "@carol");
}

#[tokio::test]
async fn team_the_token_cannot_read_fails_closed() {
    let mut case = Case::new(with_reviews(vec![review("dave", "APPROVED", Some(HEAD))]));
    case.token = ACTIONS_TOKEN;
    match case.run().await {
        Err(e @ Refusal::TeamNotReadable { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("cannot read team @acme/security to check @dave"),
                "{message}"
            );
            assert!(message.contains("\"Members: read\""), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn pending_team_member_is_not_an_owner() {
    let (_, rejected, _) = not_enough(
        Case::new(with_reviews(vec![review("gina", "APPROVED", Some(HEAD))]))
            .run()
            .await,
    );
    assert_eq!(rejected, vec![("gina".into(), NotCounted::NotOwner)]);
}

#[tokio::test]
async fn owner_without_write_access_does_not_count() {
    let (_, rejected, _) = not_enough(
        Case::new(with_reviews(vec![review("frank", "APPROVED", Some(HEAD))]))
            .run()
            .await,
    );
    assert_eq!(
        rejected,
        vec![(
            "frank".into(),
            NotCounted::NoWriteAccess {
                permission: "read".into()
            }
        )]
    );
}

#[tokio::test]
async fn commit_by_someone_else_touching_the_request_is_refused() {
    let mut seed = support::seed();
    pull_mut(&mut seed)
        .commits
        .insert(1, commit("abababababababab", Some("bob"), &[REQUEST]));
    match Case::new(seed).run().await {
        Err(e @ Refusal::ForeignCommit { .. }) => assert_eq!(
            e.to_string(),
            format!(
                "commit abababababab on pull request #7 changes `{REQUEST}` but is by @bob, not the author @alice-gh"
            )
        ),
        other => panic!("{other:?}"),
    }
    // A commit no account is attributed to counts as someone else's.
    let mut seed = support::seed();
    pull_mut(&mut seed)
        .commits
        .insert(1, commit("cdcdcdcdcdcdcdcd", None, &[REQUEST]));
    assert!(matches!(
        Case::new(seed).run().await,
        Err(Refusal::ForeignCommit {
            committer: None,
            ..
        })
    ));
    // Someone else's commit that leaves the request alone is fine.
    let mut seed = support::seed();
    pull_mut(&mut seed)
        .commits
        .insert(1, commit("efefefefefefefef", Some("bob"), &["README.md"]));
    assert!(Case::new(seed).run().await.is_ok());
}

#[tokio::test]
async fn pr_that_does_not_change_the_file_is_refused() {
    let mut seed = support::seed();
    pull_mut(&mut seed).files = vec![FileSeed {
        filename: "requests/2026/someone-else.yaml".into(),
        status: "modified".into(),
        previous_filename: None,
    }];
    assert!(matches!(
        Case::new(seed).run().await,
        Err(Refusal::FileNotInPull { number: 7, .. })
    ));
}

#[tokio::test]
async fn invalid_or_missing_codeowners_fails_closed() {
    let mut seed = support::seed();
    repo_mut(&mut seed)
        .files
        .get_mut(BASE)
        .unwrap()
        .insert(".github/CODEOWNERS".into(), format!("{CODEOWNERS}!x @y\n"));
    match Case::new(seed).run().await {
        Err(Refusal::CodeownersInvalid { path, errors }) => {
            assert_eq!(path, ".github/CODEOWNERS");
            assert!(errors[0].starts_with("CODEOWNERS line 3:"), "{errors:?}");
        }
        other => panic!("{other:?}"),
    }
    let mut seed = support::seed();
    repo_mut(&mut seed)
        .files
        .get_mut(BASE)
        .unwrap()
        .remove(".github/CODEOWNERS");
    assert!(matches!(
        Case::new(seed).run().await,
        Err(Refusal::NoCodeowners { .. })
    ));
    // docs/CODEOWNERS is used when it is the only one.
    let mut seed = support::seed();
    let base = repo_mut(&mut seed).files.get_mut(BASE).unwrap();
    base.remove(".github/CODEOWNERS");
    base.insert("docs/CODEOWNERS".into(), "/requests/ @carol\n".into());
    assert_eq!(
        Case::new(seed).run().await.unwrap().codeowners_path,
        "docs/CODEOWNERS"
    );
}

#[tokio::test]
async fn unowned_request_file_is_refused() {
    let mut seed = support::seed();
    repo_mut(&mut seed).files.get_mut(BASE).unwrap().insert(
        ".github/CODEOWNERS".into(),
        format!("{CODEOWNERS}/requests/2026/\n"),
    );
    assert!(matches!(
        Case::new(seed).run().await,
        Err(Refusal::NoOwner { .. })
    ));
}

#[tokio::test]
async fn paging_over_150_reviews_and_120_files() {
    let mut seed = support::seed();
    let pull = pull_mut(&mut seed);
    pull.reviews = (0..149)
        .map(|i| review(&format!("user{i}"), "COMMENTED", Some(HEAD)))
        .collect();
    pull.reviews.push(review("carol", "APPROVED", Some(HEAD)));
    pull.files = (0..120)
        .map(|i| FileSeed {
            filename: format!("requests/notes/f{i}.md"),
            ..Default::default()
        })
        .collect();
    pull.files.push(FileSeed {
        filename: REQUEST.into(),
        ..Default::default()
    });
    let seed_copy = seed.clone();
    let (url, state) = start(seed).await;
    let client = client(&url, APP_TOKEN);
    let repo = repo();
    let input = ApprovalInput {
        repo: &repo,
        commit: MERGE,
        request_path: REQUEST,
        requester: "alice@contoso.com",
        approvals_required: 1,
        break_glass: false,
        issue: None,
    };
    let approval = verify(&client, &input, &trusted(&seed_copy, BASE))
        .await
        .unwrap();
    assert_eq!(approval.approvers[0].login, "carol");
    let paths: Vec<String> = state
        .request_log()
        .into_iter()
        .map(|r| r.path_and_query())
        .collect();
    assert!(
        paths.contains(&"/repos/acme/access/pulls/7/reviews?per_page=100&page=2".to_string()),
        "{paths:#?}"
    );
    assert!(
        paths.contains(&"/repos/acme/access/pulls/7/files?per_page=100&page=2".to_string()),
        "{paths:#?}"
    );
}

#[tokio::test]
async fn ghes_base_url_with_api_v3_prefix() {
    let mut seed = support::seed();
    pull_mut(&mut seed).reviews = (0..120)
        .map(|i| review(&format!("u{i}"), "COMMENTED", Some(HEAD)))
        .collect();
    pull_mut(&mut seed)
        .reviews
        .push(review("carol", "APPROVED", Some(HEAD)));
    let seed_copy = seed.clone();
    let (url, state) = start(seed).await;
    let client = client(&format!("{url}/api/v3"), APP_TOKEN);
    let repo = repo();
    let input = ApprovalInput {
        repo: &repo,
        commit: MERGE,
        request_path: REQUEST,
        requester: "alice@contoso.com",
        approvals_required: 1,
        break_glass: false,
        issue: None,
    };
    verify(&client, &input, &trusted(&seed_copy, BASE))
        .await
        .unwrap();
    let log = state.request_log();
    assert!(
        log.iter().all(|r| r.path.starts_with("/api/v3/")),
        "{log:#?}"
    );
    assert!(
        log.iter().any(|r| r.path_and_query()
            == "/api/v3/repos/acme/access/pulls/7/reviews?per_page=100&page=2")
    );
}

#[tokio::test]
async fn pr_context_before_merge_gives_owners_and_binding() {
    use kv_jit_effects::approval::{check_commit_authors, pr_context};
    let mut seed = support::seed();
    let pull = pull_mut(&mut seed);
    pull.merged = false;
    pull.merge_commit_sha = None;
    // The open PR also edits CODEOWNERS; the base copy still decides.
    repo_mut(&mut seed)
        .files
        .get_mut(HEAD)
        .unwrap()
        .insert(".github/CODEOWNERS".into(), "* @mallory\n".into());
    let seed_copy = seed.clone();
    let (url, _state) = start(seed).await;
    let client = client(&url, APP_TOKEN);
    let repo = repo();
    let context = pr_context(&client, &repo, 7, &trusted(&seed_copy, BASE))
        .await
        .unwrap();
    assert_eq!(context.author, "alice-gh");
    assert_eq!(context.head_sha, HEAD);
    context.check_requester("Alice@Contoso.com").unwrap();
    assert!(matches!(
        context.check_requester("bob@contoso.com"),
        Err(Refusal::RequesterMismatch { .. })
    ));
    let (path, line, owners) = context.owners_of(REQUEST).unwrap();
    assert_eq!((path.as_str(), line), (".github/CODEOWNERS", 2));
    let names: Vec<String> = owners.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["@carol", "@acme/security"]);
    check_commit_authors(&client, &repo, &context, REQUEST)
        .await
        .unwrap();
}

#[tokio::test]
async fn more_commits_than_github_lists_fails_closed() {
    let mut seed = support::seed();
    pull_mut(&mut seed).commits = (0..251)
        .map(|i| commit(&format!("{i:040x}"), Some("alice-gh"), &[REQUEST]))
        .collect();
    match Case::new(seed).run().await {
        Err(Refusal::TooManyCommits {
            number: 7,
            listed: 250,
        }) => {}
        other => panic!("{other:?}"),
    }
}

/// The grant engine may run verifications on spawned tasks.
#[allow(dead_code)]
fn verify_future_is_send(
    client: &kv_jit_effects::github::client::GithubClient,
    input: &ApprovalInput<'_>,
    base: &TrustedBase,
) {
    fn assert_send<T: Send>(_: T) {}
    assert_send(verify(client, input, base));
}

// ---- issue 8: a pull request's own changes never apply to its own check or grant ----------

/// main's tip after the PR opened: carol is no longer an owner of requests/.
const TIP: &str = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";

#[tokio::test]
async fn a_code_owner_removed_on_main_after_the_pr_opened_does_not_count() {
    // GitHub leaves `base.sha` at the tip the PR was opened on (BASE, where carol owns
    // requests/); main has since dropped her. The trusted base is main, not `base.sha`.
    let mut seed = seed();
    let mut tip = repo_mut(&mut seed).files[BASE].clone();
    tip.insert(
        ".github/CODEOWNERS".into(),
        "/requests/ @acme/security\n".into(),
    );
    repo_mut(&mut seed).files.insert(TIP.into(), tip);
    repo_mut(&mut seed)
        .branches
        .insert("main".into(), TIP.into());
    let mut case = Case::new(seed);
    case.trusted_at = "main".into();
    let (_, rejected, _) = not_enough(case.run().await);
    assert_eq!(rejected, vec![("carol".into(), NotCounted::NotOwner)]);
}

#[tokio::test]
async fn a_pull_into_a_side_branch_is_refused() {
    // Merged into `side` (whose CODEOWNERS could name anyone), then fast-forwarded to main.
    let mut seed = seed();
    pull_mut(&mut seed).base_ref = "side".into();
    match Case::new(seed).run().await {
        Err(e @ Refusal::BaseNotDefaultBranch { .. }) => assert_eq!(
            e.to_string(),
            "pull request #7 targets `side`, not the default branch `main`: only a pull request \
             into the default branch is reviewed under its CODEOWNERS and config"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn pr_context_refuses_a_pull_into_a_side_branch() {
    use kv_jit_effects::approval::pr_context;
    let mut seed = seed();
    pull_mut(&mut seed).base_ref = "release".into();
    let base = trusted(&seed, BASE);
    let (url, _state) = start(seed).await;
    let refused = pr_context(&client(&url, APP_TOKEN), &repo(), 7, &base).await;
    assert!(
        matches!(refused, Err(Refusal::BaseNotDefaultBranch { ref base_ref, .. }) if base_ref == "release"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_request_pr_that_changes_files_outside_requests_is_refused() {
    let mut seed = seed();
    pull_mut(&mut seed).files.extend([
        FileSeed {
            filename: ".github/kv-jit.yml".into(),
            status: "modified".into(),
            previous_filename: None,
        },
        FileSeed {
            filename: ".github/CODEOWNERS".into(),
            status: "modified".into(),
            previous_filename: None,
        },
    ]);
    match Case::new(seed).run().await {
        Err(e @ Refusal::ChangesOutsideRequests { .. }) => {
            let m = e.to_string();
            assert!(
                m.starts_with("pull request #7 changes files outside requests/ (`.github/kv-jit.yml`, `.github/CODEOWNERS`)"),
                "{m}"
            );
            assert!(m.contains("change in their own pull requests"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_change_outside_requests_beyond_the_first_page_of_files_is_refused() {
    // 130 request files, then a workflow edit on the second page of the list.
    let mut seed = seed();
    let pull = pull_mut(&mut seed);
    pull.files.extend((0..130).map(|i| FileSeed {
        filename: format!("requests/2026/r{i}.yaml"),
        ..Default::default()
    }));
    pull.files.push(FileSeed {
        filename: ".github/workflows/grant.yml".into(),
        status: "modified".into(),
        previous_filename: None,
    });
    assert!(matches!(
        Case::new(seed).run().await,
        Err(Refusal::ChangesOutsideRequests { paths, .. }) if paths == [".github/workflows/grant.yml"]
    ));
}

#[tokio::test]
async fn a_rename_out_of_requests_counts_as_a_change_outside() {
    let mut seed = seed();
    pull_mut(&mut seed).files.push(FileSeed {
        filename: "requests/2026/moved.yaml".into(),
        status: "renamed".into(),
        previous_filename: Some("audit/ledger.jsonl".into()),
    });
    assert!(matches!(
        Case::new(seed).run().await,
        Err(Refusal::ChangesOutsideRequests { paths, .. }) if paths == ["audit/ledger.jsonl"]
    ));
}

#[tokio::test]
async fn more_files_than_github_lists_fails_closed() {
    // GitHub lists 3000 files of a pull request; what it does not list cannot be checked.
    let mut seed = seed();
    pull_mut(&mut seed).files = (0..3001)
        .map(|i| FileSeed {
            filename: if i == 0 {
                REQUEST.into()
            } else {
                format!("requests/2026/r{i}.yaml")
            },
            ..Default::default()
        })
        .collect();
    assert!(matches!(
        Case::new(seed).run().await,
        Err(Refusal::TooManyFiles {
            changed: 3001,
            listed: 3000,
            ..
        })
    ));
}

#[tokio::test]
async fn a_foreign_commit_hidden_past_the_first_page_of_files_is_refused() {
    // GitHub answers a commit with 300 files and links to the rest: bob's change to the request
    // is the 401st.
    let mut seed = seed();
    let mut files: Vec<String> = (0..400).map(|i| format!("docs/f{i}.md")).collect();
    files.push(REQUEST.into());
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    pull_mut(&mut seed)
        .commits
        .insert(1, commit("abababababababab", Some("bob"), &files));
    assert!(matches!(
        Case::new(seed).run().await,
        Err(Refusal::ForeignCommit { committer: Some(c), .. }) if c == "bob"
    ));
}

#[tokio::test]
async fn a_commit_with_more_files_than_github_lists_is_refused_as_uncheckable() {
    let mut seed = seed();
    let files: Vec<String> = (0..3200).map(|i| format!("docs/f{i}.md")).collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    pull_mut(&mut seed)
        .commits
        .insert(1, commit("abababababababab", Some("bob"), &files));
    match Case::new(seed).run().await {
        Err(e @ Refusal::CommitTooLarge { listed: 3000, .. }) => {
            assert!(e.to_string().contains("all GitHub will list"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_team_without_write_access_does_not_count() {
    // dave is an active member of @acme/security, which only has `pull` on the repository.
    let mut seed = with_reviews(vec![review("dave", "APPROVED", Some(HEAD))]);
    seed.teams[0].repositories = team_access("pull");
    let (_, rejected, message) = not_enough(Case::new(seed.clone()).run().await);
    assert_eq!(
        rejected,
        vec![(
            "dave".into(),
            NotCounted::TeamWithoutWriteAccess {
                team: "acme/security".into(),
                role: "pull".into()
            }
        )]
    );
    assert!(message.contains("not write access"), "{message}");
    // No access at all (GitHub answers 404): the same.
    seed.teams[0].repositories.clear();
    let (_, rejected, _) = not_enough(Case::new(seed.clone()).run().await);
    assert_eq!(
        rejected,
        vec![(
            "dave".into(),
            NotCounted::TeamWithoutWriteAccess {
                team: "acme/security".into(),
                role: "no access".into()
            }
        )]
    );
    // With `maintain` it counts.
    seed.teams[0].repositories = team_access("maintain");
    let approval = Case::new(seed).run().await.unwrap();
    assert_eq!(approval.approvers[0].as_owner, "@acme/security");
}

#[tokio::test]
async fn approval_carries_the_merge_time() {
    let mut seed = seed();
    pull_mut(&mut seed).merged_at = Some("2026-11-27T08:42:00Z".parse().unwrap());
    let approval = Case::new(seed).run().await.unwrap();
    assert_eq!(
        approval.merged_at,
        Some("2026-11-27T08:42:00Z".parse().unwrap())
    );
}

#[tokio::test]
async fn lookups_are_made_only_for_reviews_that_could_count_and_team_access_once() {
    // Self-approval, a stale approval, a dismissed one and a comment cost no lookup; the two
    // team owners share one read of the team's access; carol's user entry needs no team read.
    let seed = with_reviews(vec![
        review("carol", "APPROVED", Some(HEAD)),
        review("dave", "APPROVED", Some(HEAD)),
        review("frank", "APPROVED", Some(HEAD)),
        review("alice-gh", "APPROVED", Some(HEAD)),
        review("bob", "APPROVED", Some(H1)),
        review("erin", "DISMISSED", Some(HEAD)),
        review("gina", "COMMENTED", Some(HEAD)),
    ]);
    let base = trusted(&seed, BASE);
    let (url, state) = start(seed).await;
    let repo = repo();
    let input = ApprovalInput {
        repo: &repo,
        commit: MERGE,
        request_path: REQUEST,
        requester: "alice@contoso.com",
        approvals_required: 2,
        break_glass: false,
        issue: None,
    };
    let approval = verify(&client(&url, APP_TOKEN), &input, &base)
        .await
        .unwrap();
    let logins: Vec<&str> = approval
        .approvers
        .iter()
        .map(|a| a.login.as_str())
        .collect();
    assert_eq!(logins, ["carol", "dave"]);
    let lookups: Vec<String> = state
        .request_log()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| p.contains("/collaborators/") || p.starts_with("/orgs/"))
        .collect();
    assert_eq!(
        lookups,
        [
            "/repos/acme/access/collaborators/carol/permission",
            "/orgs/acme/teams/security",
            "/orgs/acme/teams/security/memberships/dave",
            "/orgs/acme/teams/security/repos/acme/access",
            "/repos/acme/access/collaborators/dave/permission",
            "/orgs/acme/teams/security",
            "/orgs/acme/teams/security/memberships/frank",
            "/repos/acme/access/collaborators/frank/permission",
        ]
    );
}
