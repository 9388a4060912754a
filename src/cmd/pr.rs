//! `kv-jit validate --pr N`: the PR check. Validates only the request files the pull request
//! changes, adds the checks that need GitHub and can be known before merge (requester binding,
//! code owners, commit authors, nothing changed outside `requests/`), and keeps one sticky plan
//! comment on the pull request. Everything here is advisory for reviewers; `kv-jit grant`
//! re-checks it all after merge.
//!
//! A pull request's own changes never apply to its own check: policy, identities, CODEOWNERS and
//! the Azure endpoints (which receive the credential of the online check) come from the default
//! branch's tip, read through GitHub, never from the checkout, which holds the pull request's
//! edits. The checkout's config is only compared with it, to say when they differ.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::Exit;
use crate::output;
use kv_jit_core::approval::{PrContext, Refusal, TrustedBase, files_outside_requests};
use kv_jit_core::config::Config;
use kv_jit_core::diag::{Code, Diagnostic, Format, Pos, Severity, Sink, render, render_text};
use kv_jit_core::notice::escape_markdown;
use kv_jit_effects::approval;
use kv_jit_effects::github::client::{GithubClient, Repo, Token};
use kv_jit_effects::github::feedback::{self, PlanRow};

use super::files::{check_files, collect};

/// Where GitHub is and who we are, from the Actions environment.
pub struct GithubEnv {
    pub api_url: String,
    pub token: Token,
    pub repo: Repo,
}

impl GithubEnv {
    pub fn from_env(env: &HashMap<String, String>) -> Result<Self, String> {
        let api_url = env
            .get("GITHUB_API_URL")
            .cloned()
            .unwrap_or_else(|| kv_jit_effects::github::client::DEFAULT_API_URL.to_owned());
        let token = env.get("GITHUB_TOKEN").filter(|t| !t.is_empty()).ok_or(
            "GITHUB_TOKEN is not set; in a workflow pass `env: GITHUB_TOKEN: ${{ github.token }}`",
        )?;
        let repo = env
            .get("GITHUB_REPOSITORY")
            .ok_or("GITHUB_REPOSITORY is not set (owner/name)")?;
        let repo = Repo::parse(repo).map_err(|e| e.to_string())?;
        Ok(Self {
            api_url,
            token: Token::new(token.clone()),
            repo,
        })
    }

    pub fn client(&self) -> Result<GithubClient, String> {
        GithubClient::new(&self.api_url, self.token.clone()).map_err(|e| e.to_string())
    }
}

/// The pull request number from `--pr`, else from a `pull_request` event payload.
pub fn pr_number(flag: Option<u64>, env: &HashMap<String, String>) -> Option<u64> {
    flag.or_else(|| {
        let event = env.get("GITHUB_EVENT_NAME")?;
        if event != "pull_request" {
            return None;
        }
        let payload = std::fs::read_to_string(env.get("GITHUB_EVENT_PATH")?).ok()?;
        feedback::pr_number_from_event(&payload)
    })
}

/// The config and what it trusts, as they are on the default branch's tip.
pub struct BaseConfig {
    pub config: Config,
    /// The config file's text there, to compare with the checkout's.
    pub text: String,
    pub trusted: TrustedBase,
}

