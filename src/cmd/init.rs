//! `kv-jit init`: writes kv-jit's files into an existing git repository (the config, CODEOWNERS,
//! the workflows, the request issue form and `requests/README.md`) and prints the steps only a
//! person with rights in Azure and GitHub can take, with the values filled in.
//!
//! It asks only what it cannot infer: the repository comes from `git remote get-url origin`, the
//! default branch from `origin/HEAD` (else the current branch). Every value is also a flag; with
//! `--yes` or without a terminal a missing value is a usage error naming its flag. Each answer is
//! checked with the core's validators (names, GUIDs, durations, logins, UPNs, CODEOWNERS owners)
//! and a bad interactive answer is asked again; a bad flag is a usage error. The whole config is
//! then parsed by the same `config::parse` every command uses before anything is written. An
//! existing file is never overwritten: it is skipped, and said so.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use crate::Exit;
use crate::output;
use kv_jit_core::azure::VaultRef;
use kv_jit_core::config::{SecretPattern, is_github_login, is_guid};
use kv_jit_core::diag::Sink;
use kv_jit_core::github::Repo;
use kv_jit_core::github::codeowners::Codeowners;
use kv_jit_core::names::VaultName;
use kv_jit_core::request::Upn;
use kv_jit_core::request::duration::Duration;

/// The repository kv-jit's action lives in, for `uses:` in the workflows `init` writes.
pub const UPSTREAM_ACTION: &str = "acme/kv-jit";

/// The workflow files, as this repository holds them (`uses: ./` is rewritten to the action).
pub const TEMPLATES: [(&str, &str); 5] = [
    (
        ".github/workflows/kv-jit-validate.yml",
        include_str!("../../.github/workflows/kv-jit-validate.yml"),
    ),
    (
        ".github/workflows/kv-jit-grant.yml",
        include_str!("../../.github/workflows/kv-jit-grant.yml"),
    ),
    (
        ".github/workflows/kv-jit-revoke.yml",
        include_str!("../../.github/workflows/kv-jit-revoke.yml"),
    ),
    (
        ".github/workflows/kv-jit-request.yml",
        include_str!("../../.github/workflows/kv-jit-request.yml"),
    ),
    (
        ".github/ISSUE_TEMPLATE/kv-jit-request.yml",
        include_str!("../../.github/ISSUE_TEMPLATE/kv-jit-request.yml"),
    ),
];

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The Entra tenant id (GUID).
    #[arg(long, value_name = "GUID")]
    pub tenant_id: Option<String>,
    /// A Key Vault to manage (repeat for several in the same subscription and resource group).
    #[arg(long = "vault", value_name = "NAME")]
    pub vaults: Vec<String>,
    /// The vaults' subscription id (GUID).
    #[arg(long, value_name = "GUID")]
    pub subscription: Option<String>,
    /// The vaults' resource group.
    #[arg(long, value_name = "NAME")]
    pub resource_group: Option<String>,
    /// Secrets that may be requested: names or globs, comma-separated or repeated.
    #[arg(long = "secrets", value_name = "NAMES", value_delimiter = ',')]
    pub secrets: Vec<String>,
    /// Who approves requests and reviews the config: `@login` or `@org/team`, comma-separated or
    /// repeated (written to CODEOWNERS).
    #[arg(long = "owners", value_name = "OWNERS", value_delimiter = ',')]
    pub owners: Vec<String>,
    /// Who may request for whom: `LOGIN=UPN` (GitHub login = Entra user principal name),
    /// comma-separated or repeated.
    #[arg(long = "identity", value_name = "LOGIN=UPN", value_delimiter = ',')]
    pub identities: Vec<String>,
    /// The longest access a request may ask for.
    #[arg(long, value_name = "DURATION", default_value = "4h")]
    pub max_duration: String,
    /// The GitHub repository, `OWNER/REPO` (default: from `git remote get-url origin`).
    #[arg(long, value_name = "OWNER/REPO")]
    pub repo: Option<String>,
    /// The default branch (default: origin's HEAD, else the current branch).
    #[arg(long, value_name = "BRANCH")]
    pub default_branch: Option<String>,
    /// The repository of kv-jit's action in the workflows' `uses:`.
    #[arg(long, value_name = "OWNER/REPO", default_value = UPSTREAM_ACTION)]
    pub action: String,
    /// The action's ref in `uses:`; pin a full commit SHA you reviewed (default: this version's tag).
    #[arg(long, value_name = "REF")]
    pub action_ref: Option<String>,
    /// Never ask: a missing value is a usage error.
    #[arg(long)]
    pub yes: bool,
    /// The repository's root.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// Everything `init` writes and prints, checked.
