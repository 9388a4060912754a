//! The config file (`.github/kv-jit.yml`): one section per vault, the seed flow's environment
//! variables as reviewable code. Read with the same strict YAML rules as requests, validated into
//! a [`Config`] that keeps the positions of the rules so diagnostics can point at them.

use std::collections::BTreeMap;

use crate::azure::Endpoints;
use crate::diag::{Code, DiagExt, Pos, Sink};
use crate::fields::{MapReader, Spanned};
use crate::names::{SecretName, VaultName, escape};
use crate::request::{Duration, Upn};
use crate::yaml::{self, Entry};

pub const DEFAULT_PATH: &str = ".github/kv-jit.yml";

/// Built-in role aliases (Azure built-in role definition ids, the same in every cloud).
pub const BUILTIN_ROLES: [(&str, &str); 3] = [
    ("secrets-user", "4633458b-17de-408a-b874-0445c86b69e6"),
    ("secrets-officer", "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"),
    ("reader", "21090545-7ca7-4776-b22c-e363652d74d2"),
];

#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, for notes that point into it.
    pub path: String,
    pub tenant_id: String,
    /// The Azure cloud's endpoints, by name or explicit (e.g. the emulator's).
    pub cloud: Endpoints,
    /// Alias → role definition id (GUID).
    pub roles: BTreeMap<String, String>,
    pub vaults: BTreeMap<VaultName, VaultPolicy>,
    /// Where `vaults:` is, for notes about unknown vaults.
    pub vaults_pos: Pos,
    /// GitHub login (lowercase) → the principal it may request for.
    pub identities: BTreeMap<String, Upn>,
    pub teams_webhook_env: Option<String>,
    pub ledger_path: String,
    pub ledger_branch: String,
}

pub const CLOUD_NAMES: [&str; 3] = ["AzureCloud", "AzureUSGovernment", "AzureChinaCloud"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Vault,
    Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expiry {
    Revoker,
    Pim,
}

#[derive(Debug, Clone)]
pub struct VaultPolicy {
    pub name: VaultName,
    /// Where the vault's section starts.
    pub pos: Pos,
    pub subscription_id: String,
    pub resource_group: String,
    pub secrets: Spanned<Vec<SecretPattern>>,
    pub max_duration: Spanned<Duration>,
    /// Allowed role aliases, first is the default.
    pub roles: Spanned<Vec<String>>,
    pub scope: Scope,
    pub approvals: u32,
    pub require_ticket: Spanned<bool>,
    pub expiry: Expiry,
    /// How far after its merge a request's `start:` may lie (default 30 days): an approval is
    /// for a window the approvers can foresee, not a standing option.
    pub max_start_delay: Spanned<Duration>,
    /// `break_glass: {max_duration: 1h}`: requests with `break_glass: true` are granted on merge
    /// without code-owner approvals (an admin merged past branch protection), every other rule
    /// still holding; absent, break-glass is not allowed on this vault.
    pub break_glass: Option<BreakGlass>,
}

/// A vault's break-glass allowance.
#[derive(Debug, Clone)]
pub struct BreakGlass {
    /// The longest a break-glass request may ask for (at most the vault's `max_duration`).
    pub max_duration: Spanned<Duration>,
    /// Where `break_glass:` is, for notes.
    pub pos: Pos,
}

/// The default `max_start_delay`: 30 days.
pub const DEFAULT_MAX_START_DELAY_MINUTES: u32 = 30 * 24 * 60;

/// An allow-list entry: an exact secret name or a glob with `*` and `?` over whole names.
#[derive(Debug, Clone)]
pub struct SecretPattern {
    pub text: String,
    pattern: glob::Pattern,
}

impl SecretPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let literal: String = text.chars().filter(|c| !matches!(c, '*' | '?')).collect();
        if literal.is_empty() && text.is_empty() {
            return Err("an allow-list entry is empty".into());
        }
        if !literal.is_empty() {
            SecretName::parse(&literal)
                .map_err(|e| format!("allow-list entry `{}`: {e}", escape(text)))?;
        }
        let pattern = glob::Pattern::new(text)
            .map_err(|e| format!("allow-list entry `{}`: {e}", escape(text)))?;
        Ok(Self {
            text: text.to_owned(),
            pattern,
        })
    }

    /// Whole-name match; secret names hold no `/`, so `*` cannot cross anything.
    pub fn matches(&self, secret: &SecretName) -> bool {
        self.pattern.matches(secret.as_str())
    }
}