/// Why the default branch's config could not be used: the check cannot run (fail closed).
pub struct BaseProblem {
    pub message: String,
    /// The config's own diagnostics when it is there but invalid.
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads the config at the default branch's tip through the contents API, parses it, and builds
/// the [`TrustedBase`] from it and from CODEOWNERS there.
pub async fn base_config(
    client: &GithubClient,
    repo: &Repo,
    config_path: &str,
) -> Result<BaseConfig, BaseProblem> {
    let problem = |message: String| BaseProblem {
        message,
        diagnostics: Vec::new(),
    };
    let branch = client
        .default_branch(repo)
        .await
        .map_err(|e| problem(format!("cannot read the repository's default branch: {e}")))?;
    let text = client
        .file_text(repo, config_path, &branch)
        .await
        .map_err(|e| {
            problem(format!(
                "cannot read the config `{config_path}` on the default branch `{branch}`: {e}"
            ))
        })?
        .ok_or_else(|| {
            problem(format!(
                "there is no config `{config_path}` on the default branch `{branch}`: merge the config in its own pull request first"
            ))
        })?;
    let mut sink = Sink::new(config_path);
    let Some(config) = kv_jit_core::config::parse(text.as_bytes(), &mut sink) else {
        return Err(BaseProblem {
            message: format!(
                "the config `{config_path}` on the default branch `{branch}` is invalid ({} problems); fix it there in its own pull request",
                sink.diags.len()
            ),
            diagnostics: sink.diags,
        });
    };
    let codeowners = approval::load_codeowners(client, repo, &branch)
        .await
        .map_err(|e| problem(format!("cannot read CODEOWNERS on `{branch}`: {e}")))?;
    let trusted = TrustedBase::new(branch.clone(), branch, &config, codeowners);
    Ok(BaseConfig {
        config,
        text,
        trusted,
    })
}

fn is_request_path(p: &str) -> bool {
    p.starts_with("requests/") && (p.ends_with(".yaml") || p.ends_with(".yml"))
}

pub fn run(
    number: u64,
    config_path: &Path,
    now: DateTime<Utc>,
    format: Format,
    annotate: bool,
    env: &HashMap<String, String>,
    online: Option<&HashMap<String, String>>,
) -> Exit {
    let gh = match GithubEnv::from_env(env) {
        Ok(g) => g,
        Err(m) => {
            return output::fatal(output::Fatal::usage(
                "github-credential",
                format!("--pr needs GitHub: {m}"),
            ));
        }
    };
    let runtime = super::runtime();
    // octocrab's client must be built inside a runtime.
    let _guard = runtime.enter();
    let client = match gh.client() {
        Ok(c) => c,
        Err(m) => return output::fatal(output::Fatal::usage("github-credential", m)),
    };
    let bot = feedback::bot_login(env);
    let config_shown = config_path
        .to_string_lossy()
        .replace('\\', "/")
        .trim_start_matches("./")
        .to_owned();
    let base = match runtime.block_on(base_config(&client, &gh.repo, &config_shown)) {
        Ok(b) => b,
        Err(p) => {
            // Not annotations: the lines are the default branch's, not this pull request's.
            output::stderr(&render_text(&p.diagnostics));
            output::fatal(output::Fatal::usage(
                "default-branch-config",
                p.message.clone(),
            ));
            let body = format!(
                "### kv-jit plan\n\n**The check could not run:** {}\n",
                escape_markdown(&p.message)
            );
            if let Err(e) = runtime.block_on(feedback::upsert_sticky_comment(
                &client, &gh.repo, number, &bot, &body,
            )) {
                output::stderr(&format!(
                    "warning: could not update the plan comment on #{number}: {e}\n"
                ));
            }
            return Exit::Usage;
        }
    };
    let checkout = std::fs::read(config_path).ok();
    let (diagnostics, body) = runtime.block_on(check_pr(
        &client,
        &gh.repo,
        number,
        &base,
        checkout.as_deref(),
        &config_shown,
        now,
        online,
    ));

    output::stdout(&render(&diagnostics, format, annotate));
    if let Err(e) = runtime.block_on(feedback::upsert_sticky_comment(
        &client, &gh.repo, number, &bot, &body,
    )) {
        output::stderr(&format!(
            "warning: could not update the plan comment on #{number}: {e}\n"
        ));
    }
    if let Some(path) = env.get("GITHUB_STEP_SUMMARY") {
        use std::io::Write;
        let _ = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .and_then(|mut f| f.write_all(body.as_bytes()));
    }
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if format != Format::Json {
        output::stderr(&format!("pull request #{number}: {errors} error(s)\n"));
    }
    if errors > 0 { Exit::Problems } else { Exit::Ok }
}

/// All the checks for one pull request: diagnostics and the Markdown for the plan comment.
/// `base` is the default branch's config and trust; `checkout` the config file's bytes in the
/// checkout (the pull request's version), only compared with the base and never used.
#[allow(clippy::too_many_arguments)]
pub async fn check_pr(
    client: &GithubClient,
    repo: &Repo,
    number: u64,
    base: &BaseConfig,
    checkout: Option<&[u8]>,
    config_path: &str,
    now: DateTime<Utc>,
    online: Option<&HashMap<String, String>>,
) -> (Vec<Diagnostic>, String) {
    let config = &base.config;
    let branch = &base.trusted.default_branch;
    let mut diags = Vec::new();
    let mut notes = Vec::new();
    if checkout != Some(base.text.as_bytes()) {
        let note = format!(
            "checked under the config on the default branch `{branch}`: the checkout's `{config_path}` differs (a pull request's own config applies only once merged)"
        );
        let mut sink = Sink::new(config_path);
        match checkout {
            // The pull request's version is its own file: its problems are worth showing.
            Some(bytes) if kv_jit_core::config::parse(bytes, &mut sink).is_none() => {
                diags.append(&mut sink.diags)
            }
            Some(_) => diags.push(Diagnostic::warning(
                Code::ChangesOutsideRequests,
                config_path,
                Pos::START,
                note.clone(),
            )),
            None => {}
        }
        notes.push(note);
    }
    let changed = match feedback::changed_files(client, repo, number).await {
        Ok(f) => f,
        Err(e) => {
            diags.push(Diagnostic::error(
                Code::GithubCheckFailed,
                config_path,
                Pos::START,
                format!("cannot list the files of pull request #{number}: {e}"),
            ));
            return (diags, feedback::render_plan(&[]));
        }
    };
    let removed: Vec<String> = changed
        .iter()
        .filter(|f| f.status == "removed" && is_request_path(&f.filename))
        .map(|f| f.filename.clone())
        .collect();
    let paths: Vec<PathBuf> = changed
        .iter()
        .filter(|f| f.status != "removed" && is_request_path(&f.filename))
        .map(|f| PathBuf::from(&f.filename))
        .collect();
    let files = if paths.is_empty() {
        Ok(Vec::new())
    } else {
        collect(&paths)
    };
    let validation = match files {
        Ok(files) => check_files(&files, config, Some(now)),
        Err(m) => {
            diags.push(Diagnostic::error(
                Code::ReadError,
                config_path,
                Pos::START,
                format!("the checkout does not hold the pull request's files: {m}"),
            ));
            return (diags, feedback::render_plan(&[]));
        }
    };
    diags.extend(validation.diagnostics);
    // The secret must exist (management plane, metadata only). Without credentials (a fork's
    // pull request gets none) that is a problem on each request, shown in the comment too.
    if let Some(env) = online {
        match super::validate::online_diagnostics(&validation.requests, config, env).await {
            Ok(found) => diags.extend(found),
            Err(m) => diags.extend(validation.requests.iter().map(|r| {
                Diagnostic::error(
                    Code::AzureCheckFailed,
                    &r.path,
                    r.secret_pos,
                    format!("could not confirm the secret exists: {m}"),
                )
                .help("give the PR check Azure credentials (OIDC), or run it with --offline")
            })),
        }
    }

    // A request is granted only from a pull request that changes nothing else.
    let outside = files_outside_requests(&changed);
    if !outside.is_empty() {
        let refusal = Refusal::ChangesOutsideRequests {
            number,
            paths: outside,
        };
        for req in &validation.requests {
            diags.push(located(&req.path, Pos::START, &refusal).help(
                "move the request into a pull request of its own; changes outside requests/ are reviewed by their owners in theirs",
            ));
        }
    }
    let context: Option<PrContext> = if validation.requests.is_empty() {
        None
    } else {
        match approval::pr_context(client, repo, number, &base.trusted).await {
            Ok(c) => Some(c),
            Err(e) => {
                diags.push(Diagnostic::error(
                    Code::GithubCheckFailed,
                    config_path,
                    Pos::START,
                    e.to_string(),
                ));
                None
            }
        }
    };
    let mut rows = Vec::new();
    for req in &validation.requests {
        let policy = &config.vaults[&req.vault];
        let mut row = PlanRow {
            request: req.path.clone(),
            who: req.requester.to_string(),
            secret: req.secret.to_string(),
            vault: req.vault.to_string(),
            role: req.role.clone(),
            duration: req.duration.to_string(),
            start: req.start.map_or("at merge".to_owned(), |s| s.to_rfc3339()),
            owners: Vec::new(),
            approvals: policy.approvals,
            break_glass: req.break_glass,
        };
        if let Some(ctx) = &context {
            if let Err(e) =
                approval::check_binding(client, repo, ctx, req.requester.as_str(), req.issue).await
            {
                diags.push(located(&req.path, req.requester_pos, &e).help("an author may request only for the principal `identities` maps their login to on the default branch"));
            }
            match ctx.owners_of(&req.path) {
                Ok((_, _, owners)) => row.owners = owners.iter().map(ToString::to_string).collect(),
                Err(e) => diags.push(
                    located(&req.path, Pos::START, &e)
                        .help("add a CODEOWNERS line owning requests/ on the default branch"),
                ),
            }
            if let Err(e) = approval::check_commit_authors(client, repo, ctx, &req.path).await {
                diags.push(located(&req.path, Pos::START, &e));
            }
        }
        rows.push(row);
    }
    diags.sort_by(|a, b| (a.file.as_str(), a.pos()).cmp(&(b.file.as_str(), b.pos())));
    (
        diags.clone(),
        feedback::comment_body(&rows, &removed, &diags, &notes),
    )
}

fn located(path: &str, pos: Pos, refusal: &Refusal) -> Diagnostic {
    Diagnostic::error(refusal.diagnostic_code(), path, pos, refusal.to_string())
}
