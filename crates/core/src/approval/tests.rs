//! Every approval rule as a table, judged by the pure [`decide`]: no HTTP, no tokio. One row per
//! attack (and per way it must not misfire); `tests/approval.rs` proves the gathering against
//! the GitHub emulator.
//!
//! The case is the emulator's seed: PR #7 by alice-gh adds the request in two commits of hers;
//! CODEOWNERS gives `*` to @acme/platform and `requests/` to @carol and @acme/security; carol
//! approved the final head.

use super::decide::{Need, Stop, judge};
use super::*;
use crate::github::{
    CommitPaths, GitRef, PullFile, PullRequest, TeamMembership, TeamRepoPermissions,
};

const REQUEST: &str = "requests/2026/alice-api-key.yaml";
const BASE: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
const H1: &str = "1111111111111111111111111111111111111111";
const HEAD: &str = "2222222222222222222222222222222222222222";
const MERGE: &str = "7777777777777777777777777777777777777777";
const ALICE: &str = "alice@contoso.com";
const CODEOWNERS: &str = "* @acme/platform\n/requests/ @carol @acme/security\n";

/// The cast: login, repository permission, the teams they are in (active or pending).
type Member = (
    &'static str,
    &'static str,
    &'static [(&'static str, TeamMembership)],
);
#[rustfmt::skip]
const CAST: &[Member] = &[
    ("alice-gh", "write", &[]),
    ("bob", "write", &[]),
    ("carol", "write", &[]),
    ("dave", "maintain", &[("acme/security", TeamMembership::Active)]),
    ("erin", "write", &[("acme/platform", TeamMembership::Active)]),
    ("frank", "read", &[("acme/security", TeamMembership::Active)]),
    ("gina", "write", &[("acme/security", TeamMembership::Pending)]),
    ("mallory", "write", &[]),
];
const TEAMS: [&str; 2] = ["acme/security", "acme/platform"];

struct Case {
    f: ApprovalFacts,
    base: TrustedBase,
    requester: &'static str,
    approvals: u32,
    break_glass: bool,
    issue: Option<u64>,
}

fn review(login: &str, state: ReviewState, commit: Option<&str>) -> ReviewFacts {
    ReviewFacts {
        login: login.into(),
        id: 0,
        state,
        commit_id: commit.map(Into::into),
    }
}
fn approve(login: &str) -> ReviewFacts {
    review(login, ReviewState::Approved, Some(HEAD))
}
fn approve_at(login: &str, commit: Option<&str>) -> ReviewFacts {
    review(login, ReviewState::Approved, commit)
}
fn changes(login: &str) -> ReviewFacts {
    review(login, ReviewState::ChangesRequested, Some(HEAD))
}
fn comment(login: &str) -> ReviewFacts {
    review(login, ReviewState::Commented, Some(HEAD))
}
fn dismissed(login: &str) -> ReviewFacts {
    review(login, ReviewState::Dismissed, Some(HEAD))
}

/// Three approvals of the head that could count (carol, dave, frank), then four that cannot:
/// self-approval, a stale approval, a dismissed one and a comment.
fn seven_reviews() -> [ReviewFacts; 7] {
    [
        approve("carol"),
        approve("dave"),
        approve("frank"),
        approve("alice-gh"),
        approve_at("bob", Some(H1)),
        dismissed("erin"),
        comment("gina"),
    ]
}

fn access(role: &str) -> TeamRepoPermissions {
    let mut p = TeamRepoPermissions::default();
    match role {
        "admin" => p.admin = true,
        "maintain" => p.maintain = true,
        "push" => p.push = true,
        "triage" => p.triage = true,
        _ => p.pull = true,
    }
    p
}

impl Case {
    fn new() -> Case {
        let pull = PullFacts {
            number: 7,
            html_url: None,
            author: Some("alice-gh".into()),
            base_ref: "main".into(),
            head_sha: HEAD.into(),
            merged: true,
            merged_at: None,
            merge_commit_sha: Some(MERGE.into()),
            commit_count: Some(0),
            changed_files: Some(0),
            created_at: Some("2026-11-27T08:30:00Z".parse().unwrap()),
        };
        let mut f = ApprovalFacts::new(pull, vec![], vec![], vec![]);
        for (login, permission, teams) in CAST {
            let reviewer = f.reviewer_mut(login);
            reviewer.permission = Some(Ok(permission.to_string()));
            for team in TEAMS {
                let membership = teams.iter().find(|(t, _)| *t == team);
                let membership = membership.map_or(TeamMembership::NotMember, |(_, m)| *m);
                reviewer.teams.insert(team.into(), Ok(membership));
            }
        }
        for team in TEAMS {
            f.team_access.insert(team.into(), Ok(Some(access("push"))));
        }
        let mut c = Case {
            f,
            base: TrustedBase {
                sha: BASE.into(),
                default_branch: "main".into(),
                identities: BTreeMap::new(),
                codeowners: None,
            },
            requester: ALICE,
            approvals: 1,
            break_glass: false,
            issue: None,
        };
        c.file(REQUEST, None);
        c.f.files[0].status = "added".into();
        c.commit(H1, Some("alice-gh"), &[REQUEST]);
        c.commit(HEAD, Some("alice-gh"), &[REQUEST]);
        c.reviews([approve("carol")]);
        c.codeowners(CODEOWNERS);
        c.bind("alice-gh", ALICE);
        c.bind("bob", "bob@contoso.com");
        c.bind("carol", "carol@contoso.com");
        c
    }

    /// The reviews, in order, with ids 700001, 700002, ...
    fn reviews(&mut self, reviews: impl IntoIterator<Item = ReviewFacts>) {
        self.f.reviews = reviews.into_iter().collect();
        for (i, r) in self.f.reviews.iter_mut().enumerate() {
            r.id = 700_001 + i as u64;
        }
    }

