//! `kv-jit doctor`: checks a setup read-only and says exactly what to fix, one line per check.
//!
//! Offline checks: the config parses; CODEOWNERS exists, has no invalid lines, and owns every
//! request path, the config and each vault's requests; the workflows are there, use the action,
//! and pin every `uses:` to a full SHA; the ledger's hash chain verifies. Online (unless
//! `--offline`): the Azure credential gets an ARM token; each vault is readable and in RBAC mode;
//! the identity may write and delete role assignments there (ARM's effective permissions, never
//! a trial write); Graph resolves one configured user; and, when `GITHUB_TOKEN` and
//! `GITHUB_REPOSITORY` are set, the default branch (and a separate ledger branch) are protected
//! as kv-jit assumes. The rules that judge the answers are `kv_jit_core::doctor`'s.
//!
//! Exit 0 when no check found a problem (skipped checks and warnings do not fail), 1 when one
//! did, 2 on a usage error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use crate::Exit;
use crate::output;
use kv_jit_core::config::Config;
use kv_jit_core::diag::{Format, Sink};
use kv_jit_core::doctor::{coverage, permissions, protection, workflows};
use kv_jit_core::github::Repo;
use kv_jit_core::github::codeowners;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Only the checks that need no network: config, CODEOWNERS, workflows, ledger.
    #[arg(long)]
    pub offline: bool,
    /// The repository of kv-jit's action, which the workflows must use.
    #[arg(long, value_name = "OWNER/REPO", default_value = super::init::UPSTREAM_ACTION)]
    pub action: String,
}

/// The workflows kv-jit needs (the request workflow is optional: checked when present).
const REQUIRED_WORKFLOWS: [&str; 3] = [
    ".github/workflows/kv-jit-validate.yml",
    ".github/workflows/kv-jit-grant.yml",
    ".github/workflows/kv-jit-revoke.yml",
];
const OPTIONAL_WORKFLOWS: [&str; 1] = [".github/workflows/kv-jit-request.yml"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Problem,
    /// Could not be judged (e.g. the token may not read a setting); does not fail the run.
    Warning,
    /// Not run (offline, no credentials for it, or an earlier check it depends on failed).
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub status: Status,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Default)]
struct Report {
    checks: Vec<Check>,
}

impl Report {
    fn ok(&mut self, check: &str, message: impl Into<String>) {
        self.push(check, Status::Ok, message.into(), None);
    }
    fn problem(&mut self, check: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.push(check, Status::Problem, message.into(), Some(fix.into()));
    }
    fn warning(&mut self, check: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.push(check, Status::Warning, message.into(), Some(fix.into()));
    }
    fn skipped(&mut self, check: &str, message: impl Into<String>) {
        self.push(check, Status::Skipped, message.into(), None);
    }
    fn push(&mut self, check: &str, status: Status, message: String, fix: Option<String>) {
        self.checks.push(Check {
            check: check.to_owned(),
            status,
            message,
            fix,
        });
    }
}

/// `kv-jit doctor`.
pub fn run(args: &DoctorArgs, config_path: &Path, format: Format) -> Exit {
    let Ok(action) = Repo::parse(&args.action) else {
        output::stderr(&format!(
            "error: --action: `{}` is not OWNER/REPO\n",
            args.action
        ));
        return Exit::Usage;
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    let root = PathBuf::from(".");
    let mut r = Report::default();
    let shown = config_path.to_string_lossy().replace('\\', "/");
    let config = check_config(&mut r, config_path, &shown);
    check_codeowners(&mut r, &root, &shown, config.as_ref());
    check_workflows(&mut r, &root, &action.to_string());
    check_ledger(&mut r, &root, config.as_ref());
    if args.offline {
        r.skipped("azure", "--offline");
        r.skipped("github", "--offline");
    } else {
        match &config {
            Some(cfg) => super::runtime().block_on(check_azure(&mut r, cfg, &env)),
            None => r.skipped("azure", "the config is invalid"),
        }
        super::runtime().block_on(check_github(&mut r, config.as_ref(), &env));
    }
    render(&r, format);
    if r.checks.iter().any(|c| c.status == Status::Problem) {
        Exit::Problems
    } else {
        Exit::Ok
    }
}

fn render(r: &Report, format: Format) {
    if format == Format::Json {
        let ok = !r.checks.iter().any(|c| c.status == Status::Problem);
        let doc = serde_json::json!({"ok": ok, "checks": r.checks});
        output::stdout(&format!("{doc}\n"));
        return;
    }
    let mut out = String::new();
    for c in &r.checks {
        let tag = match c.status {
            Status::Ok => "ok",
            Status::Problem => "problem",
            Status::Warning => "warning",
            Status::Skipped => "skipped",
        };
        out.push_str(&format!("{tag:<8} {}: {}\n", c.check, c.message));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("         fix: {fix}\n"));
        }
    }
    let problems = r
        .checks
        .iter()
        .filter(|c| c.status == Status::Problem)
        .count();
    out.push_str(&if problems == 0 {
        "doctor: no problems found\n".to_owned()
    } else {
        format!("doctor: {problems} problem(s) to fix\n")
    });
    output::stdout(&out);
}