impl VaultPolicy {
    /// The names of the fields in which two policies for one vault differ: every rule, by an
    /// exhaustive destructuring (a field added later does not compile until it is compared
    /// here); positions are not policy, and `approvals` is left out (the larger one applies).
    pub fn differences(&self, before: &VaultPolicy) -> Vec<&'static str> {
        let VaultPolicy {
            name,
            pos: _,
            subscription_id,
            resource_group,
            secrets,
            max_duration,
            roles,
            scope,
            approvals: _,
            require_ticket,
            expiry,
            max_start_delay,
            break_glass,
        } = self;
        let texts =
            |p: &[SecretPattern]| -> Vec<String> { p.iter().map(|s| s.text.clone()).collect() };
        [
            ("name", *name == before.name),
            (
                "subscription_id",
                *subscription_id == before.subscription_id,
            ),
            ("resource_group", *resource_group == before.resource_group),
            (
                "secrets",
                texts(&secrets.value) == texts(&before.secrets.value),
            ),
            (
                "max_duration",
                max_duration.value == before.max_duration.value,
            ),
            ("roles", roles.value == before.roles.value),
            ("scope", *scope == before.scope),
            (
                "require_ticket",
                require_ticket.value == before.require_ticket.value,
            ),
            ("expiry", *expiry == before.expiry),
            (
                "max_start_delay",
                max_start_delay.value == before.max_start_delay.value,
            ),
            (
                "break_glass",
                break_glass.as_ref().map(|b| b.max_duration.value)
                    == before.break_glass.as_ref().map(|b| b.max_duration.value),
            ),
        ]
        .into_iter()
        .filter(|(_, same)| !same)
        .map(|(field, _)| field)
        .collect()
    }

    pub fn allows_secret(&self, secret: &SecretName) -> bool {
        self.secrets.value.iter().any(|p| p.matches(secret))
    }

    /// ARM scope of the vault.
    pub fn vault_scope(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{}",
            self.subscription_id, self.resource_group, self.name
        )
    }
}