    /// One more changed file (a rename when `previous` is set).
    fn file(&mut self, name: &str, previous: Option<&str>) {
        self.f.files.push(PullFile {
            filename: name.into(),
            status: if previous.is_some() {
                "renamed"
            } else {
                "modified"
            }
            .into(),
            previous_filename: previous.map(Into::into),
        });
        self.f.pull.changed_files = Some(self.f.files.len() as u64);
    }

    /// One more commit, with the paths it changes.
    fn commit(&mut self, sha: &str, author: Option<&str>, paths: &[impl AsRef<str>]) {
        self.f.commits.push(CommitFacts {
            sha: sha.into(),
            author: author.map(Into::into),
        });
        let paths: Vec<String> = paths.iter().map(|p| p.as_ref().to_owned()).collect();
        let files_listed = paths.len();
        self.f.commit_paths.insert(
            sha.into(),
            CommitPaths {
                paths,
                files_listed,
            },
        );
        self.f.pull.commit_count = Some(self.f.commits.len() as u64);
    }

    fn codeowners(&mut self, text: &str) {
        self.base.codeowners = Some((".github/CODEOWNERS".into(), Codeowners::parse(text)));
    }

    /// PR #7 opened by kv-jit's bot from issue `issue` (opened as `opener` says); the bot made
    /// the commits.
    fn bot_pr(&mut self, issue: Option<u64>, opener: IssueOpener) {
        self.issue = issue;
        self.f.issue = Some(Ok(opener));
        self.as_author("kv-jit-app[bot]");
    }

    fn as_author(&mut self, login: &str) {
        self.f.pull.author = Some(login.into());
        for c in &mut self.f.commits {
            c.author = Some(login.into());
        }
    }

    fn pull_as_issue(&mut self) {
        if let Some(Ok(o)) = &mut self.f.issue {
            o.is_pull = true;
        }
    }

    fn bind(&mut self, login: &str, upn: &str) {
        self.base.identities.insert(login.into(), upn.into());
    }

    fn permission(&mut self, login: &str, permission: Result<&str, &str>) {
        let permission = permission.map(Into::into).map_err(Into::into);
        self.f.reviewer_mut(login).permission = Some(permission);
    }

    fn member(&mut self, login: &str, team: &str, membership: Result<TeamMembership, &str>) {
        let membership = membership.map_err(Into::into);
        self.f
            .reviewer_mut(login)
            .teams
            .insert(team.into(), membership);
    }

    /// A team's access to the repository; `None` is no access.
    fn team(&mut self, team: &str, role: Option<&str>) {
        self.f.team_access.insert(team.into(), Ok(role.map(access)));
    }

    fn input<'a>(&'a self, repo: &'a Repo) -> ApprovalInput<'a> {
        ApprovalInput {
            repo,
            commit: MERGE,
            request_path: REQUEST,
            requester: self.requester,
            approvals_required: self.approvals,
            break_glass: self.break_glass,
            issue: self.issue,
        }
    }

    fn decide(&self) -> Result<Approval, Refusal> {
        let repo = Repo::parse("acme/access").unwrap();
        decide(&self.f, &self.input(&repo), &self.base)
    }

