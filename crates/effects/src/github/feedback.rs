//! Pull request feedback: the files a pull request changes, one sticky plan comment, and the
//! Markdown plan table. Text from request files is untrusted and escaped before it reaches
//! Markdown, with the one escaper every Markdown sink uses ([`escape_markdown`]).

use std::collections::HashMap;

use crate::github::client::{GithubClient, GithubError, IssueComment, PullFile, Repo};
use kv_jit_core::diag::{Diagnostic, Severity};
use kv_jit_core::notice::escape_markdown;

/// Hidden marker that finds our comment again; it starts the body.
pub const PLAN_MARKER: &str = "<!-- kv-jit:plan -->";

/// Who Actions' `GITHUB_TOKEN` comments as. An installation token cannot ask GitHub who it is
/// (`GET /user` answers 403 "Resource not accessible by integration"), so the login is known,
/// not looked up.
pub const ACTIONS_BOT_LOGIN: &str = "github-actions[bot]";

/// Names the login the token comments as when it is not `GITHUB_TOKEN`: `<app-slug>[bot]` for a
/// GitHub App token, or a machine user's login for a PAT.
pub const BOT_LOGIN_ENV: &str = "KV_JIT_BOT_LOGIN";

/// The login our own comments carry: [`BOT_LOGIN_ENV`] if set, else [`ACTIONS_BOT_LOGIN`].
pub fn bot_login(env: &HashMap<String, String>) -> String {
    env.get(BOT_LOGIN_ENV)
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .unwrap_or(ACTIONS_BOT_LOGIN)
        .to_owned()
}

/// Whether `comment` is our sticky plan: it starts with [`PLAN_MARKER`] and was written by
/// `bot` (the token's own identity). Anyone can write the marker; only we are `bot`. A `[bot]`
/// login must also be of type `Bot` (no user can hold such a login, but it costs nothing to ask).
pub fn is_own_plan_comment(comment: &IssueComment, bot: &str) -> bool {
    let Some(user) = &comment.user else {
        return false;
    };
    let by_bot = user.login.eq_ignore_ascii_case(bot)
        && (!bot.to_ascii_lowercase().ends_with("[bot]") || user.kind.as_deref() == Some("Bot"));
    by_bot
        && comment
            .body
            .as_deref()
            .is_some_and(|b| b.trim_start().starts_with(PLAN_MARKER))
}

/// One row of the plan table, as plain text (escaped here, not by the caller).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanRow {
    /// The request file, e.g. `requests/2026/alice-api-key.yaml`.
    pub request: String,
    /// Requester UPN.
    pub who: String,
    pub secret: String,
    pub vault: String,
    pub role: String,
    /// How long, as the request says it (`2h`).
    pub duration: String,
    /// When it starts (`at merge` or an instant).
    pub start: String,
    /// Owners who may approve (`@org/team`, `@login`), from CODEOWNERS on the base branch.
    pub owners: Vec<String>,
    /// Distinct owner approvals needed.
    pub approvals: u32,
    /// A break-glass request: granted on merge without approvals, every owner told.
    pub break_glass: bool,
}

/// What [`upsert_sticky_comment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sticky {
    Created(u64),
    Updated(u64),
    /// The comment already said exactly this; nothing was written.
    Unchanged(u64),
}

/// The pull request number of a `pull_request` event payload (the file `GITHUB_EVENT_PATH`
/// names); `None` for other events.
pub fn pr_number_from_event(payload: &str) -> Option<u64> {
    let event: serde_json::Value = serde_json::from_str(payload).ok()?;
    event.get("pull_request")?.get("number")?.as_u64()
}

/// Every file the pull request changes (all pages).
pub async fn changed_files(
    client: &GithubClient,
    repo: &Repo,
    number: u64,
) -> Result<Vec<PullFile>, GithubError> {
    client.pull_files(repo, number).await
}