fn check_config(r: &mut Report, path: &Path, shown: &str) -> Option<Config> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            r.problem(
                "config",
                format!("cannot read `{shown}`: {e}"),
                "run kv-jit init (or pass --config FILE) from the repository root",
            );
            return None;
        }
    };
    let mut sink = Sink::new(shown.to_owned());
    match kv_jit_core::config::parse(&bytes, &mut sink) {
        Some(cfg) => {
            r.ok(
                "config",
                format!("`{shown}` is valid ({} vault(s))", cfg.vaults.len()),
            );
            Some(cfg)
        }
        None => {
            let first = sink
                .diags
                .first()
                .map(|d| format!("{}:{}:{}: {}", d.file, d.line, d.column, d.message))
                .unwrap_or_default();
            r.problem(
                "config",
                format!(
                    "`{shown}` is invalid ({} problem(s)); first: {first}",
                    sink.diags.len()
                ),
                format!("run `kv-jit validate --offline` to see every problem in `{shown}`"),
            );
            None
        }
    }
}

fn check_codeowners(r: &mut Report, root: &Path, config_shown: &str, config: Option<&Config>) {
    let found = codeowners::pick(|p| std::fs::read_to_string(root.join(p)).ok());
    let Some((location, co)) = found else {
        r.problem(
            "codeowners",
            "no CODEOWNERS file (.github/CODEOWNERS, CODEOWNERS or docs/CODEOWNERS): nobody's review counts as an approval",
            "create .github/CODEOWNERS with `/requests/ @approvers` and `/.github/ @approvers` (kv-jit init writes one)",
        );
        return;
    };
    if let Some(e) = co.errors().first() {
        r.problem(
            "codeowners",
            format!(
                "{location} has {} line(s) GitHub skips; first: {e}",
                co.errors().len()
            ),
            "fix or remove those lines (no `!`, `[ ]` or `\\` in patterns; owners are @login, @org/team or an e-mail)",
        );
    } else {
        r.ok("codeowners", format!("{location} found, every line valid"));
    }
    let vaults: Vec<String> = config
        .map(|c| c.vaults.keys().map(|v| v.as_str().to_owned()).collect())
        .unwrap_or_default();
    let cov = coverage::check(&co, config_shown, vaults.iter().map(String::as_str));
    let why = |u: &coverage::Uncovered| match u.unowned_line {
        Some(line) => format!("`{}` (line {line} of {location} names no owners)", u.path),
        None => format!("`{}` (no line of {location} matches it)", u.path),
    };
    if cov.requests.is_empty() {
        r.ok(
            "codeowners-requests",
            "every path under requests/ has owners",
        );
    } else {
        let paths: Vec<String> = cov.requests.iter().map(why).collect();
        r.problem(
            "codeowners-requests",
            format!(
                "request paths without owners: {}; a request there can never be approved",
                paths.join(", ")
            ),
            format!("add `/requests/ @approvers` to {location} (after any broader line)"),
        );
    }
    match &cov.config {
        None => r.ok("codeowners-config", format!("`{config_shown}` has owners")),
        Some(u) => r.problem(
            "codeowners-config",
            format!(
                "the config {} has no owners: anyone could change the policy without review",
                why(u)
            ),
            format!("add `/.github/ @security-owners` to {location}"),
        ),
    }
    if config.is_some() {
        if cov.vaults.is_empty() {
            r.ok("vault-owners", "every vault's requests have owners");
        } else {
            r.problem(
                "vault-owners",
                format!(
                    "no code owner would review a request for {}",
                    cov.vaults.join(", ")
                ),
                format!(
                    "add `/requests/{}/ @owners` (or a `/requests/` line) to {location}",
                    cov.vaults[0]
                ),
            );
        }
    }
}

