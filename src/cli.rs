//! The command line. Flags shared by every command (`--config`, `--now`, `--format`) are global
//! so they can be given before or after the subcommand.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use kv_jit_core::diag::Format;

/// `kv-jit --version`: the package version and the commit it was built from (see `build.rs`:
/// `KV_JIT_BUILD_COMMIT` for release builds, else git, `-dirty` for uncommitted changes, else
/// `unknown`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("KV_JIT_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "kv-jit",
    version = VERSION,
    about = "Governed, just-in-time access to Azure Key Vault secrets, run as GitOps on GitHub"
)]
#[command(
    after_help = "Exit codes: 0 all good; 1 the work found problems; 2 usage or configuration error."
)]
pub struct Cli {
    /// The config file.
    #[arg(long, global = true, value_name = "FILE", default_value = kv_jit_core::config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Evaluate as of this instant (RFC 3339) instead of the system clock.
    #[arg(long, global = true, value_name = "RFC3339", value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,
    /// Output format of reports.
    #[arg(long, global = true, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check request files against the policy and report every problem.
    Validate(ValidateArgs),
    /// Scaffold a new request file under requests/.
    New(Box<NewArgs>),
    /// Print the JSON Schema of request files.
    Schema,
    /// Show what a grant run would do now (or at --now): offline for Azure, read-only.
    Plan(RemoteArg),
    /// Grant approved requests whose window has begun, revoke what is due, record it all.
    Grant(RunArgs),
    /// Revoke grants whose window ended (or one grant early with --request), reconcile drift
    /// and orphans, record it all. Run it on a schedule.
    Revoke(RevokeArgs),
    /// Active and pending grants with time left, and how late revokes ran.
    Status(RemoteArg),
    /// The audit ledger.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Serve the local Azure and GitHub emulator (for `kv-jit demo`, tests and trying things).
    Emulator(EmulatorArgs),
    /// Print a shell completion script, e.g. `kv-jit completions bash > ~/.local/share/bash-completion/completions/kv-jit`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Set kv-jit up in this git repository: config, CODEOWNERS, workflows, request form; then
    /// print the Azure and GitHub steps left to do. Never overwrites a file.
    Init(Box<crate::cmd::init::InitArgs>),
    /// Check a setup read-only and say what to fix: config, CODEOWNERS, workflows, Azure
    /// identity and permissions, Graph, the ledger, branch protection.
    Doctor(crate::cmd::doctor::DoctorArgs),
    /// The whole loop on this machine in seconds: request, PR check, approval, grant, read,
    /// revoke, an attack refused, audit. Starts its own emulator; needs nothing but git.
    Demo(DemoArgs),
    /// Who could read which secret, when, approved by whom, how it ended: from the ledger
    /// alone, as Markdown (default), HTML (--format html, one self-contained page with a
    /// timeline) or JSON.
    Report(crate::cmd::audit_report::ReportArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the repository and the emulator's seed in DIR (new or empty) instead of a
    /// temporary folder, and print how to poke at them.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RemoteArg {
    /// The git remote that holds the ledger branch.
    #[arg(long, default_value = "origin")]
    pub remote: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The git remote that holds the ledger branch.
    #[arg(long, default_value = "origin")]
    pub remote: String,
    /// How many Azure items run at once (Azure's own throttling is paced per subscription too).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Do only shard K of N (1 ≤ K ≤ N ≤ 256): the work of the subscriptions a stable hash
    /// assigns to it, so a matrix of N jobs paces each subscription's ARM bucket once.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<kv_jit_core::shard::Shard>,
}

fn parse_shard(s: &str) -> Result<kv_jit_core::shard::Shard, String> {
    s.parse()
        .map_err(|e: kv_jit_core::shard::ShardError| e.to_string())
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Revoke this one request now (early), e.g. from a manual workflow run.
    #[arg(long, value_name = "ID", requires = "reason", conflicts_with = "shard")]
    pub request: Option<String>,
    /// Why (required with --request, not empty); recorded in the ledger entry.
    #[arg(long, value_name = "TEXT", value_parser = non_empty_reason)]
    pub reason: Option<String>,
    /// Who asked for the early revoke (default: the workflow run's actor); recorded.
    #[arg(long, value_name = "LOGIN", env = "GITHUB_ACTOR")]
    pub by: Option<String>,
}

fn non_empty_reason(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.chars().count() < 3 {
        return Err(
            "give the reason for revoking early in a few words (it goes into the ledger)".into(),
        );
    }
    if t.chars().any(char::is_control) {
        return Err("the reason must be one line of text without control characters".into());
    }
    Ok(t.to_owned())
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain; names the first bad line (exit 1).
    Verify {
        /// The ledger file (default: the config's ledger path).
        path: Option<PathBuf>,
    },
    /// Check the ledger against Azure itself: active grants exist, no unrecorded kv-jit
    /// assignment, standing access (information), and the Activity Log's role assignment writes
    /// and deletes. Read-only. Exit 1 on a mismatch, 2 when a check lacks permission.
    CheckAzure(CheckAzureArgs),
}

#[derive(Debug, Args)]
pub struct CheckAzureArgs {
    /// Start of the Activity Log window (RFC 3339; default: 90 days before --until, the
    /// Activity Log's retention).
    #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
    pub since: Option<DateTime<Utc>>,
    /// End of the window (RFC 3339; default: now).
    #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
    pub until: Option<DateTime<Utc>>,
    /// kv-jit's grant identity as the Activity Log names it: its client (application) id or
    /// service principal object id; repeatable (default: AZURE_CLIENT_ID).
    #[arg(long, value_name = "ID")]
    pub identity: Vec<String>,
    /// The git remote that holds the ledger branch.
    #[arg(long, default_value = "origin")]
    pub remote: String,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on; loopback only (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The seed file (YAML): tenants, vaults and their secrets, users. See docs/azure.md.
    #[arg(long, value_name = "FILE")]
    pub seed: PathBuf,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Skip the checks that call Azure (secret existence, vault RBAC mode).
    #[arg(long)]
    pub offline: bool,
    /// Check the request files pull request N changes, with the checks that need GitHub
    /// (requester binding, code owners, commit authors), and update the PR's plan comment.
    /// In a `pull_request` workflow the number comes from GITHUB_EVENT_PATH.
    #[arg(long, value_name = "N")]
    pub pr: Option<u64>,
    /// Request files or folders (searched recursively for .yaml and .yml).
    #[arg(value_name = "PATH", default_value = "requests")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// A vault named in the config (default: the only one, if there is one).
    #[arg(long)]
    pub vault: Option<String>,
    /// The secret to read.
    #[arg(long)]
    pub secret: Option<String>,
    /// How long, e.g. 30m, 2h, 1h30m.
    #[arg(long)]
    pub duration: Option<String>,
    /// Why you need it; reviewers read this.
    #[arg(long)]
    pub justification: Option<String>,
    /// Your Entra user principal name (default: `git config user.email`).
    #[arg(long)]
    pub requester: Option<String>,
    /// A role alias the vault allows (default: the vault's first).
    #[arg(long)]
    pub role: Option<String>,
    /// Not before this instant (RFC 3339).
    #[arg(long)]
    pub start: Option<String>,
    /// Change or incident reference.
    #[arg(long)]
    pub ticket: Option<String>,
    /// The request id, i.e. the path below requests/ without .yaml (default: YEAR/USER-SECRET-MMDDHHMM).
    #[arg(long)]
    pub id: Option<String>,
    /// The requests folder.
    #[arg(long, value_name = "DIR", default_value = "requests")]
    pub dir: PathBuf,
    /// Write the request filed in issue N through the issue form (read through the GitHub API;
    /// the requester is the issue's author, through `identities`).
    #[arg(long, value_name = "N")]
    pub from_issue: Option<u64>,
}

fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 instant ({e}); e.g. 2026-11-27T09:00:00Z"))
}

/// `--format`: the core's [`Format`], as clap parses it (the core does not know about clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// `PATH:LINE:COL: error[CODE]: message`, with `help:` and `note:` lines.
    Text,
    /// One JSON document, for scripts.
    Json,
    /// Text plus GitHub Actions `::error` workflow commands (annotations on the diff).
    Github,
    /// Markdown (`kv-jit report` only).
    #[value(alias = "markdown")]
    Md,
    /// One self-contained HTML page (`kv-jit report` only).
    Html,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
            FormatArg::Github => Format::Github,
            // Only `kv-jit report` accepts them (checked before dispatch).
            FormatArg::Md | FormatArg::Html => Format::Text,
        }
    }
}