/// Creates or updates the one comment by `bot` (see [`bot_login`]) that starts with
/// [`PLAN_MARKER`]; never posts a second. `body` is the Markdown below the marker. When several
/// such comments exist (e.g. left by an older version), the oldest is updated. Someone else's
/// comment that starts with the marker is left alone: adopting it would let anyone plant a
/// "plan" that kv-jit then appears to have written.
pub async fn upsert_sticky_comment(
    client: &GithubClient,
    repo: &Repo,
    number: u64,
    bot: &str,
    body: &str,
) -> Result<Sticky, GithubError> {
    let full = format!("{PLAN_MARKER}\n{body}");
    let existing = client.issue_comments(repo, number).await?;
    match existing.iter().find(|c| is_own_plan_comment(c, bot)) {
        Some(c) if c.body.as_deref() == Some(full.as_str()) => Ok(Sticky::Unchanged(c.id)),
        Some(c) => client
            .update_comment(repo, c.id, &full)
            .await
            .map(|c| Sticky::Updated(c.id)),
        None => client
            .create_comment(repo, number, &full)
            .await
            .map(|c| Sticky::Created(c.id)),
    }
}

/// The plan as a Markdown table, every cell escaped.
pub fn render_plan(rows: &[PlanRow]) -> String {
    let mut out = String::from("### kv-jit plan\n\n");
    if rows.is_empty() {
        out.push_str("This pull request changes no access request.\n");
        return out;
    }
    out.push_str("| Request | Who | Secret | Vault | Role | How long | Starts | Must approve |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for row in rows {
        let names: Vec<String> = row.owners.iter().map(|o| escape_markdown(o)).collect();
        let owners = if row.owners.is_empty() {
            "no code owner: cannot be approved".to_owned()
        } else if row.break_glass {
            format!(
                "**BREAK-GLASS**: none before merge; told: {}; a retrospective follows",
                names.join(", ")
            )
        } else {
            format!("{} of {}", row.approvals.max(1), names.join(", "))
        };
        let cells = [
            code_cell(&row.request),
            escape_markdown(&row.who),
            code_cell(&row.secret),
            code_cell(&row.vault),
            escape_markdown(&row.role),
            escape_markdown(&row.duration),
            escape_markdown(&row.start),
            owners,
        ];
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push_str("\nApproval: a code owner's review on the final head commit; not the author, not the requester.\n");
    if rows.iter().any(|r| r.break_glass) {
        out.push_str("\nBreak-glass: an admin may merge without approval; the grant is marked in the ledger, every owner is told, and a retrospective issue must be closed by a code owner with `/approve`.\n");
    }
    out
}

/// A code-styled cell for names (vault, secret, path): escaped, never a raw code span, so a
/// backtick in the name cannot close it.
fn code_cell(text: &str) -> String {
    format!("<code>{}</code>", escape_markdown(text))
}

/// The plan table, then what will be revoked, then every problem (escaped: it quotes files).
pub fn comment_body(
    rows: &[PlanRow],
    removed: &[String],
    diags: &[Diagnostic],
    notes: &[String],
) -> String {
    let mut body = render_plan(rows);
    for note in notes {
        body.push_str(&format!("\nNote: {}\n", escape_markdown(note)));
    }
    if !removed.is_empty() {
        body.push_str(
            "\nOn merge, these requests are revoked early (their files are deleted):\n\n",
        );
        for r in removed {
            body.push_str(&format!("- {}\n", escape_markdown(r)));
        }
    }
    let errors: Vec<&Diagnostic> = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    if errors.is_empty() {
        body.push_str("\nNo problems found.\n");
    } else {
        body.push_str(&format!(
            "\n**{} problem(s) must be fixed before this can be granted:**\n\n",
            errors.len()
        ));
        for d in errors {
            body.push_str(&format!(
                "- {}:{}:{} `{}`: {}\n",
                escape_markdown(&d.file),
                d.line,
                d.column,
                d.code,
                escape_markdown(&d.message)
            ));
        }
    }
    body
}