fn check_workflows(r: &mut Report, root: &Path, action: &str) {
    let mut texts = Vec::new();
    let mut missing = Vec::new();
    for path in REQUIRED_WORKFLOWS {
        match std::fs::read_to_string(root.join(path)) {
            Ok(t) => texts.push((path, t)),
            Err(_) => missing.push(path),
        }
    }
    for path in OPTIONAL_WORKFLOWS {
        if let Ok(t) = std::fs::read_to_string(root.join(path)) {
            texts.push((path, t));
        }
    }
    if missing.is_empty() {
        r.ok(
            "workflows",
            "the validate, grant and revoke workflows are present",
        );
    } else {
        r.problem(
            "workflows",
            format!("missing {}", missing.join(", ")),
            "run kv-jit init to write them (it skips files that exist)",
        );
    }
    let without: Vec<&str> = texts
        .iter()
        .filter(|(_, t)| {
            !workflows::uses(t)
                .iter()
                .any(|u| workflows::is_action(&u.value, action))
        })
        .map(|(p, _)| *p)
        .collect();
    if texts.is_empty() {
        r.skipped("workflows-action", "no kv-jit workflow to check");
    } else if without.is_empty() {
        r.ok(
            "workflows-action",
            format!("every kv-jit workflow uses {action}"),
        );
    } else {
        r.problem(
            "workflows-action",
            format!("{} do(es) not use the action {action}", without.join(", ")),
            format!(
                "add a step `uses: {action}@<full commit SHA>` (or pass --action if you use a fork)"
            ),
        );
    }
    let unpinned: Vec<String> = texts
        .iter()
        .flat_map(|(p, t)| {
            workflows::uses(t)
                .into_iter()
                .filter(|u| workflows::pin(&u.value) == workflows::Pin::Unpinned)
                .map(move |u| format!("{p}:{}: {}", u.line, u.value))
        })
        .collect();
    if texts.is_empty() {
        r.skipped("workflows-pinned", "no kv-jit workflow to check");
    } else if unpinned.is_empty() {
        r.ok(
            "workflows-pinned",
            "every `uses:` is pinned to a full commit SHA",
        );
    } else {
        r.problem(
            "workflows-pinned",
            format!("not pinned to a full commit SHA: {}", unpinned.join(", ")),
            "replace each tag or branch with the 40-character commit SHA you reviewed (keep the tag in a comment)",
        );
    }
}

fn check_ledger(r: &mut Report, root: &Path, config: Option<&Config>) {
    let Some(cfg) = config else {
        r.skipped("ledger", "the config is invalid");
        return;
    };
    let path = root.join(&cfg.ledger_path);
    match kv_jit_effects::ledger::verify_file(&path) {
        Ok(report) => r.ok(
            "ledger",
            format!(
                "{}: {} entries, chain intact",
                cfg.ledger_path, report.entries
            ),
        ),
        Err(kv_jit_core::ledger::VerifyError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            r.ok(
                "ledger",
                format!("no ledger at {} yet (nothing granted)", cfg.ledger_path),
            )
        }
        Err(e) => r.problem(
            "ledger",
            format!("{}: {e}", cfg.ledger_path),
            "restore the ledger from the branch's history (git log -p on it) before granting again; kv-jit audit verify names the first bad line",
        ),
    }
}

