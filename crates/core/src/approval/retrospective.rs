//! Break-glass retrospectives: right after a break-glass grant kv-jit opens a GitHub issue
//! (title [`title`], label [`LABEL`], a hidden [`marker`] in the body) that @-mentions every
//! owner of the request file, and records its number in the ledger (a `retrospective` entry).
//!
//! Opening is idempotent across crashes: before creating an issue the shell looks for one that
//! [`is_ours`] (labelled, titled and marked for the request); a run that died after creating it
//! and before recording it finds it there.
//!
//! A retrospective is **done** when its issue is closed and a code owner of the request file
//! (in today's CODEOWNERS on the default branch; directly or as an active member of an owning
//! team), who is not the requester, left a comment whose first line is `/approve` ([`judge`]).
//! Until then `kv-jit status` shows it open and `revoke` runs warn. The ledger's `retrospective`
//! entry is evidence that the owners were asked, never authority: whether it is done is read
//! from GitHub every time.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::github::codeowners::Owner;
use crate::ledger::{Body, Entry, Event, NewEntry, Window};
use crate::notice::escape_markdown;
use crate::request::{RequestId, Upn};

/// The label every retrospective issue carries (only triage and up can set labels, so an
/// outsider's issue cannot pass for one).
pub const LABEL: &str = "kv-jit-retrospective";

/// The comment an owner leaves to sign the retrospective off (its first line).
pub const APPROVE: &str = "/approve";

/// The issue's title.
pub fn title(request: &str) -> String {
    format!("Break-glass retrospective: {request}")
}

/// The hidden line that ties an issue to its request.
pub fn marker(request: &str) -> String {
    format!("<!-- kv-jit-retrospective request={request} -->")
}

/// A break-glass grant, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlassGrant {
    pub request: RequestId,
    pub requester: String,
    pub vault: String,
    pub secret: String,
    pub granted_at: DateTime<Utc>,
    pub window: Window,
    pub pr: Option<u64>,
    /// Every owner told, as recorded (only those shaped like `@login` or `@org/team`).
    pub owners: Vec<String>,
    pub run_url: Option<String>,
    /// The retrospective issue the ledger records, if one was opened.
    pub issue: Option<u64>,
}