#[derive(Debug, Clone)]
pub struct Answers {
    pub tenant_id: String,
    pub vaults: Vec<String>,
    pub subscription: String,
    pub resource_group: String,
    pub secrets: Vec<String>,
    pub owners: Vec<String>,
    pub identities: Vec<(String, String)>,
    pub max_duration: String,
    pub repo: Repo,
    pub default_branch: String,
    pub action: String,
    pub action_ref: String,
}

// ---- validators: each wraps the core's, and says what a good value looks like ----

fn check_tenant(s: &str) -> Result<String, String> {
    if is_guid(s) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!(
            "`{s}` is not a GUID (e.g. 00000000-0000-0000-0000-000000000000)"
        ))
    }
}

fn check_vault(s: &str) -> Result<String, String> {
    VaultName::parse(s)
        .map(|v| v.as_str().to_owned())
        .map_err(|e| e.0)
}

fn check_subscription(s: &str) -> Result<String, String> {
    let probe = VaultName::parse("probe-vault").map_err(|e| e.0)?;
    VaultRef::new(s, "rg", probe).map(|v| v.subscription_id().to_owned())
}

fn check_resource_group(s: &str) -> Result<String, String> {
    let probe = VaultName::parse("probe-vault").map_err(|e| e.0)?;
    VaultRef::new("00000000-0000-0000-0000-000000000000", s, probe).map(|_| s.to_owned())
}

fn check_secret(s: &str) -> Result<String, String> {
    SecretPattern::parse(s).map(|p| p.text)
}

fn check_owner(s: &str) -> Result<String, String> {
    // One token: a line break or space would let an answer add CODEOWNERS lines of its own.
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`{}` is not one owner: use @login or @org/team (one per value)",
            s.escape_debug()
        ));
    }
    let co = Codeowners::parse(&format!("/requests/ {s}\n"));
    match (
        co.errors().first(),
        co.ownership("requests/x.yaml").owners(),
    ) {
        (None, [_]) => Ok(s.to_owned()),
        (Some(e), _) => Err(format!("`{s}`: {}", e.message)),
        _ => Err(format!(
            "`{s}` is not one owner: use @login or @org/team (one per value)"
        )),
    }
}

fn check_identity(s: &str) -> Result<(String, String), String> {
    let Some((login, upn)) = s.split_once('=') else {
        return Err(format!(
            "`{s}` is not LOGIN=UPN (e.g. alice-gh=alice@contoso.com)"
        ));
    };
    let login = login.trim().trim_start_matches('@');
    if !is_github_login(login) {
        return Err(format!(
            "`{login}` is not a GitHub login (letters, digits and single dashes, at most 39)"
        ));
    }
    let upn = Upn::parse(upn.trim())?;
    Ok((login.to_owned(), upn.as_str().to_owned()))
}

fn check_duration(s: &str) -> Result<String, String> {
    Duration::parse(s)
        .map(|d| d.to_string())
        .map_err(|e| e.message)
}

fn check_repo(s: &str) -> Result<Repo, String> {
    Repo::parse(s).map_err(|e| e.to_string())
}

fn check_branch(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && !s.starts_with(['-', '/'])
        && !s.ends_with(['/', '.'])
        && !s.contains("..")
        && !s.contains("//")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not a branch name"))
    }
}

fn check_action_ref(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not a git ref or commit SHA"))
    }
}

/// `owner/repo` from a remote URL GitHub hands out (https, ssh, scp-like).
pub fn repo_from_remote(url: &str) -> Option<Repo> {
    let url = url.trim();
    let path = if let Some(rest) = url.split_once("://").map(|(_, r)| r) {
        rest.split_once('/')?.1
    } else {
        url.split_once(':')?.1
    };
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.len() < 2 {
        return None;
    }
    let name = parts.pop()?;
    let owner = parts.pop()?;
    Repo::parse(&format!("{owner}/{name}")).ok()
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn infer_default_branch(dir: &Path) -> Option<String> {
    git(
        dir,
        &["symbolic-ref", "--short", "refs/remotes/origin/HEAD"],
    )
    .map(|b| b.trim_start_matches("origin/").to_owned())
    .or_else(|| git(dir, &["symbolic-ref", "--short", "HEAD"]))
}

/// A value that may come from a flag, be inferred, or be asked.
struct Field<'a, T> {
    flag: &'static str,
    question: &'a str,
    check: fn(&str) -> Result<T, String>,
}

struct Asker {
    interactive: bool,
    /// The answers, one a line (stdin; a fixed list in tests).
    lines: Box<dyn Iterator<Item = std::io::Result<String>>>,
}