/// Reads and validates a config file. `None` (with diagnostics in `sink`) if it has any error:
/// a half-valid policy is never used.
pub fn parse(bytes: &[u8], sink: &mut Sink) -> Option<Config> {
    let path = sink.file().to_owned();
    let node = yaml::parse(bytes, sink)?;
    let mut r = MapReader::new(&node, "the config", sink)?;

    let tenant_id = r
        .string("tenant_id", sink)
        .and_then(|t| guid(&t, "tenant_id", sink));
    r.require(
        "tenant_id",
        &tenant_id,
        "the Entra tenant id (a GUID)",
        sink,
    );

    let cloud = read_cloud(&mut r, sink);

    let mut roles: BTreeMap<String, String> = BUILTIN_ROLES
        .iter()
        .map(|(a, id)| ((*a).to_owned(), (*id).to_owned()))
        .collect();
    if let Some((_, entries)) = r.entries("roles", sink) {
        for e in entries {
            if !is_alias(&e.key) {
                sink.error(
                    Code::InvalidConfig,
                    e.key_pos,
                    format!(
                        "role alias `{}` must be lowercase letters, digits and dashes",
                        escape(&e.key)
                    ),
                );
                continue;
            }
            if let Some(id) =
                scalar(e, "a role definition id (GUID)", sink).and_then(|v| guid(&v, &e.key, sink))
            {
                roles.insert(e.key.clone(), id.value.to_ascii_lowercase());
            }
        }
    }

    let mut vaults = BTreeMap::new();
    let vaults_pos = r.key_pos("vaults").unwrap_or(Pos::START);
    match r.entries("vaults", sink) {
        Some((pos, [])) => {
            sink.error(Code::InvalidConfig, pos, "`vaults` is empty")
                .with_help("configure at least one vault");
        }
        Some((_, entries)) => {
            for e in entries {
                if let Some(v) = read_vault(e, &roles, sink) {
                    vaults.insert(v.name.clone(), v);
                }
            }
        }
        None => {
            let none: Option<()> = None;
            r.require("vaults", &none, "one section per vault", sink);
        }
    }

    let mut identities = BTreeMap::new();
    if let Some((_, entries)) = r.entries("identities", sink) {
        for e in entries {
            if !is_github_login(&e.key) {
                sink.error(
                    Code::InvalidConfig,
                    e.key_pos,
                    format!("`{}` is not a GitHub login", escape(&e.key)),
                )
                .with_help("logins are letters, digits and single dashes, at most 39 characters");
                continue;
            }
            let Some(v) = scalar(e, "a user principal name", sink) else {
                continue;
            };
            match Upn::parse(&v.value) {
                Ok(upn) => {
                    if identities.insert(e.key.to_ascii_lowercase(), upn).is_some() {
                        sink.error(
                            Code::DuplicateKey,
                            e.key_pos,
                            format!("login `{}` is listed twice (logins ignore case)", e.key),
                        );
                    }
                }
                Err(m) => {
                    sink.error(Code::InvalidConfig, v.pos, m);
                }
            }
        }
    }

    let mut teams_webhook_env = None;
    if let Some(node) = r.node("notify")
        && let Some(mut n) = MapReader::new(node, "`notify`", sink)
    {
        if let Some(v) = n.string("teams_webhook_env", sink) {
            if v.value.starts_with("http") {
                sink.error(Code::InvalidConfig, v.pos, "`teams_webhook_env` holds a URL; it must name the environment variable that holds the URL")
                        .with_help("store the webhook URL as a repository secret and write its variable name here, e.g. KV_JIT_TEAMS_WEBHOOK");
            } else if !is_env_name(&v.value) {
                sink.error(
                    Code::InvalidConfig,
                    v.pos,
                    format!("`{}` is not an environment variable name", escape(&v.value)),
                );
            } else {
                teams_webhook_env = Some(v.value);
            }
        }
        n.finish(&["teams_webhook_env"], "`notify`", sink);
    }

    let (mut ledger_path, mut ledger_branch) = ("audit/ledger.jsonl".to_owned(), "main".to_owned());
    if let Some(node) = r.node("ledger")
        && let Some(mut l) = MapReader::new(node, "`ledger`", sink)
    {
        if let Some(p) = l.string("path", sink) {
            if is_repo_relative_path(&p.value) {
                ledger_path = p.value;
            } else {
                sink.error(
                    Code::InvalidConfig,
                    p.pos,
                    format!(
                        "ledger path `{}` must be a relative path inside the repository",
                        escape(&p.value)
                    ),
                );
            }
        }
        if let Some(b) = l.string("branch", sink) {
            if is_branch_name(&b.value) {
                ledger_branch = b.value;
            } else {
                sink.error(
                    Code::InvalidConfig,
                    b.pos,
                    format!("`{}` is not a valid branch name", escape(&b.value)),
                );
            }
        }
        l.finish(&["path", "branch"], "`ledger`", sink);
    }

    r.finish(
        &[
            "tenant_id",
            "cloud",
            "roles",
            "vaults",
            "identities",
            "notify",
            "ledger",
        ],
        "the config",
        sink,
    );

    if sink.has_errors() {
        return None;
    }
    Some(Config {
        path,
        tenant_id: tenant_id?.value.to_ascii_lowercase(),
        cloud: cloud?,
        roles,
        vaults,
        vaults_pos,
        identities,
        teams_webhook_env,
        ledger_path,
        ledger_branch,
    })
}