/// Every break-glass grant in the ledger (the first `granted` entry of each request: ids are
/// granted once), with its retrospective issue if one is recorded.
pub fn break_glass_grants(entries: &[Entry]) -> Vec<BreakGlassGrant> {
    let mut issues: BTreeMap<&str, u64> = BTreeMap::new();
    for e in entries {
        if let Ok(Body::Retrospective { request, issue }) = e.body() {
            issues.entry(request).or_insert(issue);
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| e.event == Event::Granted) {
        let Ok(Body::Granted(g)) = e.body() else {
            continue;
        };
        if seen.contains(&g.request) {
            continue;
        }
        seen.push(g.request);
        let Ok(request) = RequestId::parse(g.request) else {
            continue;
        };
        if !g.break_glass {
            continue;
        }
        out.push(BreakGlassGrant {
            request,
            requester: g.requester.to_owned(),
            vault: g.vault.to_owned(),
            secret: g.secret.to_owned(),
            granted_at: e.time,
            window: g.window,
            pr: g.approvals.map(|a| a.pr),
            owners: g
                .approvals
                .map(|a| {
                    a.owners
                        .iter()
                        .filter(|o| is_owner_ref(o))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default(),
            run_url: e.run_url.clone(),
            issue: issues.get(g.request).copied(),
        });
    }
    out
}

/// `@login` or `@org/team`: the only owner text an issue body mentions (the ledger is hostile).
fn is_owner_ref(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('@') else {
        return false;
    };
    let mut parts = rest.splitn(2, '/');
    let login = parts.next().unwrap_or_default();
    let login_ok = !login.is_empty()
        && login.len() <= 39
        && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let team_ok = parts.next().is_none_or(|t| {
        !t.is_empty()
            && t.len() <= 100
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    });
    login_ok && team_ok
}

/// The issue's body: who, what, when, the pull request, and an @-mention of every owner (the
/// only unescaped text; everything else from the ledger is escaped).
pub fn body(g: &BreakGlassGrant) -> String {
    let t = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut out = format!("{}\n", marker(g.request.as_str()));
    out.push_str(
        "**Break-glass access was granted without code-owner approval.** An administrator merged \
         the request past branch protection; kv-jit granted it because the vault allows \
         break-glass. Every code owner of the request is asked to review it.\n\n",
    );
    out.push_str(&format!(
        "- **Who:** {}\n- **What:** `{}` on {}/{}\n- **When:** {} until {} (granted {})\n",
        escape_markdown(&g.requester),
        escape_markdown(g.request.as_str()),
        escape_markdown(&g.vault),
        escape_markdown(&g.secret),
        t(g.window.start),
        t(g.window.expires),
        t(g.granted_at),
    ));
    if let Some(pr) = g.pr {
        out.push_str(&format!("- **Pull request:** #{pr}\n"));
    }
    if let Some(url) = &g.run_url
        && url.starts_with("https://")
        && !url.contains(char::is_whitespace)
    {
        out.push_str(&format!("- **Workflow run:** <{url}>\n"));
    }
    out.push_str(&format!(
        "- **Owners:** {}\n\n",
        if g.owners.is_empty() {
            "none recorded".to_owned()
        } else {
            g.owners.join(" ")
        }
    ));
    out.push_str(&format!(
        "To close this retrospective, a code owner of the request who is not the requester \
         comments `{APPROVE}` and closes this issue; until both are done, `kv-jit status` lists \
         it as open.\n"
    ));
    out
}

/// An issue as the retrospective rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueFacts {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub labels: Vec<String>,
    pub closed: bool,
    /// The issues API shows pull requests too.
    pub is_pull: bool,
    /// When GitHub says it was opened (absent: unknown).
    pub created_at: Option<DateTime<Utc>>,
}

/// Whether `issue` is the retrospective of `request` granted at `granted_at`: not a pull
/// request, labelled, titled and marked for it, and opened after the grant. Anyone may write
/// the label, title and marker; an issue planted before the grant (without the owners'
/// mentions, say) must not be adopted.
pub fn is_ours(issue: &IssueFacts, request: &str, granted_at: DateTime<Utc>) -> bool {
    issue.created_at.is_some_and(|t| t >= granted_at)
        && !issue.is_pull
        && issue.labels.iter().any(|l| l.eq_ignore_ascii_case(LABEL))
        && issue.title == title(request)
        && issue
            .body
            .as_deref()
            .is_some_and(|b| b.lines().any(|l| l.trim() == marker(request)))
}

/// The `retrospective` entry for an issue opened (or found) for `g`.
pub fn entry(
    g: &BreakGlassGrant,
    issue: u64,
    now: DateTime<Utc>,
    run_url: Option<String>,
) -> NewEntry {
    NewEntry {
        request: Some(g.request.to_string()),
        requester: Some(g.requester.clone()),
        issue: Some(issue),
        run_url,
        ..NewEntry::new(now, Event::Retrospective)
    }
}

/// A comment on a retrospective issue, as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommentFacts<'a> {
    pub login: &'a str,
    pub body: &'a str,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The logins whose comment's first line is `/approve`, distinct (ignoring case), in order.
/// Only comments made after the grant and never edited count: anyone with write access may edit
/// someone else's comment while GitHub keeps showing the original author, so an edited comment
/// is no longer that author's word. Unknown times count as not shown.
pub fn approvers<'a>(
    comments: impl IntoIterator<Item = CommentFacts<'a>>,
    granted_at: DateTime<Utc>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in comments {
        let unedited_since_grant = match (c.created_at, c.updated_at) {
            (Some(created), Some(updated)) => created >= granted_at && updated == created,
            _ => false,
        };
        let first = c.body.lines().next().unwrap_or_default().trim();
        if unedited_since_grant
            && first == APPROVE
            && !out.iter().any(|l| l.eq_ignore_ascii_case(c.login))
        {
            out.push(c.login.to_owned());
        }
    }
    out
}

/// How a commenter relates to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// A code owner of the file (`@login` or through `@org/team`), not the requester.
    Owner(String),
    /// Bound to the requester through `identities`: cannot sign their own access off.
    Requester,
    NotOwner,
}

/// `login`'s standing: `owners` of the file in today's CODEOWNERS, `identities` of today's
/// config, `teams` the owning teams (`org/slug`) the shell found `login` an active member of.
pub fn standing(
    login: &str,
    owners: &[Owner],
    identities: &BTreeMap<String, Upn>,
    requester: &str,
    teams: &[String],
) -> Standing {
    let is_requester = identities.iter().any(|(l, upn)| {
        l.eq_ignore_ascii_case(login) && upn.as_str().eq_ignore_ascii_case(requester)
    });
    if is_requester {
        return Standing::Requester;
    }
    for owner in owners {
        match owner {
            Owner::User(u) if u.eq_ignore_ascii_case(login) => {
                return Standing::Owner(owner.to_string());
            }
            Owner::Team { org, slug }
                if teams
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(&format!("{org}/{slug}"))) =>
            {
                return Standing::Owner(owner.to_string());
            }
            _ => {}
        }
    }
    Standing::NotOwner
}