    /// The lookups `gather` makes for this case: [`judge`] on the pull request and its lists
    /// alone, each fact it asks for answered from the case, until it asks for none.
    fn lookups(&self) -> Vec<String> {
        let repo = Repo::parse("acme/access").unwrap();
        let input = self.input(&repo);
        let mut facts = ApprovalFacts::new(
            self.f.pull.clone(),
            self.f.files.clone(),
            self.f.commits.clone(),
            self.f.reviews.clone(),
        );
        let mut asked = Vec::new();
        while let Err(Stop::Need(need)) = judge(&facts, &input, &self.base) {
            assert!(!asked.contains(&need.to_string()), "asked twice: {need}");
            asked.push(need.to_string());
            let known = |login: &str| self.f.reviewer(login).expect(login).clone();
            match need {
                Need::CommitPaths { sha } => {
                    let paths = self.f.commit_paths[&sha].clone();
                    facts.commit_paths.insert(sha, paths);
                }
                Need::Membership { org, slug, login } => {
                    let team = format!("{org}/{slug}");
                    let membership = known(&login).teams[&team].clone();
                    facts.reviewer_mut(&login).teams.insert(team, membership);
                }
                Need::TeamAccess { org, slug } => {
                    let team = format!("{org}/{slug}");
                    let access = self.f.team_access[&team].clone();
                    facts.team_access.insert(team, access);
                }
                Need::Permission { login } => {
                    facts.reviewer_mut(&login).permission = known(&login).permission;
                }
                Need::Issue { .. } => facts.issue = self.f.issue.clone(),
            }
        }
        asked
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn opener(login: &str, at: &str) -> IssueOpener {
    IssueOpener {
        number: 5,
        author: Some(login.into()),
        created_at: Some(at.parse().unwrap()),
        is_pull: false,
    }
}

/// One line per outcome: `ok` and the approvers, `n of N` and every review that did not count,
/// or the refusal's variant and the fields that tell it apart.
fn show(result: Result<Approval, Refusal>) -> String {
    let refusal = match result {
        Ok(a) => {
            let who: Vec<String> = a
                .approvers
                .iter()
                .map(|a| format!("{} as {}", a.login, a.as_owner))
                .collect();
            if a.break_glass {
                return format!(
                    "ok break-glass, told {} ({} approved)",
                    a.owners.join(" "),
                    a.approvers.len()
                );
            }
            return format!("ok {}", who.join(", "));
        }
        Err(refusal) => refusal,
    };
    match refusal {
        Refusal::NotEnoughApprovals {
            required,
            counted,
            rejected,
            ..
        } => {
            let n = counted.len();
            let mut reviews = counted;
            reviews.extend(rejected.iter().map(|(login, why)| {
                let why = match why {
                    NotCounted::StaleCommit { commit_id } => {
                        format!(
                            "StaleCommit({})",
                            commit_id.as_deref().map_or("gone", short)
                        )
                    }
                    NotCounted::TeamWithoutWriteAccess { team, role } => {
                        format!("TeamWithoutWriteAccess({team}, {role})")
                    }
                    NotCounted::NoWriteAccess { permission } => {
                        format!("NoWriteAccess({permission})")
                    }
                    other => format!("{other:?}"),
                };
                format!("{login} {why}")
            }));
            format!("{n} of {required} ({})", reviews.join(", "))
        }
        Refusal::NoPullRequest { .. } => "NoPullRequest".into(),
        Refusal::NotMerged { numbers } => format!("NotMerged({numbers:?})"),
        Refusal::NoAuthor { .. } => "NoAuthor".into(),
        Refusal::NoCodeowners { .. } => "NoCodeowners".into(),
        Refusal::NoOwner { .. } => "NoOwner".into(),
        Refusal::AmbiguousPullRequest { numbers, .. } => {
            format!("AmbiguousPullRequest({numbers:?})")
        }
        Refusal::BaseNotDefaultBranch { base_ref, .. } => {
            format!("BaseNotDefaultBranch({base_ref})")
        }
        Refusal::TooManyFiles {
            changed, listed, ..
        } => format!("TooManyFiles({listed} of {changed})"),
        Refusal::ChangesOutsideRequests { paths, .. } => {
            format!("ChangesOutsideRequests({})", paths.join(", "))
        }
        Refusal::FileNotInPull { path, .. } => format!("FileNotInPull({path})"),
        Refusal::AuthorNotBound { author, .. } => format!("AuthorNotBound({author})"),
        Refusal::RequesterMismatch {
            author, bound_to, ..
        } => format!("RequesterMismatch({author} is {bound_to})"),
        Refusal::TooManyCommits { listed, .. } => format!("TooManyCommits({listed})"),
        Refusal::ForeignCommit { sha, committer, .. } => {
            let by = committer.as_deref().unwrap_or("nobody");
            format!("ForeignCommit({} by {by})", short(&sha))
        }
        Refusal::CommitTooLarge { sha, listed, .. } => {
            format!("CommitTooLarge({} lists {listed})", short(&sha))
        }
        Refusal::CodeownersInvalid { errors, .. } => {
            format!("CodeownersInvalid({})", errors.join("; "))
        }
        Refusal::ChangesRequested { login, .. } => format!("ChangesRequested({login})"),
        Refusal::TeamNotReadable { team, login, .. } => {
            format!("TeamNotReadable({team} for {login})")
        }
        Refusal::PermissionNotReadable { login, .. } => format!("PermissionNotReadable({login})"),
        Refusal::Unread { what } => format!("Unread({what})"),
        Refusal::BotWithoutIssue { .. } => "BotWithoutIssue".into(),
        Refusal::IssueOpenerNotBound { opener, .. } => format!("IssueOpenerNotBound({opener})"),
        Refusal::IssueIsPull { .. } => "IssueIsPull".into(),
        Refusal::IssueAfterPull { .. } => "IssueAfterPull".into(),
        Refusal::IssueNotReadable { .. } => "IssueNotReadable".into(),
        other => format!("{other:?}"),
    }
}

type Row = (&'static str, fn(&mut Case), &'static str);

/// What the case changes, and what `decide` then says. A table: one row a line, unformatted.
#[rustfmt::skip]
const ROWS: &[Row] = &[
    // The good paths.
    ("an owner approves the final head", |_| {}, "ok carol as @carol"),
    ("an owner under another capitalisation", |c| c.reviews([approve("Carol")]), "ok Carol as @carol"),
    ("a team owner: active member, the team can write", |c| c.reviews([approve("dave")]), "ok dave as @acme/security"),
    ("a team owner through a maintain team", |c| { c.team("acme/security", Some("maintain")); c.reviews([approve("dave")]) }, "ok dave as @acme/security"),
    // Who approved.
    ("self-approval", |c| c.reviews([approve("alice-gh")]), "0 of 1 (alice-gh SelfApproval)"),
    ("self-approval under another capitalisation", |c| c.reviews([approve("ALICE-GH")]), "0 of 1 (ALICE-GH SelfApproval)"),
    ("the requester approves (an owner bound to the requester)", |c| c.bind("carol", ALICE), "0 of 1 (carol Requester)"),
    ("a non-owner", |c| c.reviews([approve("bob")]), "0 of 1 (bob NotOwner)"),
    ("two non-owners, each named", |c| c.reviews([approve("bob"), approve("erin")]), "0 of 1 (bob NotOwner, erin NotOwner)"),
    ("an owner of `*` only: the later requests/ line wins", |c| c.reviews([approve("erin")]), "0 of 1 (erin NotOwner)"),
    ("an owner removed on the default branch", |c| c.codeowners("/requests/ @acme/security\n"), "0 of 1 (carol NotOwner)"),
    ("an e-mail owner never matches", |c| c.codeowners("/requests/ carol@contoso.com\n"), "0 of 1 (carol NotOwner)"),
    ("a pending team member", |c| c.reviews([approve("gina")]), "0 of 1 (gina NotOwner)"),
    ("a team with pull access only", |c| { c.team("acme/security", Some("pull")); c.reviews([approve("dave")]) }, "0 of 1 (dave TeamWithoutWriteAccess(acme/security, pull))"),
    ("a team with no access to the repository", |c| { c.team("acme/security", None); c.reviews([approve("dave")]) }, "0 of 1 (dave TeamWithoutWriteAccess(acme/security, no access))"),
    ("a team owner with read permission only", |c| c.reviews([approve("frank")]), "0 of 1 (frank NoWriteAccess(read))"),
    ("a user owner with read permission only", |c| c.permission("carol", Ok("read")), "0 of 1 (carol NoWriteAccess(read))"),
    ("a team the token cannot read", |c| { c.member("dave", "acme/security", Err("403")); c.reviews([approve("dave")]) }, "TeamNotReadable(acme/security for dave)"),
    ("a team's access the token cannot read", |c| { c.f.team_access.insert("acme/security".into(), Err("403".into())); c.reviews([approve("dave")]) }, "TeamNotReadable(acme/security for dave)"),
    ("a permission the token cannot read", |c| c.permission("carol", Err("403")), "PermissionNotReadable(carol)"),
    // Which review counts.
    ("an approval of an older commit", |c| c.reviews([approve_at("carol", Some(H1))]), "0 of 1 (carol StaleCommit(111111111111))"),
    ("an approval of a commit GitHub lost", |c| c.reviews([approve_at("carol", None)]), "0 of 1 (carol StaleCommit(gone))"),
    ("a stale approval, then one of the head", |c| c.reviews([approve_at("carol", Some(H1)), approve("carol")]), "ok carol as @carol"),
    ("an approval later dismissed", |c| c.reviews([dismissed("carol")]), "0 of 1 (carol Dismissed)"),
    ("dismissed, then approved again", |c| c.reviews([dismissed("carol"), approve("carol")]), "ok carol as @carol"),
    ("COMMENTED after APPROVED keeps the approval", |c| c.reviews([approve("carol"), comment("carol")]), "ok carol as @carol"),
    ("an unknown state after APPROVED keeps it", |c| c.reviews([approve("carol"), review("carol", ReviewState::parse("ESCALATED"), Some(HEAD))]), "ok carol as @carol"),
    ("CHANGES_REQUESTED by an owner refuses", |c| c.reviews([approve("carol"), approve("dave"), changes("carol"), comment("carol")]), "ChangesRequested(carol)"),
    ("CHANGES_REQUESTED by a team owner refuses", |c| c.reviews([approve("carol"), changes("dave")]), "ChangesRequested(dave)"),
    ("149 comments by others, then an owner's approval", |c| c.reviews((0..149).map(|i| comment(&format!("user{i}"))).chain([approve("carol")])), "ok carol as @carol"),
    ("CHANGES_REQUESTED, then approved", |c| c.reviews([changes("carol"), approve("carol")]), "ok carol as @carol"),
    ("CHANGES_REQUESTED by a non-owner is ignored", |c| c.reviews([changes("bob"), approve("carol")]), "ok carol as @carol"),
    // How many.
    ("2 of N: one owner twice, once as CAROL", |c| { c.approvals = 2; c.reviews([approve("carol"), approve("CAROL")]) }, "1 of 2 (CAROL)"),
    ("2 of N: two distinct owners", |c| { c.approvals = 2; c.reviews([approve("carol"), approve("dave")]) }, "ok carol as @carol, dave as @acme/security"),
    ("2 of N: seven reviews, only carol and dave count", |c| { c.approvals = 2; c.reviews(seven_reviews()) }, "ok carol as @carol, dave as @acme/security"),
    ("2 of N: an owner and a non-owner", |c| { c.approvals = 2; c.reviews([approve("carol"), approve("bob")]) }, "1 of 2 (carol, bob NotOwner)"),
    ("approvals: 0 still needs one", |c| { c.approvals = 0; c.reviews([]) }, "0 of 1 ()"),
    // The pull request.
    ("not merged", |c| c.f.pull.merged = false, "NotMerged([7])"),
    ("the base is not the default branch", |c| c.f.pull.base_ref = "side".into(), "BaseNotDefaultBranch(side)"),
    ("no author GitHub can show", |c| c.f.pull.author = None, "NoAuthor"),
    ("a file outside requests/", |c| c.file(".github/CODEOWNERS", None), "ChangesOutsideRequests(.github/CODEOWNERS)"),
    ("two files outside requests/, named in order", |c| { c.file(".github/kv-jit.yml", None); c.file(".github/CODEOWNERS", None) }, "ChangesOutsideRequests(.github/kv-jit.yml, .github/CODEOWNERS)"),
    ("a file outside requests/ after 130 inside", |c| { (0..130).for_each(|i| c.file(&format!("requests/2026/r{i}.yaml"), None)); c.file(".github/workflows/grant.yml", None) }, "ChangesOutsideRequests(.github/workflows/grant.yml)"),
    ("121 files inside requests/, the request last", |c| { c.f.files.clear(); (0..120).for_each(|i| c.file(&format!("requests/notes/f{i}.md"), None)); c.file(REQUEST, None) }, "ok carol as @carol"),
    ("a rename out of requests/", |c| c.file("docs/x.yaml", Some("requests/x.yaml")), "ChangesOutsideRequests(docs/x.yaml)"),
    ("a rename into requests/", |c| c.file("requests/x.yaml", Some("audit/ledger.jsonl")), "ChangesOutsideRequests(audit/ledger.jsonl)"),
    ("more files than GitHub lists", |c| c.f.pull.changed_files = Some(3001), "TooManyFiles(1 of 3001)"),
    ("the request file is not in the pull", |c| c.f.files[0].filename = "requests/other.yaml".into(), "FileNotInPull(requests/2026/alice-api-key.yaml)"),
    ("the pull removes the request file", |c| c.f.files[0].status = "removed".into(), "FileNotInPull(requests/2026/alice-api-key.yaml)"),
    // Who asked.
    ("the author is not bound", |c| c.f.pull.author = Some("mallory".into()), "AuthorNotBound(mallory)"),
    ("the author binds themself in the pull: the base's identities count", |c| { c.f.pull.author = Some("mallory".into()); c.requester = "mallory@contoso.com"; c.f.commits.clear(); c.f.commit_paths.clear(); c.commit(HEAD, Some("mallory"), &[REQUEST, ".github/kv-jit.yml"]) }, "AuthorNotBound(mallory)"),
    ("the author is bound to someone else", |c| c.requester = "bob@contoso.com", "RequesterMismatch(alice-gh is alice@contoso.com)"),
    ("the binding ignores case", |c| c.requester = "Alice@Contoso.com", "ok carol as @carol"),
    ("a foreign commit touching the file", |c| c.commit("abab", Some("bob"), &[REQUEST]), "ForeignCommit(abab by bob)"),
    ("a foreign commit changing the file as its 401st path", |c| c.commit("abababababababab", Some("bob"), &(0..400).map(|i| format!("docs/f{i}.md")).chain([REQUEST.to_owned()]).collect::<Vec<_>>()), "ForeignCommit(abababababab by bob)"),
    ("an unattributed commit touching the file", |c| c.commit("cdcd", None, &[REQUEST]), "ForeignCommit(cdcd by nobody)"),
    ("a foreign commit touching another file", |c| c.commit("efef", Some("bob"), &["requests/b.yaml"]), "ok carol as @carol"),
    ("the author's commit under another capitalisation", |c| c.commit("abab", Some("Alice-GH"), &[REQUEST]), "ok carol as @carol"),
    ("more commits than GitHub lists", |c| c.f.pull.commit_count = Some(251), "TooManyCommits(2)"),
    ("a foreign commit with more files than GitHub lists", |c| c.commit("abab", Some("bob"), &["docs/a.md"; 3000]), "CommitTooLarge(abab lists 3000)"),
    // Who owns it.
    ("no CODEOWNERS on the default branch", |c| c.base.codeowners = None, "NoCodeowners"),
    ("an invalid CODEOWNERS", |c| c.codeowners("/requests/ @carol\n!x @y\n"), "CodeownersInvalid(CODEOWNERS line 2: invalid pattern `!x`: `!` negation is not supported)"),
    ("no owner for the path", |c| c.codeowners("* @carol\n/requests/2026/\n"), "NoOwner"),
    // Break-glass: no approval needed, every other rule holds.
    ("break-glass without any review", |c| { c.break_glass = true; c.reviews([]) }, "ok break-glass, told @carol @acme/security (0 approved)"),
    ("break-glass where the vault demands 2", |c| { c.break_glass = true; c.approvals = 2; c.reviews([comment("carol")]) }, "ok break-glass, told @carol @acme/security (0 approved)"),
    ("break-glass keeps an approval that was given", |c| c.break_glass = true, "ok break-glass, told @carol @acme/security (1 approved)"),
    ("break-glass self-approval is not needed and not counted", |c| { c.break_glass = true; c.reviews([approve("alice-gh")]) }, "ok break-glass, told @carol @acme/security (0 approved)"),
    ("break-glass: an owner's CHANGES_REQUESTED still refuses", |c| { c.break_glass = true; c.reviews([changes("carol")]) }, "ChangesRequested(carol)"),
    ("break-glass: the author is not bound", |c| { c.break_glass = true; c.f.pull.author = Some("mallory".into()) }, "AuthorNotBound(mallory)"),
    ("break-glass: for someone else", |c| { c.break_glass = true; c.requester = "bob@contoso.com" }, "RequesterMismatch(alice-gh is alice@contoso.com)"),
    ("break-glass: a foreign commit", |c| { c.break_glass = true; c.commit("abab", Some("bob"), &[REQUEST]) }, "ForeignCommit(abab by bob)"),
    ("break-glass: a file outside requests/", |c| { c.break_glass = true; c.file(".github/CODEOWNERS", None) }, "ChangesOutsideRequests(.github/CODEOWNERS)"),
    ("break-glass: nobody owns the path", |c| { c.break_glass = true; c.codeowners("* @carol\n/requests/2026/\n") }, "NoOwner"),
    ("break-glass: not merged", |c| { c.break_glass = true; c.f.pull.merged = false }, "NotMerged([7])"),
    ("break-glass: into a side branch", |c| { c.break_glass = true; c.f.pull.base_ref = "side".into() }, "BaseNotDefaultBranch(side)"),
    // A bot's pull request, bound through the issue it carries.
    ("a bot's PR for the opener of its issue", |c| c.bot_pr(Some(5), opener("alice-gh", "2026-11-27T08:00:00Z")), "ok carol as @carol"),
    ("a machine user's PR (not in identities) for the opener of its issue", |c| { c.bot_pr(Some(5), opener("alice-gh", "2026-11-27T08:00:00Z")); c.as_author("machine-user") }, "ok carol as @carol"),
    ("a bot's PR without issue:", |c| c.bot_pr(None, opener("alice-gh", "2026-11-27T08:00:00Z")), "BotWithoutIssue"),
    ("a machine user's PR without issue: is not bound, as before", |c| { c.bot_pr(None, opener("alice-gh", "2026-11-27T08:00:00Z")); c.as_author("machine-user") }, "AuthorNotBound(machine-user)"),
    ("a bot's PR whose issue someone else opened", |c| c.bot_pr(Some(5), opener("bob", "2026-11-27T08:00:00Z")), "IssueOpenerNotBound(bob)"),
    ("a bot's PR whose issue an unknown account opened", |c| c.bot_pr(Some(5), opener("mallory", "2026-11-27T08:00:00Z")), "IssueOpenerNotBound(mallory)"),
    ("a bot's PR naming a pull request as its issue", |c| { c.bot_pr(Some(5), opener("alice-gh", "2026-11-27T08:00:00Z")); c.pull_as_issue() }, "IssueIsPull"),
    ("a bot's PR whose issue was opened after it", |c| c.bot_pr(Some(5), opener("alice-gh", "2026-11-27T08:45:00Z")), "IssueAfterPull"),
    ("a bot's PR whose issue was opened at the same instant", |c| c.bot_pr(Some(5), opener("alice-gh", "2026-11-27T08:30:00Z")), "IssueAfterPull"),
    ("a bot's PR without an opening time", |c| { c.bot_pr(Some(5), opener("alice-gh", "2026-11-27T08:00:00Z")); c.f.pull.created_at = None }, "IssueAfterPull"),
    ("a bot's PR whose issue cannot be read", |c| { c.bot_pr(Some(5), opener("alice-gh", "2026-11-27T08:00:00Z")); c.f.issue = Some(Err("404".into())) }, "IssueNotReadable"),
    ("the issue's opener cannot approve", |c| { c.bot_pr(Some(5), opener("alice-gh", "2026-11-27T08:00:00Z")); c.reviews([approve("alice-gh")]) }, "0 of 1 (alice-gh SelfApproval)"),
    ("a person's PR with issue: is still bound to its author", |c| { c.issue = Some(5); c.f.issue = Some(Ok(opener("bob", "2026-11-27T08:00:00Z"))); c.requester = "bob@contoso.com" }, "RequesterMismatch(alice-gh is alice@contoso.com)"),
    // The facts.
    ("a lookup never made fails closed", |c| c.f.reviewers.clear(), "Unread(@carol's permission on the repository)"),
];

#[test]
fn every_attack_is_one_row() {
    let mut failures = Vec::new();
    for (name, edit, want) in ROWS {
        let mut case = Case::new();
        edit(&mut case);
        let got = show(case.decide());
        if got != *want {
            failures.push(format!("{name}:\n    want {want}\n    got  {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_approval_carries_the_pull_request_and_the_codeowners_line() {
    let approval = Case::new().decide().unwrap();
    assert_eq!(approval.pull_number, 7);
    assert_eq!(approval.author, "alice-gh");
    assert_eq!(
        (approval.head_sha.as_str(), approval.base_sha.as_str()),
        (HEAD, BASE)
    );
    assert_eq!(approval.merge_commit_sha.as_deref(), Some(MERGE));
    assert_eq!(
        (approval.codeowners_path.as_str(), approval.codeowners_line),
        (".github/CODEOWNERS", 2)
    );
    assert_eq!(approval.approvers[0].review_id, 700_001);
}

#[test]
fn the_approval_carries_the_merge_time() {
    let mut case = Case::new();
    let at: DateTime<Utc> = "2026-11-27T08:42:00Z".parse().unwrap();
    case.f.pull.merged_at = Some(at);
    assert_eq!(case.decide().unwrap().merged_at, Some(at));
}

/// How a refusal's message must read: all of it, its start, or lines it contains.
enum Says {
    Is(&'static str),
    Starts(&'static str),
    Has(&'static [&'static str]),
}

type MessageRow = (&'static str, fn(&mut Case), Says);

/// The messages a reader sees name the reason (and the review, commit or paths it is about).
#[test]
fn each_refusal_message_names_its_reason() {
    #[rustfmt::skip]
    let rows: &[MessageRow] = &[
        ("self-approval", |c| c.reviews([approve("alice-gh")]), Says::Has(&["@alice-gh approved their own pull request"])),
        ("a non-owner", |c| c.reviews([approve("bob")]), Says::Has(&["@bob is not a code owner of the request file"])),
        ("an older commit", |c| c.reviews([approve_at("carol", Some(H1))]), Says::Has(&["approved commit 111111111111, not the final head"])),
        ("dismissed", |c| c.reviews([dismissed("carol")]), Says::Has(&["@carol had their approval dismissed"])),
        ("changes requested", |c| c.reviews([approve("carol"), approve("dave"), changes("carol"), comment("carol")]), Says::Is("code owner @carol requested changes on pull request #7 and did not approve since")),
        ("too few distinct owners", |c| { c.approvals = 2; c.reviews([approve("carol"), approve("CAROL")]) }, Says::Starts("pull request #7 has 1 of 2 required code-owner approvals")),
        ("bound to someone else", |c| c.requester = "bob@contoso.com", Says::Is("pull request author @alice-gh may request only for `alice@contoso.com` (identities on the default branch), not for `bob@contoso.com`")),
        ("a team the token cannot read", |c| { c.member("dave", "acme/security", Err("403")); c.reviews([approve("dave")]) }, Says::Has(&["cannot read team @acme/security to check @dave", "\"Members: read\""])),
        ("a team without write access", |c| { c.team("acme/security", Some("pull")); c.reviews([approve("dave")]) }, Says::Has(&["not write access"])),
        ("a foreign commit", |c| c.commit("abababababababab", Some("bob"), &[REQUEST]), Says::Is("commit abababababab on pull request #7 changes `requests/2026/alice-api-key.yaml` but is by @bob, not the author @alice-gh")),
        ("a commit too large", |c| c.commit("abababababababab", Some("bob"), &["docs/a.md"; 3000]), Says::Has(&["all GitHub will list"])),
        ("a side branch", |c| c.f.pull.base_ref = "side".into(), Says::Is("pull request #7 targets `side`, not the default branch `main`: only a pull request into the default branch is reviewed under its CODEOWNERS and config")),
        ("files outside requests/", |c| { c.file(".github/kv-jit.yml", None); c.file(".github/CODEOWNERS", None) }, Says::Has(&["pull request #7 changes files outside requests/ (`.github/kv-jit.yml`, `.github/CODEOWNERS`)", "change in their own pull requests"])),
    ];
    for (name, edit, says) in rows {
        let mut case = Case::new();
        edit(&mut case);
        let message = case.decide().expect_err(name).to_string();
        let ok = match says {
            Says::Is(want) => message == *want,
            Says::Starts(want) => message.starts_with(want),
            Says::Has(parts) => parts.iter().all(|p| message.contains(p)),
        };
        assert!(ok, "{name}: {message}");
    }
}

#[test]
fn every_reason_a_review_did_not_count_reads_differently() {
    let reasons = [
        NotCounted::SelfApproval,
        NotCounted::Requester,
        NotCounted::StaleCommit {
            commit_id: Some(H1.into()),
        },
        NotCounted::StaleCommit { commit_id: None },
        NotCounted::Dismissed,
        NotCounted::NotOwner,
        NotCounted::TeamWithoutWriteAccess {
            team: "acme/security".into(),
            role: "pull".into(),
        },
        NotCounted::NoWriteAccess {
            permission: "read".into(),
        },
    ];
    let messages: std::collections::BTreeSet<String> =
        reasons.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), reasons.len());
}

/// Before merge (`kv-jit validate --pr N`): the same context, binding, owners and commit rule.
#[test]
fn an_open_pull_has_its_context_under_the_trusted_base() {
    let mut case = Case::new();
    case.f.pull.merged = false;
    case.f.pull.merge_commit_sha = None;
    let context = context_for(&case.f.pull, &case.base).unwrap();
    assert_eq!(
        (context.author.as_str(), context.head_sha.as_str()),
        ("alice-gh", HEAD)
    );
    context.check_requester("Alice@Contoso.com").unwrap();
    assert!(matches!(
        context.check_requester("bob@contoso.com"),
        Err(Refusal::RequesterMismatch { .. })
    ));
    let (path, line, owners) = context.owners_of(REQUEST).unwrap();
    assert_eq!((path.as_str(), line), (".github/CODEOWNERS", 2));
    let names: Vec<String> = owners.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["@carol", "@acme/security"]);
    // Only the author's commits: no commit's paths are needed.
    assert!(matches!(
        check_commits(&context, &case.f.commits, &BTreeMap::new(), REQUEST),
        Ok(())
    ));
    case.f.pull.base_ref = "release".into();
    let refused = context_for(&case.f.pull, &case.base).map(|_| ());
    assert!(
        matches!(refused, Err(Refusal::BaseNotDefaultBranch { ref base_ref, .. }) if base_ref == "release"),
        "{refused:?}"
    );
}

/// A case's files (path, text) on the default branch, and the CODEOWNERS path used.
type PickRow = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

/// The trusted CODEOWNERS is the first GitHub would pick: `.github/`, the root, then `docs/`.
#[test]
fn the_trusted_codeowners_is_the_first_github_picks() {
    #[rustfmt::skip]
    let rows: &[PickRow] = &[
        ("only docs/", &[("docs/CODEOWNERS", "/requests/ @carol\n")], "docs/CODEOWNERS"),
        ("the root before docs/", &[("docs/CODEOWNERS", "* @mallory\n"), ("CODEOWNERS", "/requests/ @carol\n")], "CODEOWNERS"),
        (".github/ before the root", &[("CODEOWNERS", "* @mallory\n"), (".github/CODEOWNERS", CODEOWNERS)], ".github/CODEOWNERS"),
        ("none", &[], "NoCodeowners"),
    ];
    for (name, files, want) in rows {
        let mut case = Case::new();
        let read = |path: &str| {
            let file = files.iter().find(|(p, _)| *p == path);
            file.map(|(_, text)| text.to_string())
        };
        case.base.codeowners = crate::github::codeowners::pick(read);
        let got = match case.decide() {
            Ok(approval) => approval.codeowners_path,
            Err(refusal) => show(Err(refusal)),
        };
        assert_eq!(got, *want, "{name}");
    }
}

#[test]
fn files_outside_requests_table() {
    let file = |name: &str, previous: Option<&str>| PullFile {
        filename: name.into(),
        status: if previous.is_some() {
            "renamed"
        } else {
            "modified"
        }
        .into(),
        previous_filename: previous.map(Into::into),
    };
    #[rustfmt::skip]
    let rows: &[(&[PullFile], &[&str])] = &[
        (&[file("requests/2026/a.yaml", None)], &[]),
        (&[file("requests/notes.md", None)], &[]),
        (&[file(".github/kv-jit.yml", None)], &[".github/kv-jit.yml"]),
        (&[file("CODEOWNERS", None)], &["CODEOWNERS"]),
        (&[file("audit/ledger.jsonl", None)], &["audit/ledger.jsonl"]),
        (&[file("requests", None)], &["requests"]),
        (&[file("requests/", None)], &["requests/"]),
        (&[file("requestsx/a.yaml", None)], &["requestsx/a.yaml"]),
        (&[file("Requests/a.yaml", None)], &["Requests/a.yaml"]),
        (&[file("requests/../x", None)], &["requests/../x"]),
        (&[file("requests/./a.yaml", None)], &["requests/./a.yaml"]),
        (&[file("requests//a.yaml", None)], &["requests//a.yaml"]),
        (&[file("x/requests/a.yaml", None)], &["x/requests/a.yaml"]),
        (&[file("requests/a.yaml", Some(".github/workflows/grant.yml"))], &[".github/workflows/grant.yml"]),
        (&[file("docs/a.md", Some("requests/a.yaml"))], &["docs/a.md"]),
        (&[file("a", None), file("b", Some("a")), file("a", None)], &["a", "b"]),
    ];
    for (files, want) in rows {
        assert_eq!(&files_outside_requests(files), want, "{files:?}");
    }
}

/// A named change to the case.
type Edit = (&'static str, fn(&mut Case));

/// GitHub's counts tell whether its lists are whole (it lists at most 3000 files and 250
/// commits); without a count that cannot be checked, and what cannot be checked fails closed.
/// GitHub's full pull request always carries both counts; one that does not (an old GHES, a
/// proxy) cannot show its lists are whole, so it fails closed.
#[test]
fn a_pull_without_counts_fails_closed() {
    #[rustfmt::skip]
    let rows: &[Edit] = &[
        ("no file count", |c| c.f.pull.changed_files = None),
        ("no commit count", |c| c.f.pull.commit_count = None),
    ];
    let mut approved = Vec::new();
    for (name, edit) in rows {
        let mut case = Case::new();
        edit(&mut case);
        if let Ok(approval) = case.decide() {
            approved.push(format!("{name}: {}", show(Ok(approval))));
        }
    }
    assert!(approved.is_empty(), "{}", approved.join("\n"));
}

/// A case, and the lookups `gather` makes for it, in order.
type LookupRow = (&'static str, fn(&mut Case), Vec<String>);

/// `gather` looks up only what a rule asks for: commits not by the author, and reviewers whose
/// latest review could count or is CHANGES_REQUESTED; a team's access once per team.
#[test]
fn lookups_are_made_only_where_a_rule_asks() {
    let perm = |login: &str| format!("@{login}'s permission on the repository");
    let member = |login: &str| format!("@{login}'s membership of team @acme/security");
    let security = "team @acme/security's access to the repository".to_string();
    #[rustfmt::skip]
    let rows: &[LookupRow] = &[
        ("an owner approves", |_| {}, vec![perm("carol")]),
        ("self-approval", |c| c.reviews([approve("alice-gh")]), vec![]),
        ("stale, dismissed or the requester", |c| { c.bind("bob", ALICE); c.reviews([approve_at("carol", Some(H1)), dismissed("dave"), approve("bob")]) }, vec![]),
        ("COMMENTED only", |c| c.reviews([comment("carol"), comment("dave")]), vec![]),
        ("a team owner", |c| c.reviews([approve("dave")]), vec![member("dave"), security.clone(), perm("dave")]),
        ("two team owners: the team's access read once", |c| c.reviews([approve("dave"), approve("frank")]), vec![member("dave"), security.clone(), perm("dave"), member("frank"), perm("frank")]),
        ("seven reviews: only the three that could count", |c| { c.approvals = 2; c.reviews(seven_reviews()) }, vec![perm("carol"), member("dave"), security.clone(), perm("dave"), member("frank"), perm("frank")]),
        ("a non-owner's CHANGES_REQUESTED", |c| c.reviews([changes("bob")]), vec![member("bob")]),
        ("a foreign commit", |c| c.commit("efef", Some("bob"), &["requests/b.yaml"]), vec!["the paths commit efef changes".into(), perm("carol")]),
        ("refused before the reviews", |c| c.f.pull.base_ref = "side".into(), vec![]),
    ];
    for (name, edit, want) in rows {
        let mut case = Case::new();
        edit(&mut case);
        assert_eq!(&case.lookups(), want, "{name}");
    }
}

#[test]
fn which_pull_request_brought_the_commit() {
    let pull = |number: u64, merge: Option<&str>| PullRequest {
        number,
        html_url: None,
        user: None,
        head: GitRef {
            ref_name: "topic".into(),
            sha: HEAD.into(),
        },
        base: GitRef {
            ref_name: "main".into(),
            sha: BASE.into(),
        },
        merged_at: None,
        merged: Some(merge.is_some()),
        merge_commit_sha: merge.map(Into::into),
        commits: None,
        created_at: None,
        changed_files: None,
    };
    let show = |r: Result<u64, Refusal>| match r {
        Ok(n) => format!("#{n}"),
        Err(e) => show(Err(e)),
    };
    #[rustfmt::skip]
    let rows: &[(&str, Vec<PullRequest>, &str)] = &[
        ("a direct push", vec![], "NoPullRequest"),
        ("only an open pull request", vec![pull(8, None)], "NotMerged([8])"),
        ("one merged among others", vec![pull(8, None), pull(7, Some("x"))], "#7"),
        ("two merged, one by this commit", vec![pull(6, Some("x")), pull(7, Some(MERGE))], "#7"),
        ("two merged, neither by this commit", vec![pull(6, Some("x")), pull(7, Some("y"))], "AmbiguousPullRequest([6, 7])"),
    ];
    for (name, associated, want) in rows {
        assert_eq!(show(choose_pull(associated, MERGE)), *want, "{name}");
    }
    let direct = choose_pull(&[], "d1d1d1d1d1d1d1d1")
        .unwrap_err()
        .to_string();
    assert!(direct.contains("direct push"), "{direct}");
    let open = choose_pull(&[pull(8, None)], "8888")
        .unwrap_err()
        .to_string();
    assert_eq!(open, "pull request #8 is not merged");
}

/// The PR check reports each refusal under the diagnostic its fix belongs to.
#[test]
fn refusals_map_to_the_pr_checks_diagnostics() {
    use crate::diag::Code;
    let rows: Vec<(Refusal, Code)> = vec![
        (
            Refusal::AuthorNotBound {
                author: "mallory".into(),
                requester: "alice@contoso.com".into(),
            },
            Code::RequesterNotBound,
        ),
        (
            Refusal::NoOwner {
                request_path: REQUEST.into(),
                codeowners_path: ".github/CODEOWNERS".into(),
            },
            Code::NoCodeOwner,
        ),
        (
            Refusal::ChangesOutsideRequests {
                number: 7,
                paths: vec!["CODEOWNERS".into()],
            },
            Code::ChangesOutsideRequests,
        ),
        (Refusal::Github("503".into()), Code::GithubCheckFailed),
    ];
    for (refusal, code) in rows {
        assert_eq!(refusal.diagnostic_code(), code, "{refusal}");
    }
}