impl Asker {
    /// A flag's value, checked (a bad flag is a usage error); missing: asked, or a usage error.
    fn one<T>(&mut self, f: Field<'_, T>, given: Option<&str>) -> Result<T, String> {
        if let Some(v) = given {
            return (f.check)(v).map_err(|e| format!("--{}: {e}", f.flag));
        }
        if !self.interactive {
            return Err(format!(
                "missing --{} ({}); pass it as a flag or run on a terminal without --yes",
                f.flag, f.question
            ));
        }
        loop {
            let answer = self.ask(f.question)?;
            match (f.check)(&answer) {
                Ok(v) => return Ok(v),
                Err(e) => output::stderr(&format!("  {e}; try again\n")),
            }
        }
    }

    /// A list flag (every value checked); empty: asked (comma-separated), or a usage error.
    fn many<T>(&mut self, f: Field<'_, T>, given: &[String]) -> Result<Vec<T>, String> {
        let given: Vec<&str> = given
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if !given.is_empty() {
            return given
                .iter()
                .map(|v| (f.check)(v).map_err(|e| format!("--{}: {e}", f.flag)))
                .collect();
        }
        if !self.interactive {
            return Err(format!(
                "missing --{} ({}); pass it as a flag or run on a terminal without --yes",
                f.flag, f.question
            ));
        }
        loop {
            let answer = self.ask(&format!("{} (comma-separated)", f.question))?;
            let parsed: Result<Vec<T>, String> = answer
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(f.check)
                .collect();
            match parsed {
                Ok(v) if !v.is_empty() => return Ok(v),
                Ok(_) => output::stderr("  give at least one; try again\n"),
                Err(e) => output::stderr(&format!("  {e}; try again\n")),
            }
        }
    }

    fn ask(&mut self, question: &str) -> Result<String, String> {
        loop {
            output::stderr(&format!("{question}: "));
            let _ = std::io::stderr().flush();
            match self.lines.next() {
                Some(Ok(line)) if !line.trim().is_empty() => return Ok(line.trim().to_owned()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("reading the answer: {e}")),
                None => return Err(format!("no answer for {question}")),
            }
        }
    }
}

fn gather(args: &InitArgs) -> Result<Answers, String> {
    let interactive = !args.yes && std::io::stdin().is_terminal();
    let mut a = Asker {
        interactive,
        lines: Box::new(std::io::stdin().lock().lines()),
    };
    let remote = git(&args.dir, &["remote", "get-url", "origin"]);
    let inferred_repo = remote.as_deref().and_then(repo_from_remote);
    let repo = match (&args.repo, inferred_repo) {
        (Some(r), _) => check_repo(r).map_err(|e| format!("--repo: {e}"))?,
        (None, Some(r)) => r,
        (None, None) => a.one(
            Field {
                flag: "repo",
                question: "GitHub repository (OWNER/REPO); `git remote get-url origin` names none",
                check: check_repo,
            },
            None,
        )?,
    };
    let default_branch = match &args.default_branch {
        Some(b) => check_branch(b).map_err(|e| format!("--default-branch: {e}"))?,
        None => infer_default_branch(&args.dir).unwrap_or_else(|| "main".into()),
    };
    let action = check_repo(&args.action)
        .map_err(|e| format!("--action: {e}"))?
        .to_string();
    let version_tag = format!("v{}", env!("CARGO_PKG_VERSION"));
    let action_ref = check_action_ref(args.action_ref.as_deref().unwrap_or(&version_tag))
        .map_err(|e| format!("--action-ref: {e}"))?;
    let max_duration =
        check_duration(&args.max_duration).map_err(|e| format!("--max-duration: {e}"))?;

    let tenant_id = a.one(
        Field {
            flag: "tenant-id",
            question: "Entra tenant id (GUID)",
            check: check_tenant,
        },
        args.tenant_id.as_deref(),
    )?;
    let vaults = a.many(
        Field {
            flag: "vault",
            question: "Key Vault name(s)",
            check: check_vault,
        },
        &args.vaults,
    )?;
    let subscription = a.one(
        Field {
            flag: "subscription",
            question: "the vaults' subscription id (GUID)",
            check: check_subscription,
        },
        args.subscription.as_deref(),
    )?;
    let resource_group = a.one(
        Field {
            flag: "resource-group",
            question: "the vaults' resource group",
            check: check_resource_group,
        },
        args.resource_group.as_deref(),
    )?;
    let secrets = a.many(
        Field {
            flag: "secrets",
            question: "secrets that may be requested (names or globs such as app-*)",
            check: check_secret,
        },
        &args.secrets,
    )?;
    let owners = a.many(
        Field {
            flag: "owners",
            question: "approvers (@login or @org/team)",
            check: check_owner,
        },
        &args.owners,
    )?;
    let identities = a.many(
        Field {
            flag: "identity",
            question: "requesters as LOGIN=UPN (GitHub login = Entra sign-in)",
            check: check_identity,
        },
        &args.identities,
    )?;
    let mut seen = std::collections::BTreeSet::new();
    for v in &vaults {
        if !seen.insert(v.to_ascii_lowercase()) {
            return Err(format!("--vault: `{v}` is given twice"));
        }
    }
    Ok(Answers {
        tenant_id,
        vaults,
        subscription,
        resource_group,
        secrets,
        owners,
        identities,
        max_duration,
        repo,
        default_branch,
        action,
        action_ref,
    })
}