async fn check_azure(r: &mut Report, cfg: &Config, env: &HashMap<String, String>) {
    use kv_jit_effects::azure::permissions::{self as az_perm, VaultState};
    use kv_jit_effects::azure::{Azure, AzureClient, Credential, RetryPolicy, VaultRef};

    let cred = Credential::from_env(env, &cfg.tenant_id, &cfg.cloud).and_then(|c| {
        AzureClient::new(&cfg.tenant_id, cfg.cloud.clone(), c, RetryPolicy::default())
    });
    let az = match cred {
        Ok(az) => az,
        Err(e) => {
            r.problem(
                "azure-credential",
                format!("{e}"),
                "set AZURE_CLIENT_ID and AZURE_TENANT_ID with OIDC (id-token: write) or AZURE_CLIENT_SECRET, for the grant identity",
            );
            r.skipped("azure", "no Azure credential");
            return;
        }
    };
    if let Err(e) = az_perm::arm_token(&az).await {
        r.problem(
            "azure-credential",
            format!("Entra refused the credential for ARM: {e}"),
            "check AZURE_CLIENT_ID/AZURE_TENANT_ID, and that the app's federated credential subject matches this workflow (repo:OWNER/REPO:environment:kv-jit)",
        );
        r.skipped("azure", "the credential does not work");
        return;
    }
    let client = env
        .get("AZURE_CLIENT_ID")
        .cloned()
        .unwrap_or_else(|| "<grant app id>".into());
    r.ok("azure-credential", "the credential gets a token for ARM");
    for (name, policy) in &cfg.vaults {
        let check = format!("vault {name}");
        let vault = match VaultRef::new(
            &policy.subscription_id,
            &policy.resource_group,
            name.clone(),
        ) {
            Ok(v) => v,
            Err(e) => {
                r.problem(
                    &check,
                    e,
                    "fix the vault's subscription_id and resource_group in the config",
                );
                continue;
            }
        };
        let scope = vault.scope();
        match az_perm::vault(&az, &vault).await {
            Ok(VaultState::Found { rbac: true }) => {
                r.ok(&check, "readable, RBAC authorization on")
            }
            Ok(VaultState::Found { rbac: false }) => r.problem(
                &check,
                "the vault uses access policies, not Azure RBAC: kv-jit's role assignments would not grant anything",
                format!(
                    "az keyvault update --name {name} --resource-group {} --enable-rbac-authorization true (review who holds access policies first)",
                    policy.resource_group
                ),
            ),
            Ok(VaultState::Missing) => r.problem(
                &check,
                format!("no vault at {scope}"),
                "fix the vault's name, subscription_id or resource_group in the config",
            ),
            Err(e) => r.problem(
                &check,
                format!("cannot read the vault: {e}"),
                format!("az role assignment create --assignee {client} --role \"Key Vault Data Access Administrator\" --scope {scope}"),
            ),
        }
        let check = format!("vault {name} permissions");
        match az_perm::on_vault(&az, &vault).await {
            Ok(perms) => {
                let missing = permissions::missing(&perms, &permissions::GRANT_ACTIONS);
                if missing.is_empty() {
                    r.ok(&check, "the identity may write and delete role assignments");
                } else {
                    r.problem(
                        &check,
                        format!("the identity may not {}", missing.join(" or ")),
                        format!("az role assignment create --assignee {client} --role \"Key Vault Data Access Administrator\" --scope {scope}"),
                    );
                }
            }
            Err(e) => r.problem(
                &check,
                format!("cannot list the identity's permissions: {e}"),
                format!("az role assignment create --assignee {client} --role \"Key Vault Data Access Administrator\" --scope {scope}"),
            ),
        }
    }
    match cfg.identities.values().next() {
        None => r.skipped("graph", "the config maps no identities"),
        Some(upn) => match az.resolve_principal(upn.as_str()).await {
            Ok(_) => r.ok("graph", format!("Microsoft Graph resolves {upn}")),
            Err(kv_jit_effects::azure::AzureError::UserNotFound { .. }) => r.problem(
                "graph",
                format!("Graph works, but {upn} (in identities) is not a user of the tenant"),
                "fix the user principal name in the config's identities",
            ),
            Err(e) => r.problem(
                "graph",
                format!("cannot resolve {upn}: {e}"),
                format!("az ad app permission add --id {client} --api 00000003-0000-0000-c000-000000000000 --api-permissions df021288-bdef-4463-88db-98f22de89214=Role && az ad app permission admin-consent --id {client}"),
            ),
        },
    }
}