fn read_cloud(r: &mut MapReader<'_>, sink: &mut Sink) -> Option<Endpoints> {
    let Some(node) = r.node("cloud") else {
        return Endpoints::named("AzureCloud");
    };
    if let yaml::Value::Scalar { text, .. } = &node.value {
        if let Some(endpoints) = Endpoints::named(text) {
            return Some(endpoints);
        }
        sink.error(
            Code::InvalidConfig,
            node.pos,
            format!("unknown cloud `{}`", escape(text)),
        )
        .with_help(format!(
            "use one of {} or a mapping of explicit endpoints",
            CLOUD_NAMES.join(", ")
        ));
        return None;
    }
    let mut c = MapReader::new(node, "`cloud`", sink)?;
    let url = |key: &str, c: &mut MapReader<'_>, sink: &mut Sink| -> Option<url::Url> {
        let v = c.string(key, sink);
        c.require(key, &v, "an https URL", sink);
        let v = v?;
        match crate::azure::parse_endpoint_url(&v.value) {
            Ok(u) => Some(u),
            Err(m) => {
                // Plain http is the one mistake that leaks tokens; it gets its own code.
                let code = if v.value.starts_with("http://") {
                    Code::InsecureEndpoint
                } else {
                    Code::InvalidConfig
                };
                sink.error(code, v.pos, m).with_help(
                    "use https://, or http:// only for a loopback address (the emulator)",
                );
                None
            }
        }
    };
    let authority_host = url("authority_host", &mut c, sink);
    let resource_manager = url("resource_manager", &mut c, sink);
    let graph = url("graph", &mut c, sink);
    let audience = c.string("token_exchange_audience", sink).map(|v| v.value);
    c.finish(
        &[
            "authority_host",
            "resource_manager",
            "graph",
            "token_exchange_audience",
        ],
        "`cloud`",
        sink,
    );
    Some(Endpoints {
        authority_host: authority_host?,
        resource_manager: resource_manager?,
        graph: graph?,
        token_exchange_audience: audience.unwrap_or_else(|| "api://AzureADTokenExchange".into()),
    })
}

