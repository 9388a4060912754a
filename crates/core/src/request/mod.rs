//! Access request files (`requests/**.yaml`): the raw, position-keeping form read from YAML and
//! the validated [`Request`] that cannot hold an invalid request. Policy checks against the
//! config live in [`crate::policy`].

pub mod duration;
pub mod issue_form;

use std::fmt;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;

use crate::diag::{Code, DiagExt, Sink};
use crate::fields::{MapReader, Spanned};
use crate::names::{SecretName, VaultName};
use crate::yaml;

pub use duration::Duration;

pub const API_VERSION: &str = "kv-jit/v1";
pub const KIND: &str = "AccessRequest";

/// A request file as written. This type is also the source of the published JSON Schema
/// (`kv-jit schema`), so its documentation is what editors show.
#[derive(Debug, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "kv-jit access request",
    description = "A request for time-boxed access to one Azure Key Vault secret. File it under requests/ in a pull request; a CODEOWNER's review approves it."
)]
pub struct RawRequest {
    /// Always `kv-jit/v1`.
    #[serde(rename = "apiVersion")]
    #[schemars(required, extend("const" = "kv-jit/v1"))]
    pub api_version: Option<Spanned<String>>,
    /// Always `AccessRequest`.
    #[schemars(required, extend("const" = "AccessRequest"))]
    pub kind: Option<Spanned<String>>,
    /// Entra user principal name of the person who will read the secret.
    #[schemars(required, pattern(r"^[A-Za-z0-9._'+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"), extend("examples" = ["alice@contoso.com"]))]
    pub requester: Option<Spanned<String>>,
    /// A vault named in the config (`.github/kv-jit.yml`).
    #[schemars(
        required,
        pattern(r"^[A-Za-z](-?[A-Za-z0-9])+$"),
        length(min = 3, max = 24)
    )]
    pub vault: Option<Spanned<String>>,
    /// A secret on that vault's allow-list.
    #[schemars(required, pattern(r"^[0-9A-Za-z-]{1,127}$"))]
    pub secret: Option<Spanned<String>>,
    /// How long access lasts: minutes or hours (`30m`, `2h`, `1h30m`) or ISO 8601 (`PT2H`); at most the vault's `max_duration`.
    #[schemars(required, pattern(r"^(([0-9]+h)?([0-9]+m)?|PT([0-9]+H)?([0-9]+M)?)$"), extend("examples" = ["2h"]))]
    pub duration: Option<Spanned<String>>,
    /// Why access is needed; reviewers read this.
    #[schemars(required, length(min = 10, max = 1000))]
    pub justification: Option<Spanned<String>>,
    /// A role alias the vault allows; default: the vault's first role.
    pub role: Option<Spanned<String>>,
    /// Not before this instant (RFC 3339 with a time zone); default: as soon as approved and merged.
    #[schemars(extend("format" = "date-time"))]
    pub start: Option<Spanned<String>>,
    /// A change or incident reference; required where the vault's policy says so.
    #[schemars(pattern(r"^[A-Za-z0-9_#./-]{1,64}$"))]
    pub ticket: Option<Spanned<String>>,
    /// The id of an earlier request this one continues without a gap.
    #[schemars(pattern(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$"))]
    pub extends: Option<Spanned<String>>,
    /// Set to true in a later pull request to end access early.
    pub revoke: Option<Spanned<bool>>,
    /// Emergency access: granted on merge without code-owner approvals, only on a vault whose config allows it (`break_glass:`) and for at most its `break_glass.max_duration`; every owner of the file is told and a retrospective issue is opened. Not with `extends` or `start`.
    pub break_glass: Option<Spanned<bool>>,
    /// The issue (its number in this repository) the request was filed in through the issue form; written by `kv-jit new --from-issue`. A pull request opened by a bot is accepted only for the person who opened that issue.
    #[schemars(range(min = 1))]
    pub issue: Option<Spanned<u32>>,
}

/// The keys a request may hold, read from the schema so that the two cannot disagree.
pub fn known_keys() -> Vec<String> {
    KNOWN_KEYS.clone()
}

/// [`known_keys`], computed once: generating the schema costs far more than reading a request
/// file, so doing it per file made validating many files slow.
static KNOWN_KEYS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    let schema = schemars::schema_for!(RawRequest);
    schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
});

/// Reads a request file's bytes into its raw form; `None` if it is not a usable mapping.
pub fn parse_raw(bytes: &[u8], sink: &mut Sink) -> Option<RawRequest> {
    let node = yaml::parse(bytes, sink)?;
    let mut r = MapReader::new(&node, "a request", sink)?;
    let raw = RawRequest {
        api_version: r.string("apiVersion", sink),
        kind: r.string("kind", sink),
        requester: r.string("requester", sink),
        vault: r.string("vault", sink),
        secret: r.string("secret", sink),
        duration: r.string("duration", sink),
        justification: r.string("justification", sink),
        role: r.string("role", sink),
        start: r.string("start", sink),
        ticket: r.string("ticket", sink),
        extends: r.string("extends", sink),
        revoke: r.bool("revoke", sink),
        break_glass: r.bool("break_glass", sink),
        issue: r.uint("issue", sink),
    };
    r.require("apiVersion", &raw.api_version, "`kv-jit/v1`", sink);
    r.require("kind", &raw.kind, "`AccessRequest`", sink);
    r.require(
        "requester",
        &raw.requester,
        "your Entra user principal name, e.g. alice@contoso.com",
        sink,
    );
    r.require(
        "vault",
        &raw.vault,
        "a vault named in .github/kv-jit.yml",
        sink,
    );
    r.require("secret", &raw.secret, "the secret's name", sink);
    r.require(
        "duration",
        &raw.duration,
        "how long you need access, e.g. 2h",
        sink,
    );
    r.require(
        "justification",
        &raw.justification,
        "the reason reviewers will read",
        sink,
    );
    let known: Vec<&str> = KNOWN_KEYS.iter().map(String::as_str).collect();
    r.finish(&known, "a request", sink);
    for (field, expected) in [(&raw.api_version, API_VERSION), (&raw.kind, KIND)] {
        if let Some(v) = field
            && v.value != expected
        {
            sink.error(
                Code::ApiVersion,
                v.pos,
                format!(
                    "expected `{expected}`, found `{}`",
                    crate::names::escape(&v.value)
                ),
            )
            .with_help(format!("write `{expected}`"));
        }
    }
    Some(raw)
}