async fn check_github(r: &mut Report, cfg: Option<&Config>, env: &HashMap<String, String>) {
    use kv_jit_effects::github::client::{GithubClient, Token};
    use kv_jit_effects::github::protection::{self as gh_prot, Classic};

    let var = |k: &str| env.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let (Some(token), Some(repo)) = (var("GITHUB_TOKEN"), var("GITHUB_REPOSITORY")) else {
        r.skipped(
            "github",
            "set GITHUB_TOKEN and GITHUB_REPOSITORY (and GITHUB_API_URL for GHES) to check branch protection",
        );
        return;
    };
    let repo = match Repo::parse(repo) {
        Ok(r) => r,
        Err(e) => {
            r.problem(
                "github",
                e.to_string(),
                "set GITHUB_REPOSITORY to OWNER/REPO",
            );
            return;
        }
    };
    let api = var("GITHUB_API_URL").unwrap_or("https://api.github.com");
    let gh = match GithubClient::new(api, Token::new(token)) {
        Ok(c) => c,
        Err(e) => {
            r.problem("github", e.to_string(), "check GITHUB_API_URL");
            return;
        }
    };
    let default = match gh.default_branch(&repo).await {
        Ok(b) => b,
        Err(e) => {
            r.problem(
                "github",
                format!("cannot read {repo}: {e}"),
                "check GITHUB_TOKEN (contents: read) and GITHUB_REPOSITORY",
            );
            return;
        }
    };
    let mut branches = vec![(default.clone(), true)];
    if let Some(c) = cfg
        && c.ledger_branch != default
    {
        branches.push((c.ledger_branch.clone(), false));
    }
    for (branch, reviews) in branches {
        let check = if reviews {
            format!("branch {branch} (default)")
        } else {
            format!("branch {branch} (ledger)")
        };
        let rules = match gh_prot::rules(&gh, &repo, &branch).await {
            Ok(rules) => rules,
            Err(e) => {
                r.problem(
                    &check,
                    format!("cannot read the branch's rules: {e}"),
                    "check GITHUB_TOKEN (metadata: read)",
                );
                continue;
            }
        };
        let classic = match gh_prot::classic(&gh, &repo, &branch).await {
            Ok(c) => c,
            Err(e) => {
                r.problem(
                    &check,
                    format!("cannot read branch protection: {e}"),
                    "check GITHUB_TOKEN",
                );
                continue;
            }
        };
        let from_rules = protection::Enforced::from_rules(&rules);
        let (enforced, hidden) = match &classic {
            Classic::Protected(p) => (
                from_rules.union(protection::Enforced::from_protection(p)),
                None,
            ),
            Classic::NotProtected => (from_rules, None),
            Classic::Hidden(why) => (from_rules, Some(why.clone())),
        };
        let missing = enforced.missing(reviews);
        let unprotected = rules.is_empty() && matches!(classic, Classic::NotProtected);
        if missing.is_empty() {
            r.ok(&check, if reviews {
                "code-owner review required, stale approvals dismissed, last push approved, no force pushes or deletion"
            } else {
                "no force pushes or deletion"
            });
            continue;
        }
        let words: Vec<&str> = missing.iter().map(|m| m.problem()).collect();
        let fixes: Vec<&str> = missing.iter().map(|m| m.fix()).collect();
        let fix = format!(
            "a ruleset on {branch} (Settings > Rules > Rulesets): {}",
            fixes.join("; ")
        );
        match hidden {
            Some(why) => r.warning(
                &check,
                format!(
                    "rulesets alone leave: {}; classic branch protection could not be read ({why}), so it may cover them",
                    words.join(", ")
                ),
                format!("run doctor with a token that has Administration: read, or use {fix}"),
            ),
            None if unprotected => r.problem(
                &check,
                format!("branch not protected: {}", words.join(", ")),
                fix,
            ),
            None => r.problem(&check, words.join(", "), fix),
        }
    }
}