fn read_vault(e: &Entry, roles: &BTreeMap<String, String>, sink: &mut Sink) -> Option<VaultPolicy> {
    let name = match VaultName::parse(&e.key) {
        Ok(n) => Some(n),
        Err(err) => {
            sink.error(Code::InvalidVaultName, e.key_pos, err.0);
            None
        }
    };
    let what = format!("vault `{}`", escape(&e.key));
    let mut v = MapReader::new(&e.value, &what, sink)?;
    let subscription_id = v
        .string("subscription_id", sink)
        .and_then(|s| guid(&s, "subscription_id", sink));
    v.require(
        "subscription_id",
        &subscription_id,
        "the vault's subscription id (a GUID)",
        sink,
    );
    let resource_group = v.string("resource_group", sink).filter(|rg| {
        let ok = !rg.value.is_empty()
            && rg.value.len() <= 90
            && !rg.value.ends_with('.')
            && rg
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
        if !ok {
            sink.error(
                Code::InvalidConfig,
                rg.pos,
                format!("`{}` is not a resource group name", escape(&rg.value)),
            )
            .with_help("1-90 letters, digits, `-_.()`, not ending with a dot");
        }
        ok
    });
    v.require(
        "resource_group",
        &resource_group,
        "the vault's resource group",
        sink,
    );

    let secrets = v.string_list("secrets", sink).and_then(|list| {
        if list.value.is_empty() {
            sink.error(
                Code::InvalidConfig,
                list.pos,
                "the allow-list `secrets` is empty",
            )
            .with_help("list the secrets that may be requested");
            return None;
        }
        let mut out = Vec::new();
        for item in &list.value {
            match SecretPattern::parse(&item.value) {
                Ok(p) => out.push(p),
                Err(m) => {
                    sink.error(Code::InvalidGlob, item.pos, m)
                        .with_help("use secret names, with `*` or `?` as wildcards");
                }
            }
        }
        (out.len() == list.value.len()).then(|| Spanned::new(out, list.pos))
    });
    v.require(
        "secrets",
        &secrets,
        "the allow-list of secret names or globs",
        sink,
    );

    let max_duration =
        v.string("max_duration", sink)
            .and_then(|d| match Duration::parse(&d.value) {
                Ok(dur) => Some(Spanned::new(dur, d.pos)),
                Err(err) => {
                    let diag = sink.error(Code::InvalidDuration, d.pos, err.message);
                    if let Some(h) = err.help {
                        diag.with_help(h);
                    }
                    None
                }
            });
    v.require(
        "max_duration",
        &max_duration,
        "the longest duration a request may ask for, e.g. 4h",
        sink,
    );

    let role_list = match v.string_list("roles", sink) {
        Some(list) if list.value.is_empty() => {
            sink.error(Code::InvalidConfig, list.pos, "`roles` is empty")
                .with_help("list at least one role alias, e.g. [secrets-user]");
            None
        }
        Some(list) => {
            let mut ok = true;
            for item in &list.value {
                if !roles.contains_key(&item.value) {
                    ok = false;
                    sink.error(
                        Code::RoleNotAllowed,
                        item.pos,
                        format!("unknown role alias `{}`", escape(&item.value)),
                    )
                    .with_help(format!(
                        "define it under `roles:` or use one of: {}",
                        roles.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            ok.then(|| {
                Spanned::new(
                    list.value.iter().map(|i| i.value.clone()).collect(),
                    list.pos,
                )
            })
        }
        None if v.key_pos("roles").is_some() => None,
        None => Some(Spanned::new(vec!["secrets-user".to_owned()], e.value.pos)),
    };

    let scope = match v.string("scope", sink) {
        None => Some(Scope::Vault),
        Some(s) if s.value == "vault" => Some(Scope::Vault),
        Some(s) if s.value == "secret" => Some(Scope::Secret),
        Some(s) => {
            sink.error(
                Code::InvalidConfig,
                s.pos,
                format!("unknown scope `{}`", escape(&s.value)),
            )
            .with_help("use `vault` or `secret`");
            None
        }
    };
    let approvals = match v.uint("approvals", sink) {
        None => Some(1),
        Some(a) if (1..=10).contains(&a.value) => Some(a.value),
        Some(a) => {
            sink.error(
                Code::InvalidConfig,
                a.pos,
                format!("`approvals: {}` is out of range", a.value),
            )
            .with_help("use 1 to 10 distinct code-owner approvals");
            None
        }
    };
    let require_ticket = v
        .bool("require_ticket", sink)
        .unwrap_or(Spanned::new(false, e.value.pos));
    let expiry = match v.string("expiry", sink) {
        None => Some(Expiry::Revoker),
        Some(s) if s.value == "revoker" => Some(Expiry::Revoker),
        Some(s) if s.value == "pim" => Some(Expiry::Pim),
        Some(s) => {
            sink.error(
                Code::InvalidConfig,
                s.pos,
                format!("unknown expiry `{}`", escape(&s.value)),
            )
            .with_help("use `revoker` or `pim`");
            None
        }
    };
    let max_start_delay = match v.string("max_start_delay", sink) {
        None => Duration::from_minutes(DEFAULT_MAX_START_DELAY_MINUTES)
            .map(|d| Spanned::new(d, e.value.pos)),
        Some(d) => match Duration::parse(&d.value) {
            Ok(dur) => Some(Spanned::new(dur, d.pos)),
            Err(err) => {
                let diag = sink.error(Code::InvalidDuration, d.pos, err.message);
                if let Some(h) = err.help {
                    diag.with_help(h);
                }
                None
            }
        },
    };
    let break_glass = read_break_glass(&mut v, max_duration.as_ref(), sink);
    v.finish(
        &[
            "subscription_id",
            "resource_group",
            "secrets",
            "max_duration",
            "roles",
            "scope",
            "approvals",
            "require_ticket",
            "expiry",
            "max_start_delay",
            "break_glass",
        ],
        &what,
        sink,
    );
    Some(VaultPolicy {
        name: name?,
        pos: e.key_pos,
        subscription_id: subscription_id?.value.to_ascii_lowercase(),
        resource_group: resource_group?.value,
        secrets: secrets?,
        max_duration: max_duration?,
        roles: role_list?,
        scope: scope?,
        approvals: approvals?,
        require_ticket,
        expiry: expiry?,
        max_start_delay: max_start_delay?,
        break_glass: break_glass?,
    })
}

/// `break_glass: {max_duration: D}`: `Some(None)` when absent (not allowed), `None` when invalid.
/// The break-glass maximum may not exceed the vault's own `max_duration`: break-glass skips the
/// approvals, never the policy.
fn read_break_glass(
    v: &mut MapReader<'_>,
    vault_max: Option<&Spanned<Duration>>,
    sink: &mut Sink,
) -> Option<Option<BreakGlass>> {
    let Some(pos) = v.key_pos("break_glass") else {
        return Some(None);
    };
    let Some(node) = v.node("break_glass") else {
        sink.error(Code::InvalidConfig, pos, "`break_glass` is empty")
            .with_help(
                "write `break_glass: {max_duration: 1h}`, or leave it out to forbid break-glass",
            );
        return None;
    };
    let mut b = MapReader::new(node, "`break_glass`", sink)?;
    let max = b.string("max_duration", sink);
    b.require(
        "max_duration",
        &max,
        "the longest a break-glass request may ask for, e.g. 1h",
        sink,
    );
    b.finish(&["max_duration"], "`break_glass`", sink);
    let max = max?;
    let dur = match Duration::parse(&max.value) {
        Ok(d) => d,
        Err(err) => {
            let diag = sink.error(Code::InvalidDuration, max.pos, err.message);
            if let Some(h) = err.help {
                diag.with_help(h);
            }
            return None;
        }
    };
    if let Some(vault_max) = vault_max
        && dur > vault_max.value
    {
        let file = sink.file().to_owned();
        sink.error(
            Code::InvalidConfig,
            max.pos,
            format!(
                "`break_glass.max_duration: {dur}` is over the vault's `max_duration: {}`",
                vault_max.value
            ),
        )
        .with_help("break-glass skips approvals, not the policy: use the vault's maximum or less")
        .with_note(&file, vault_max.pos, "max_duration set here");
        return None;
    }
    Some(Some(BreakGlass {
        max_duration: Spanned::new(dur, max.pos),
        pos,
    }))
}

fn scalar(e: &Entry, what: &str, sink: &mut Sink) -> Option<Spanned<String>> {
    match &e.value.value {
        yaml::Value::Scalar { text, .. } if !e.value.is_null() => {
            Some(Spanned::new(text.clone(), e.value.pos))
        }
        yaml::Value::Invalid => None,
        _ => {
            sink.error(
                Code::WrongType,
                e.value.pos,
                format!(
                    "`{}` must be {what}, found {}",
                    escape(&e.key),
                    e.value.kind()
                ),
            );
            None
        }
    }
}

/// A GUID as the config writes one: `00000000-0000-0000-0000-000000000000` (any hex case).
pub fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn guid(v: &Spanned<String>, key: &str, sink: &mut Sink) -> Option<Spanned<String>> {
    let s = &v.value;
    if is_guid(s) {
        Some(v.clone())
    } else {
        sink.error(
            Code::InvalidConfig,
            v.pos,
            format!(
                "`{key}` must be a GUID like 00000000-0000-0000-0000-000000000000, found `{}`",
                escape(s)
            ),
        );
        None
    }
}

fn is_alias(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A GitHub login: letters, digits and single dashes, at most 39 characters.
pub fn is_github_login(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 39
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_env_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn is_repo_relative_path(s: &str) -> bool {
    !s.starts_with('/')
        && !s.contains('\\')
        && s.split('/')
            .all(|seg| !seg.is_empty() && seg != ".." && seg != "." && seg != ".git")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
}

fn is_branch_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['-', '/', '.'])
        && !s.ends_with(['/', '.'])
        && !s.contains("..")
        && !s.contains("//")
        && !s.ends_with(".lock")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
}

#[cfg(test)]
mod tests;