// ---- what is written ----

/// `.github/kv-jit.yml`.
pub fn render_config(a: &Answers) -> String {
    let mut out = String::from(
        "# kv-jit configuration: one section per vault. Reviewed like code: changes to this file need\n\
         # the owners named for it in CODEOWNERS. Written by `kv-jit init`; see the README, \"Configuration\".\n",
    );
    out.push_str(&format!(
        "tenant_id: {}\ncloud: AzureCloud\nvaults:\n",
        a.tenant_id
    ));
    for v in &a.vaults {
        out.push_str(&format!(
            "  {v}:\n    subscription_id: {}\n    resource_group: {}\n    secrets: [{}]\n    max_duration: {}\n    roles: [secrets-user]\n    scope: vault                 # or: secret (the assignment on the one secret)\n    approvals: 1                 # distinct code-owner approvals needed\n    require_ticket: false\n    expiry: revoker              # or: pim (Azure ends access itself; needs Entra ID P2)\n",
            a.subscription,
            a.resource_group,
            a.secrets.join(", "),
            a.max_duration,
        ));
    }
    out.push_str(
        "identities:                      # GitHub login -> the Entra user it may request for\n",
    );
    for (login, upn) in &a.identities {
        out.push_str(&format!("  {login}: {upn}\n"));
    }
    out.push_str(&format!(
        "notify:\n  teams_webhook_env: KV_JIT_TEAMS_WEBHOOK\nledger:\n  path: audit/ledger.jsonl\n  branch: {}\n",
        a.default_branch
    ));
    out
}

/// `.github/CODEOWNERS`.
pub fn render_codeowners(a: &Answers) -> String {
    let owners = a.owners.join(" ");
    format!(
        "# kv-jit: a code owner's review on a request's final commit approves it, and the config,\n\
         # CODEOWNERS and the workflows under .github/ decide what kv-jit trusts. The last matching\n\
         # line wins; a vault of its own owners: `/requests/<vault>/ @team` below these lines.\n\
         /requests/ {owners}\n/.github/ {owners}\n"
    )
}

/// `requests/README.md`.
pub fn render_requests_readme(a: &Answers) -> String {
    let vault = &a.vaults[0];
    let secret = a
        .secrets
        .iter()
        .find(|s| !s.contains(['*', '?', '[']))
        .cloned()
        .unwrap_or_else(|| "my-secret".into());
    let upn = a
        .identities
        .first()
        .map(|(_, u)| u.clone())
        .unwrap_or_default();
    format!(
        "# Requesting access to a Key Vault secret\n\n\
         Access is granted for a limited time by merging a pull request that adds a request file\n\
         here, approved by a code owner ({owners}). Nobody can read a secret through kv-jit: once\n\
         access is granted you read it with your own identity, and it ends on its own.\n\n\
         ```sh\n\
         kv-jit new --vault {vault} --secret {secret} --duration 2h --justification \"why you need it\"\n\
         kv-jit validate --offline\n\
         ```\n\n\
         or write `requests/<year>/<you>-<secret>.yaml` by hand:\n\n\
         ```yaml\n\
         apiVersion: kv-jit/v1\n\
         kind: AccessRequest\n\
         requester: {upn}   # your Entra sign-in\n\
         vault: {vault}\n\
         secret: {secret}\n\
         duration: 2h                   # at most {max}\n\
         justification: Rotate the partner API client after INC-4821\n\
         ```\n\n\
         Then open a pull request with only that file. The PR check comments the plan; a code owner\n\
         other than you approves the final commit; on merge the grant workflow gives you access,\n\
         and the revoke workflow removes it when the window ends. To end it early, open a pull\n\
         request that sets `revoke: true` or deletes the file. You may request only for the Entra\n\
         user your GitHub login is mapped to in `.github/kv-jit.yml` (`identities`).\n",
        owners = a.owners.join(", "),
        max = a.max_duration,
    )
}