/// A request's id: its path below `requests/` without the extension, e.g. `2026/alice-api-key`.
/// Unique for all time; segments are letters, digits, `.`, `_`, `-`, never starting with a dot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 200 {
            return Err(format!(
                "request id `{}` must be 1 to 200 characters",
                crate::names::escape(s)
            ));
        }
        for seg in s.split('/') {
            let ok = !seg.is_empty()
                && !seg.starts_with('.')
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !ok {
                return Err(format!(
                    "request id `{}` has a bad path segment `{}`: use letters, digits, `.`, `_` and `-`, not starting with a dot",
                    crate::names::escape(s),
                    crate::names::escape(seg)
                ));
            }
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Entra user principal name (`local@domain`), restricted to characters that are safe in a
/// Graph URL path without escaping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Upn(String);

impl Upn {
    pub fn parse(s: &str) -> Result<Self, String> {
        let shown = crate::names::escape(s);
        let Some((local, domain)) = s.split_once('@') else {
            return Err(format!(
                "`{shown}` is not a user principal name (local@domain)"
            ));
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '\'' | '+'));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && domain.len() <= 253
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !local_ok || !domain_ok {
            return Err(format!(
                "`{shown}` is not a user principal name: expected local@domain.tld with ASCII letters, digits and `._-'+`"
            ));
        }
        Ok(Self(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Upn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A request that passed every check: names are URL-safe, the vault, secret and role are allowed
/// by the config, the duration is within the vault's maximum.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Request {
    pub id: RequestId,
    /// Where it was read from, for messages.
    pub path: String,
    /// Where `requester:`, `vault:` and `secret:` are, for checks made after validation (the
    /// PR author binding, the online existence check).
    #[serde(skip)]
    pub requester_pos: crate::diag::Pos,
    #[serde(skip)]
    pub vault_pos: crate::diag::Pos,
    #[serde(skip)]
    pub secret_pos: crate::diag::Pos,
    pub requester: Upn,
    pub vault: VaultName,
    pub secret: SecretName,
    pub duration: Duration,
    pub justification: String,
    /// The role alias and the role definition id it stands for (from the config).
    pub role: String,
    pub role_id: String,
    pub start: Option<DateTime<Utc>>,
    pub ticket: Option<String>,
    pub extends: Option<RequestId>,
    pub revoke: bool,
    /// `break_glass: true`, allowed by the vault (see [`crate::config::BreakGlass`]).
    pub break_glass: bool,
    /// The issue the request was filed in (`issue: N`), if any.
    pub issue: Option<u64>,
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(RequestId::parse("2026/alice-api-key").is_ok());
        assert!(RequestId::parse("a.b_c-d").is_ok());
        for bad in [
            "", "../x", "a//b", ".hidden", "a/./b", "a b", "a?b", "é", "a\\b",
        ] {
            assert!(RequestId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn upns() {
        assert_eq!(
            Upn::parse("Alice@Contoso.com").unwrap().as_str(),
            "alice@contoso.com"
        );
        for bad in [
            "alice",
            "@contoso.com",
            "alice@",
            "alice@contoso",
            "a/b@c.com",
            "a@b@c.com",
            "a%40@c.com",
            "a@c.com/x",
            "a@-c.com",
            "алиса@c.com",
            "a b@c.com",
        ] {
            assert!(Upn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn known_keys_come_from_the_schema() {
        let keys = known_keys();
        assert!(keys.contains(&"apiVersion".to_owned()));
        assert!(keys.contains(&"revoke".to_owned()));
        assert_eq!(keys.len(), 14);
    }

    #[test]
    fn raw_parse_reports_every_field_problem() {
        let mut sink = Sink::new("r.yaml");
        let raw = parse_raw(
            b"apiVersion: v2\nkind: AccessRequest\nvault: [a]\nscope: secret\nrevoke: \"yes\"\n",
            &mut sink,
        )
        .unwrap();
        assert!(raw.vault.is_none());
        let got: Vec<String> = sink
            .diags
            .iter()
            .map(|d| format!("{}:{}", d.code, d.line))
            .collect();
        assert_eq!(
            got,
            [
                "wrong-type:3",
                "wrong-type:5",
                "missing-field:1",
                "missing-field:1",
                "missing-field:1",
                "missing-field:1",
                "unknown-key:4",
                "api-version:1"
            ]
        );
    }
}
