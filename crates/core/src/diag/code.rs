//! The diagnostic codes. Stable identifiers: scripts and docs rely on them, so a code is never
//! renamed or reused. The README's table is checked against [`Code::ALL`] by a test.

use serde::Serialize;

macro_rules! codes {
    ($($variant:ident => $name:literal, $desc:literal;)*) => {
        /// A stable, kebab-case diagnostic code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $($variant),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name),* }
            }

            /// One line for the README's table and `--help` texts.
            pub fn description(self) -> &'static str {
                match self { $(Code::$variant => $desc),* }
            }
        }
    };
}

codes! {
    // Reading the file.
    ReadError => "read-error", "the file could not be read (permissions, not UTF-8, a symlink)";
    FileTooLarge => "file-too-large", "the file is over the 64 KiB cap";
    // YAML structure.
    YamlSyntax => "yaml-syntax", "the file is not valid YAML";
    EmptyFile => "empty-file", "the file holds no document";
    MultipleDocuments => "multiple-documents", "more than one YAML document (`---`) in one file";
    NotAMapping => "not-a-mapping", "the document (or a section) is not a mapping of keys to values";
    YamlAnchor => "yaml-anchor", "YAML anchors (`&name`) are not allowed";
    YamlAlias => "yaml-alias", "YAML aliases (`*name`) are not allowed";
    YamlMergeKey => "yaml-merge-key", "YAML merge keys (`<<`) are not allowed";
    YamlTag => "yaml-tag", "YAML tags (`!tag`, `!!str`) are not allowed";
    TooDeep => "too-deep", "the document nests deeper than any valid file";
    DuplicateKey => "duplicate-key", "a key appears twice in one mapping";
    UnknownKey => "unknown-key", "a key that the format does not define";
    MissingField => "missing-field", "a required field is absent";
    WrongType => "wrong-type", "a value of the wrong type (e.g. a list where text belongs)";
    EmptyValue => "empty-value", "a required value is empty";
    // Request fields.
    ApiVersion => "api-version", "`apiVersion` is not `kv-jit/v1` or `kind` is not `AccessRequest`";
    InvalidRequestId => "invalid-request-id", "the file's path does not make a valid request id";
    DuplicateRequestId => "duplicate-request-id", "two files map to the same request id";
    InvalidRequester => "invalid-requester", "`requester` is not a user principal name (local@domain)";
    InvalidVaultName => "invalid-vault-name", "not a valid Key Vault name (3-24 letters, digits, dashes)";
    InvalidSecretName => "invalid-secret-name", "not a valid Key Vault secret name (letters, digits, dashes)";
    UnknownVault => "unknown-vault", "the vault is not configured in `.github/kv-jit.yml`";
    SecretNotAllowed => "secret-not-allowed", "the secret is not on the vault's allow-list";
    RoleNotAllowed => "role-not-allowed", "the role is unknown or the vault does not allow it";
    InvalidDuration => "invalid-duration", "the duration is not like `30m`, `2h`, `1h30m` or `PT2H`, or is zero";
    DurationTooLong => "duration-too-long", "the duration is over the vault's `max_duration`";
    InvalidJustification => "invalid-justification", "the justification is too short, too long or has control characters";
    InvalidStart => "invalid-start", "`start` is not an RFC 3339 instant with a time zone";
    WindowEnded => "window-ended", "the access window (start + duration) has already ended";
    TicketRequired => "ticket-required", "the vault requires a `ticket` and none is given";
    InvalidTicket => "invalid-ticket", "the ticket reference has characters outside letters, digits and `-_#./`";
    InvalidExtends => "invalid-extends", "`extends` is not the id of another request";
    BreakGlassNotAllowed => "break-glass-not-allowed", "`break_glass: true` on a vault whose config has no `break_glass` section";
    BreakGlassTooLong => "break-glass-too-long", "a break-glass duration over the vault's `break_glass.max_duration`";
    BreakGlassConflict => "break-glass-conflict", "`break_glass: true` with `extends:` or `start:` (a break-glass request starts at its merge and stands alone)";
    SecretNotFound => "secret-not-found", "the secret does not exist in the vault (online check)";
    VaultNotRbac => "vault-not-rbac", "the vault does not use Azure RBAC authorization (online check)";
    AzureCheckFailed => "azure-check-failed", "the online existence check could not be completed";
    // Pull request checks (`validate --pr`).
    RequesterNotBound => "requester-not-bound", "the PR author may not request for this requester (`identities` on the default branch)";
    NoCodeOwner => "no-code-owner", "no CODEOWNERS entry on the default branch owns the request file, so nobody can approve it";
    ForeignCommit => "foreign-commit", "a commit by someone other than the PR author changes the request";
    GithubCheckFailed => "github-check-failed", "a pull request check could not be completed through the GitHub API";
    ChangesOutsideRequests => "changes-outside-requests", "a request pull request also changes files outside `requests/` (config, CODEOWNERS, workflows and the ledger change in their own pull requests)";
    // Configuration.
    InvalidConfig => "invalid-config", "a configuration value is invalid (see the message)";
    InsecureEndpoint => "insecure-endpoint", "an endpoint uses plain http on a non-loopback host";
    InvalidGlob => "invalid-glob", "an allow-list entry is not a valid secret name or glob";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let mut seen = HashSet::new();
        for code in Code::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{s}");
            assert!(!code.description().is_empty());
        }
    }
}