/// A workflow template with its `uses: ./` steps pointed at the action (`owner/repo@ref`).
pub fn point_at_action(template: &str, action: &str, action_ref: &str) -> String {
    let mut out = String::with_capacity(template.len());
    for line in template.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim_start();
        let (prefix, rest) = body.split_at(body.len() - trimmed.len());
        let (dash, value_part) = match rest.strip_prefix("- ") {
            Some(r) => ("- ", r),
            None => ("", rest),
        };
        let local = value_part
            .strip_prefix("uses:")
            .map(|v| {
                v.split(" #")
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches(['"', '\''])
            })
            .is_some_and(|v| v == "./" || v == ".");
        if local {
            out.push_str(&format!("{prefix}{dash}uses: {action}@{action_ref}"));
            out.push_str(&line[body.len()..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The `${{ secrets.X }}` and `${{ vars.X }}` names the workflows read (not `GITHUB_TOKEN`).
pub fn workflow_settings(texts: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut secrets = std::collections::BTreeSet::new();
    let mut vars = std::collections::BTreeSet::new();
    for text in texts {
        for (kind, set) in [("secrets.", &mut secrets), ("vars.", &mut vars)] {
            let mut rest = *text;
            while let Some(i) = rest.find(kind) {
                let before = rest[..i].chars().last();
                let tail = &rest[i + kind.len()..];
                let name: String = tail
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                    && !name.is_empty()
                    && name != "GITHUB_TOKEN"
                {
                    set.insert(name);
                }
                rest = tail;
            }
        }
    }
    (secrets.into_iter().collect(), vars.into_iter().collect())
}

/// The value to set for a secret or variable the workflows read: by exact name, since names
/// that look alike hold different things (`KV_JIT_APP_CLIENT_ID` is the GitHub App's, not an
/// Azure app's); anything unknown gets a placeholder to fill in, never a guess.
fn setting_value(name: &str, a: &Answers) -> String {
    match name {
        "KV_JIT_AZURE_TENANT_ID" => a.tenant_id.clone(),
        "KV_JIT_AZURE_CLIENT_ID" => "\"$GRANT_APP_ID\"".into(),
        "KV_JIT_READER_CLIENT_ID" => "\"$READER_APP_ID\"".into(),
        "KV_JIT_TEAMS_WEBHOOK" => "\"<your Teams workflow webhook URL>\"".into(),
        "KV_JIT_ALLOWED_ENDPOINTS" => {
            "\"<only for explicit cloud endpoints; skip for a named cloud>\"".into()
        }
        "KV_JIT_APP_CLIENT_ID" => "\"<the request GitHub App's client ID>\"".into(),
        "KV_JIT_APP_PRIVATE_KEY" => "\"$(cat <the request GitHub App's private key>.pem)\"".into(),
        "KV_JIT_APP_BOT_NAME" => "\"<app-slug>[bot]\"".into(),
        "KV_JIT_APP_BOT_EMAIL" => {
            "\"<bot-user-id>+<app-slug>[bot]@users.noreply.github.com\"".into()
        }
        _ => "\"<value>\"".into(),
    }
}

/// The steps `init` cannot take, with every value filled in.
pub fn manual_steps(a: &Answers) -> String {
    let repo = &a.repo;
    let branch = &a.default_branch;
    let scopes: Vec<String> = a
        .vaults
        .iter()
        .map(|v| {
            format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{v}",
                a.subscription, a.resource_group
            )
        })
        .collect();
    let fed = |app: &str, name: &str, subject: &str| {
        format!(
            "az ad app federated-credential create --id \"${app}\" --parameters '{{\"name\":\"{name}\",\"issuer\":\"https://token.actions.githubusercontent.com\",\"subject\":\"{subject}\",\"audiences\":[\"api://AzureADTokenExchange\"]}}'"
        )
    };
    let mut s = String::new();
    s.push_str("\nNext steps (kv-jit cannot take them for you):\n\n");
    s.push_str(&format!(
        "1. Azure: the grant identity (assigns roles on the vaults; signs in only from the `kv-jit`\n   environment). Run as someone who may create app registrations and role assignments:\n\n   az login --tenant {tenant}\n   az account set --subscription {sub}\n   GRANT_APP_ID=$(az ad app create --display-name kv-jit-grant --query appId -o tsv)\n   az ad sp create --id \"$GRANT_APP_ID\"\n   {fed}\n",
        tenant = a.tenant_id,
        sub = a.subscription,
        fed = fed("GRANT_APP_ID", "kv-jit-environment", &format!("repo:{repo}:environment:kv-jit")),
    ));
    for scope in &scopes {
        s.push_str(&format!(
            "   az role assignment create --assignee \"$GRANT_APP_ID\" --role \"Key Vault Data Access Administrator\" --scope {scope}\n"
        ));
    }
    s.push_str(
        "   # Microsoft Graph User.Read.All (application), to resolve requesters; needs admin consent:\n   az ad app permission add --id \"$GRANT_APP_ID\" --api 00000003-0000-0000-c000-000000000000 --api-permissions df021288-bdef-4463-88db-98f22de89214=Role\n   az ad app permission admin-consent --id \"$GRANT_APP_ID\"\n\n",
    );
    s.push_str(&format!(
        "2. Azure: the read-only PR-check identity (reads vault and secret metadata, nothing else):\n\n   READER_APP_ID=$(az ad app create --display-name kv-jit-reader --query appId -o tsv)\n   az ad sp create --id \"$READER_APP_ID\"\n   {fed}\n",
        fed = fed("READER_APP_ID", "kv-jit-pull-request", &format!("repo:{repo}:pull_request")),
    ));
    for scope in &scopes {
        s.push_str(&format!(
            "   az role assignment create --assignee \"$READER_APP_ID\" --role \"Key Vault Reader\" --scope {scope}\n"
        ));
    }
    let texts: Vec<&str> = TEMPLATES.iter().map(|(_, t)| *t).collect();
    let (secrets, vars) = workflow_settings(&texts);
    s.push_str("\n3. GitHub: the values the workflows read (gh CLI, as a repository admin):\n\n");
    for name in &secrets {
        s.push_str(&format!(
            "   gh secret set {name} --repo {repo} --body {}\n",
            setting_value(name, a)
        ));
    }
    for name in &vars {
        s.push_str(&format!(
            "   gh variable set {name} --repo {repo} --body {}\n",
            setting_value(name, a)
        ));
    }
    if secrets.is_empty() && vars.is_empty() {
        s.push_str("   (the workflows read no secrets or variables)\n");
    }
    s.push_str(&format!(
        "\n4. GitHub: the `kv-jit` environment, deployable from {branch} only:\n\n   gh api -X PUT repos/{repo}/environments/kv-jit --input - <<'EOF'\n   {{\"deployment_branch_policy\":{{\"protected_branches\":false,\"custom_branch_policies\":true}}}}\n   EOF\n   gh api -X POST repos/{repo}/environments/kv-jit/deployment-branch-policies -f name={branch} -f type=branch\n"
    ));
    s.push_str(&format!(
        "\n5. GitHub: a ruleset on {branch}: require code-owner review, dismiss stale approvals, require\n   approval of the most recent push, block force pushes and deletion:\n\n   gh api -X POST repos/{repo}/rulesets --input - <<'EOF'\n   {{\"name\":\"kv-jit\",\"target\":\"branch\",\"enforcement\":\"active\",\n    \"conditions\":{{\"ref_name\":{{\"include\":[\"~DEFAULT_BRANCH\"],\"exclude\":[]}}}},\n    \"rules\":[{{\"type\":\"deletion\"}},{{\"type\":\"non_fast_forward\"}},\n     {{\"type\":\"pull_request\",\"parameters\":{{\"required_approving_review_count\":1,\"require_code_owner_review\":true,\n       \"dismiss_stale_reviews_on_push\":true,\"require_last_push_approval\":true,\"required_review_thread_resolution\":false}}}}]}}\n   EOF\n"
    ));
    s.push_str(
        "\n6. Commit the files on a branch, open a pull request, merge it, then check the setup:\n\n   kv-jit doctor\n",
    );
    s
}

/// `kv-jit init`.
pub fn run(args: &InitArgs) -> Exit {
    if !args.dir.join(".git").exists() && git(&args.dir, &["rev-parse", "--git-dir"]).is_none() {
        output::stderr(&format!(
            "error: {} is not a git repository\n  help: run kv-jit init in the root of your access repository (git init first)\n",
            args.dir.display()
        ));
        return Exit::Usage;
    }
    let answers = match gather(args) {
        Ok(a) => a,
        Err(e) => {
            output::stderr(&format!("error: {e}\n"));
            return Exit::Usage;
        }
    };
    let config = render_config(&answers);
    // The same parser every command uses: what init writes, kv-jit accepts.
    let mut sink = Sink::new(kv_jit_core::config::DEFAULT_PATH.to_owned());
    if kv_jit_core::config::parse(config.as_bytes(), &mut sink).is_none() {
        let problems: Vec<String> = sink.diags.iter().map(|d| d.message.clone()).collect();
        output::stderr(&format!(
            "error: the config init would write does not parse: {}\n",
            problems.join("; ")
        ));
        return Exit::Usage;
    }
    let mut files: Vec<(String, String)> = vec![
        (kv_jit_core::config::DEFAULT_PATH.to_owned(), config),
        (".github/CODEOWNERS".to_owned(), render_codeowners(&answers)),
    ];
    for (path, template) in TEMPLATES {
        files.push((
            path.to_owned(),
            point_at_action(template, &answers.action, &answers.action_ref),
        ));
    }
    files.push((
        "requests/README.md".to_owned(),
        render_requests_readme(&answers),
    ));

    let mut failed = false;
    for (path, text) in &files {
        let full = args.dir.join(path);
        if let Some(parent) = full.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            output::stderr(&format!("error: cannot create {}: {e}\n", parent.display()));
            failed = true;
            continue;
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&full);
        match file.and_then(|mut f| f.write_all(text.as_bytes())) {
            Ok(()) => output::stdout(&format!("wrote    {path}\n")),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => output::stdout(&format!(
                "skipped  {path} (exists; kv-jit never overwrites it)\n"
            )),
            Err(e) => {
                output::stderr(&format!("error: cannot write {path}: {e}\n"));
                failed = true;
            }
        }
    }
    output::stdout(&manual_steps(&answers));
    if answers.action_ref.len() != 40 {
        output::stdout(&format!(
            "\nnote: the workflows use {}@{}; pin the full commit SHA you reviewed (--action-ref), or kv-jit doctor reports them unpinned\n",
            answers.action, answers.action_ref
        ));
    }
    if failed { Exit::Problems } else { Exit::Ok }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers() -> Answers {
        Answers {
            tenant_id: "11111111-1111-1111-1111-111111111111".into(),
            vaults: vec!["kv-a".into(), "kv-b".into()],
            subscription: "22222222-2222-2222-2222-222222222222".into(),
            resource_group: "rg-x".into(),
            secrets: vec!["api-key".into(), "db-*".into()],
            owners: vec!["@acme/security".into(), "@carol".into()],
            identities: vec![("alice-gh".into(), "alice@contoso.com".into())],
            max_duration: "4h".into(),
            repo: Repo::parse("acme/access").unwrap(),
            default_branch: "main".into(),
            action: "acme/kv-jit".into(),
            action_ref: "v0.1.0".into(),
        }
    }

    #[test]
    fn the_config_parses_and_carries_every_answer() {
        let text = render_config(&answers());
        let mut sink = Sink::new(".github/kv-jit.yml");
        let cfg = kv_jit_core::config::parse(text.as_bytes(), &mut sink)
            .unwrap_or_else(|| panic!("{:?}\n{text}", sink.diags));
        assert_eq!(cfg.vaults.len(), 2);
        assert_eq!(cfg.identities.len(), 1);
        assert_eq!(cfg.ledger_branch, "main");
        assert_eq!(cfg.tenant_id, "11111111-1111-1111-1111-111111111111");
    }

    #[test]
    fn codeowners_owns_requests_and_config() {
        let co = Codeowners::parse(&render_codeowners(&answers()));
        assert!(co.errors().is_empty());
        let c = kv_jit_core::doctor::coverage::check(&co, ".github/kv-jit.yml", ["kv-a", "kv-b"]);
        assert!(c.is_ok(), "{c:?}");
    }

    #[test]
    fn only_local_uses_lines_are_rewritten() {
        let t = "steps:\n  - uses: actions/checkout@abc # v4\n  - name: kv\n    uses: ./\n  - uses: \"./\"  # local\n  - uses: ./other\n";
        let out = point_at_action(t, "acme/kv-jit", "0123456789012345678901234567890123456789");
        assert_eq!(
            out,
            "steps:\n  - uses: actions/checkout@abc # v4\n  - name: kv\n    uses: acme/kv-jit@0123456789012345678901234567890123456789\n  - uses: acme/kv-jit@0123456789012345678901234567890123456789\n  - uses: ./other\n"
        );
        for (_, t) in TEMPLATES {
            let out = point_at_action(t, "acme/kv-jit", "v1");
            assert!(
                !kv_jit_core::doctor::workflows::uses(&out)
                    .iter()
                    .any(|u| u.value == "./"),
                "{out}"
            );
        }
    }

    #[test]
    fn remotes() {
        for (url, want) in [
            ("https://github.com/acme/access.git", Some("acme/access")),
            ("https://github.com/acme/access", Some("acme/access")),
            ("git@github.com:acme/access.git", Some("acme/access")),
            ("ssh://git@github.com/acme/access.git", Some("acme/access")),
            (
                "https://ghes.example.com/acme/access.git",
                Some("acme/access"),
            ),
            ("/tmp/origin.git", None),
            ("https://github.com/acme", None),
        ] {
            assert_eq!(
                repo_from_remote(url).map(|r| r.to_string()).as_deref(),
                want,
                "{url}"
            );
        }
    }

    #[test]
    fn validators_refuse_with_words() {
        assert!(check_tenant("nope").is_err());
        assert!(check_vault("bad_vault").is_err());
        assert!(check_vault("good-vault").is_ok());
        assert!(check_subscription("x").is_err());
        assert!(check_resource_group("rg.").is_err());
        assert!(check_secret("a/b").is_err());
        assert!(check_owner("carol").is_err());
        assert!(check_owner("@carol").is_ok());
        assert!(check_owner("@acme/sec").is_ok());
        assert!(check_owner("@a\n/.github/ @evil").is_err());
        assert!(check_owner("@a @b").is_err());
        assert!(check_secret("a\nb").is_err());
        assert!(check_identity("alice=alice@contoso.com\nx").is_err());
        assert!(check_identity("alice").is_err());
        assert!(check_identity("alice=notanupn").is_err());
        assert_eq!(
            check_identity("@alice-gh=alice@contoso.com").unwrap(),
            ("alice-gh".to_string(), "alice@contoso.com".to_string())
        );
        assert!(check_duration("forever").is_err());
        assert!(check_branch("a..b").is_err());
        assert!(check_action_ref("v1;rm").is_err());
    }

    fn asker(answers: &[&str]) -> Asker {
        let lines: Vec<std::io::Result<String>> =
            answers.iter().map(|a| Ok(a.to_string())).collect();
        Asker {
            interactive: true,
            lines: Box::new(lines.into_iter()),
        }
    }

    #[test]
    fn a_bad_interactive_answer_is_asked_again() {
        let vault = || Field {
            flag: "vault",
            question: "Key Vault name(s)",
            check: check_vault,
        };
        let mut a = asker(&["bad_vault", "", "good-vault"]);
        assert_eq!(a.one(vault(), None).unwrap(), "good-vault");
        // A list: every item is checked; one bad item asks for the whole list again.
        let mut a = asker(&["kv-a, bad/one", "kv-a, kv-b"]);
        assert_eq!(a.many(vault(), &[]).unwrap(), ["kv-a", "kv-b"]);
        // A flag is never asked again: a bad one is an error naming it.
        let mut a = asker(&["good-vault"]);
        let e = a.one(vault(), Some("bad_vault")).unwrap_err();
        assert!(e.starts_with("--vault: "), "{e}");
        // Answers run out: an error, not a loop.
        let mut a = asker(&["bad_vault"]);
        assert!(a.one(vault(), None).is_err());
        // Not interactive: the missing flag is named.
        let mut a = asker(&[]);
        a.interactive = false;
        let e = a.one(vault(), None).unwrap_err();
        assert!(e.starts_with("missing --vault"), "{e}");
    }

    #[test]
    fn settings_are_read_from_the_workflows() {
        let (secrets, vars) = workflow_settings(&[
            "x: ${{ secrets.KV_JIT_AZURE_CLIENT_ID }}\ny: ${{ secrets.GITHUB_TOKEN }}\nz: ${{ vars.KV_JIT_TEAMS }}\nw: ${{ github.event.inputs.secrets.x }}",
        ]);
        assert_eq!(secrets, ["KV_JIT_AZURE_CLIENT_ID"]);
        assert_eq!(vars, ["KV_JIT_TEAMS"]);
    }

    #[test]
    fn manual_steps_fill_in_the_values() {
        let s = manual_steps(&answers());
        for needle in [
            "repo:acme/access:environment:kv-jit",
            "repo:acme/access:pull_request",
            "--role \"Key Vault Data Access Administrator\" --scope /subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg-x/providers/Microsoft.KeyVault/vaults/kv-b",
            "--role \"Key Vault Reader\" --scope /subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg-x/providers/Microsoft.KeyVault/vaults/kv-a",
            "df021288-bdef-4463-88db-98f22de89214=Role",
            "admin-consent",
            "require_code_owner_review\":true",
            "dismiss_stale_reviews_on_push\":true",
            "require_last_push_approval\":true",
            "non_fast_forward",
            "deployment-branch-policies -f name=main",
        ] {
            assert!(s.contains(needle), "missing {needle}:\n{s}");
        }
    }

    #[test]
    fn each_setting_gets_its_own_value_not_a_look_alike() {
        let a = answers();
        let cases = [
            ("KV_JIT_AZURE_CLIENT_ID", "\"$GRANT_APP_ID\""),
            ("KV_JIT_READER_CLIENT_ID", "\"$READER_APP_ID\""),
            ("KV_JIT_AZURE_TENANT_ID", a.tenant_id.as_str()),
            // The request workflow's GitHub App, not the Azure grant app.
            (
                "KV_JIT_APP_CLIENT_ID",
                "\"<the request GitHub App's client ID>\"",
            ),
            ("KV_JIT_SOMETHING_NEW", "\"<value>\""),
        ];
        for (name, want) in cases {
            assert_eq!(setting_value(name, &a), want, "{name}");
        }
    }
}