/// A retrospective's state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RetroState {
    /// No issue recorded yet (the next grant or revoke run opens it).
    NotOpened,
    /// Open, with what is still missing.
    Open { issue: u64, missing: String },
    /// Closed with an owner's `/approve`.
    Done { issue: u64, by: String },
    /// GitHub could not be asked (no token, an error): not known to be done.
    Unverified { issue: u64, why: String },
}

/// Done when the issue is closed and one of `standings` (the `/approve` commenters) is an owner.
pub fn judge(issue: u64, closed: bool, standings: &[(String, Standing)]) -> RetroState {
    let owner = standings
        .iter()
        .find(|(_, s)| matches!(s, Standing::Owner(_)));
    match (closed, owner) {
        (true, Some((login, _))) => RetroState::Done {
            issue,
            by: login.clone(),
        },
        (false, Some(_)) => RetroState::Open {
            issue,
            missing: "an owner approved; the issue is still open".into(),
        },
        (closed, None) => {
            let by_requester = standings.iter().any(|(_, s)| *s == Standing::Requester);
            let mut missing = "no `/approve` from a code owner of the request".to_owned();
            if by_requester {
                missing.push_str(" (the requester's own does not count)");
            }
            if closed {
                missing.push_str("; closed without it");
            }
            RetroState::Open { issue, missing }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::codeowners::Codeowners;
    use crate::ledger::{Approvals, Tip, append};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn granted(request: &str, break_glass: bool, owners: &[&str]) -> NewEntry {
        let start = t("2026-11-27T09:00:00Z");
        NewEntry {
            request: Some(request.into()),
            request_sha256: Some("a".repeat(64)),
            requester: Some("alice@contoso.com".into()),
            principal_id: Some("p".into()),
            vault: Some("kv".into()),
            secret: Some("s".into()),
            scope: Some("/x".into()),
            role: Some(crate::ledger::Role {
                id: "r".into(),
                alias: None,
            }),
            assignment: Some(format!("as-{request}")),
            window: Some(Window {
                start,
                expires: start + chrono::Duration::hours(1),
            }),
            approvals: Some(Approvals {
                pr: 7,
                commit: "h".into(),
                by: vec![],
                owners: owners.iter().map(|o| (*o).to_owned()).collect(),
            }),
            break_glass: break_glass.then_some(true),
            ..NewEntry::new(start, Event::Granted)
        }
    }

    #[test]
    fn the_ledger_names_break_glass_grants_and_their_issues() {
        let g = granted(
            "2026/bg",
            true,
            &["@carol", "@acme/security", "@x y", "evil"],
        );
        let retro = NewEntry {
            request: Some("2026/bg".into()),
            issue: Some(12),
            ..NewEntry::new(t("2026-11-27T09:01:00Z"), Event::Retrospective)
        };
        let entries = append(
            &Tip::genesis(),
            vec![granted("2026/plain", false, &[]), g.clone()],
        );
        let found = break_glass_grants(&entries);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].request.as_str(), "2026/bg");
        assert_eq!(found[0].issue, None);
        // Only owner-shaped text is kept for mentions.
        assert_eq!(found[0].owners, ["@carol", "@acme/security"]);
        let entries = append(&Tip::genesis(), vec![g, retro]);
        assert_eq!(break_glass_grants(&entries)[0].issue, Some(12));
    }

    #[test]
    fn the_issue_mentions_every_owner_and_escapes_the_rest() {
        let mut g = break_glass_grants(&append(
            &Tip::genesis(),
            vec![granted("2026/bg", true, &["@carol", "@acme/security"])],
        ))
        .remove(0);
        g.requester = "alice@contoso.com [x](http://evil)".into();
        let text = body(&g);
        assert!(text.starts_with(&marker("2026/bg")));
        assert!(
            text.contains("- **Owners:** @carol @acme/security\n"),
            "{text}"
        );
        assert!(text.contains("- **Pull request:** #7\n"));
        assert!(!text.contains("[x](http://evil)"), "{text}");
        let issue = IssueFacts {
            number: 12,
            title: title("2026/bg"),
            body: Some(text),
            labels: vec![LABEL.into()],
            closed: false,
            is_pull: false,
            created_at: Some(g.granted_at),
        };
        assert!(is_ours(&issue, "2026/bg", g.granted_at));
        let rows: Vec<(&str, IssueFacts, bool)> = vec![
            ("another request", issue.clone(), false),
            (
                "without the label",
                IssueFacts {
                    labels: vec![],
                    ..issue.clone()
                },
                false,
            ),
            (
                "a pull request",
                IssueFacts {
                    is_pull: true,
                    ..issue.clone()
                },
                false,
            ),
            (
                "another title",
                IssueFacts {
                    title: "x".into(),
                    ..issue.clone()
                },
                false,
            ),
            (
                "without the marker",
                IssueFacts {
                    body: Some("hi".into()),
                    ..issue.clone()
                },
                false,
            ),
            (
                "opened before the grant (planted)",
                IssueFacts {
                    created_at: Some(g.granted_at - chrono::Duration::seconds(1)),
                    ..issue.clone()
                },
                false,
            ),
            (
                "opened at an unknown time",
                IssueFacts {
                    created_at: None,
                    ..issue.clone()
                },
                false,
            ),
        ];
        for (name, i, want) in rows {
            let request = if name == "another request" {
                "2026/other"
            } else {
                "2026/bg"
            };
            assert_eq!(is_ours(&i, request, g.granted_at), want, "{name}");
        }
    }

    #[test]
    fn who_may_sign_a_retrospective_off() {
        let owners = Codeowners::parse("/requests/ @carol @acme/security\n");
        let owners = owners.ownership("requests/2026/bg.yaml").owners().to_vec();
        let mut identities = BTreeMap::new();
        identities.insert(
            "alice-gh".to_owned(),
            Upn::parse("alice@contoso.com").unwrap(),
        );
        identities.insert("carol".to_owned(), Upn::parse("carol@contoso.com").unwrap());
        let me = "alice@contoso.com";
        let rows: &[(&str, &[&str], Standing)] = &[
            ("carol", &[], Standing::Owner("@carol".into())),
            ("Carol", &[], Standing::Owner("@carol".into())),
            (
                "dave",
                &["acme/security"],
                Standing::Owner("@acme/security".into()),
            ),
            ("dave", &[], Standing::NotOwner),
            ("mallory", &["acme/other"], Standing::NotOwner),
            ("alice-gh", &[], Standing::Requester),
        ];
        for (login, teams, want) in rows {
            let teams: Vec<String> = teams.iter().map(|t| (*t).to_owned()).collect();
            assert_eq!(
                standing(login, &owners, &identities, me, &teams),
                *want,
                "{login}"
            );
        }
        // An owner who is also the requester does not count.
        let mut owner_requester = identities.clone();
        owner_requester.insert("carol".into(), Upn::parse(me).unwrap());
        assert_eq!(
            standing("carol", &owners, &owner_requester, me, &[]),
            Standing::Requester
        );
    }

    #[test]
    fn done_needs_a_closed_issue_and_an_owners_approve() {
        let granted_at = DateTime::parse_from_rfc3339("2026-11-27T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |secs: i64| Some(granted_at + chrono::Duration::seconds(secs));
        let c = |login, body, created_at, updated_at| CommentFacts {
            login,
            body,
            created_at,
            updated_at,
        };
        let comments = [
            c("alice-gh", "/approve", at(10), at(10)),
            c("bob", "looks fine\n/approve", at(20), at(20)),
            c("carol", "/approve \nreviewed the run", at(30), at(30)),
            c("carol", "/approve", at(40), at(40)),
            // Edited after it was written: anyone with write access may edit it, so it is not
            // its author's word any more.
            c("dave", "/approve", at(50), at(60)),
            // Written before the grant (on a planted issue, say).
            c("erin", "/approve", at(-5), at(-5)),
            // Times unknown.
            c("frank", "/approve", None, None),
        ];
        assert_eq!(approvers(comments, granted_at), ["alice-gh", "carol"]);
        let owner = ("carol".to_owned(), Standing::Owner("@carol".into()));
        let requester = ("alice-gh".to_owned(), Standing::Requester);
        let other = ("bob".to_owned(), Standing::NotOwner);
        let state = |closed, s: &[(String, Standing)]| match judge(5, closed, s) {
            RetroState::Done { by, .. } => format!("done by {by}"),
            RetroState::Open { missing, .. } => format!("open: {missing}"),
            other => format!("{other:?}"),
        };
        assert_eq!(state(true, std::slice::from_ref(&owner)), "done by carol");
        assert_eq!(
            state(true, &[requester.clone(), owner.clone()]),
            "done by carol"
        );
        assert_eq!(
            state(false, &[owner]),
            "open: an owner approved; the issue is still open"
        );
        assert_eq!(
            state(true, std::slice::from_ref(&requester)),
            "open: no `/approve` from a code owner of the request (the requester's own does not count); closed without it"
        );
        assert_eq!(
            state(false, &[other]),
            "open: no `/approve` from a code owner of the request"
        );
        assert_eq!(
            state(false, &[]),
            "open: no `/approve` from a code owner of the request"
        );
    }
}
