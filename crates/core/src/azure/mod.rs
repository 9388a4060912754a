//! The Azure model: what kv-jit asks Azure for and what it gets back, as plain values. The
//! engine's `Azure` port speaks these; `kv_jit_effects::azure::AzureClient` implements it over
//! HTTP. The rules that need no I/O live here too: the deterministic assignment name, kv-jit's
//! marker, which assignments kv-jit created, the error classes and the allowed endpoints.

pub mod cloud;
pub mod error;

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

pub use cloud::{Endpoints, parse_endpoint_url};
pub use error::{AzureError, ErrorClass};

use crate::names::{SecretName, VaultName};

/// The least-privilege role kv-jit's own identity needs on each managed vault.
pub const TOOL_ROLE: &str = "Key Vault Data Access Administrator";

/// A vault as the config names it; the fields become ARM URL segments, so they are checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VaultRef {
    subscription_id: String,
    resource_group: String,
    vault: VaultName,
}

impl VaultRef {
    /// Refuses a subscription id that is not a GUID and a resource-group name outside Azure's
    /// rules (1-90 of letters, digits, `-_.()`, not ending in `.`).
    pub fn new(
        subscription_id: &str,
        resource_group: &str,
        vault: VaultName,
    ) -> Result<Self, String> {
        let sub = Uuid::parse_str(subscription_id).map_err(|_| {
            format!("subscription id `{subscription_id}` is not a GUID (e.g. 00000000-0000-0000-0000-000000000000)")
        })?;
        let rg_ok = (1..=90).contains(&resource_group.len())
            && !resource_group.ends_with('.')
            && resource_group
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c));
        if !rg_ok {
            return Err(format!(
                "resource group `{resource_group}` is not a valid name: 1-90 ASCII letters, digits, `-_.()`, not ending in `.`"
            ));
        }
        Ok(VaultRef {
            subscription_id: sub.hyphenated().to_string(),
            resource_group: resource_group.to_owned(),
            vault,
        })
    }

    pub fn subscription_id(&self) -> &str {
        &self.subscription_id
    }
    pub fn resource_group(&self) -> &str {
        &self.resource_group
    }
    pub fn vault(&self) -> &VaultName {
        &self.vault
    }

    /// `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{vault}`
    pub fn scope(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{}",
            self.subscription_id,
            self.resource_group,
            self.vault.as_str()
        )
    }

    /// The vault scope plus `/secrets/{secret}`.
    pub fn secret_scope(&self, secret: &SecretName) -> String {
        format!("{}/secrets/{}", self.scope(), secret.as_str())
    }
}

/// Where an assignment lives: the whole vault, or one secret in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub vault: VaultRef,
    /// `None`: vault scope; `Some`: single-secret scope.
    pub secret: Option<SecretName>,
}

impl Target {
    pub fn scope(&self) -> String {
        match &self.secret {
            None => self.vault.scope(),
            Some(s) => self.vault.secret_scope(s),
        }
    }
}

/// ARM's `principalType`; always sent so a just-created principal survives replication lag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalType {
    User,
    Group,
    ServicePrincipal,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::User => "User",
            PrincipalType::Group => "Group",
            PrincipalType::ServicePrincipal => "ServicePrincipal",
        }
    }
}

/// An Entra principal by object id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Principal {
    pub object_id: Uuid,
    pub kind: PrincipalType,
}

/// How a grant ends: kv-jit's scheduled revoker DELETEs it, or PIM ends it by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExpiryMode {
    #[default]
    Revoker,
    Pim,
}

/// One grant to make.
#[derive(Debug, Clone)]
pub struct GrantSpec {
    /// The request id (path below `requests/` without extension); no whitespace.
    pub request_id: String,
    pub target: Target,
    /// The role definition GUID (e.g. Key Vault Secrets User 4633458b-…).
    pub role: Uuid,
    pub principal: Principal,
    /// When access starts (PIM schedules from it; plain assignments start at once).
    pub starts_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub mode: ExpiryMode,
    /// PIM justification (plain assignments carry only the marker).
    pub justification: Option<String>,
}

impl GrantSpec {
    /// The request id goes into kv-jit's marker (`request=<id>`), whose words are split on
    /// whitespace: an empty id or one with whitespace could not be read back.
    pub fn check_request_id(&self, what: &str) -> Result<(), AzureError> {
        if self.request_id.is_empty() || self.request_id.contains(char::is_whitespace) {
            return Err(AzureError::Invalid {
                what: what.into(),
                detail: format!(
                    "request id `{}` is empty or has whitespace; it cannot go into the marker",
                    self.request_id
                ),
            });
        }
        Ok(())
    }
}

/// One grant to end; the same request id and target give the same deterministic name.
#[derive(Debug, Clone)]
pub struct RevokeSpec {
    pub request_id: String,
    /// The assignment to delete when it is known (the ledger recorded it, or reconcile listed
    /// it); `None`: the deterministic name of `request_id`. An extension shares the assignment
    /// of the grant it extends, so its name is not its own.
    pub name: Option<Uuid>,
    pub target: Target,
    pub role: Uuid,
    pub principal: Principal,
    pub mode: ExpiryMode,
}

/// A role assignment as Azure reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Full ARM id (`{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`); for a
    /// PIM grant, the schedule request id.
    pub id: String,
    pub name: String,
    pub scope: String,
    /// Role definition GUID (Azure returns the id in more than one form; this is its tail).
    pub role: String,
    pub principal_id: String,
    pub principal_type: Option<String>,
    pub description: Option<String>,
    /// Present when the description carries kv-jit's marker.
    pub marker: Option<Marker>,
    /// Set only by [`Azure::grant`] when a 409 `RoleAssignmentExists` resolved to kv-jit's own
    /// assignment for an earlier request (an extension) and rewriting its marker failed (Azure
    /// may refuse to change an existing assignment: `RoleAssignmentUpdateNotPermitted`). The
    /// grant is in effect, but [`Assignment::marker`] is still the OLD one (the earlier request
    /// and its earlier expiry), so anything that reads markers (reconcile, the expiry sweep)
    /// would end the shared assignment at the old expiry. `None` otherwise.
    pub marker_not_updated: Option<MarkerNotUpdated>,
}

/// Why the marker of an existing assignment was not rewritten; see
/// [`Assignment::marker_not_updated`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerNotUpdated {
    /// The marker kv-jit tried to write: this request and its expiry.
    pub wanted: Marker,
    /// What Azure answered (e.g. `HTTP 400 RoleAssignmentUpdateNotPermitted: …`).
    pub reason: String,
    /// Whether rewriting it again later may work (a refusal is permanent; an outage is not).
    pub class: ErrorClass,
}

/// kv-jit's ownership marker in a role assignment's description:
/// `kv-jit:v1 request=<id> expires=<rfc3339>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub request_id: String,
    pub expires_at: DateTime<Utc>,
}

impl Marker {
    pub const PREFIX: &'static str = "kv-jit:v1";

    pub fn render(&self) -> String {
        format!(
            "{} request={} expires={}",
            Self::PREFIX,
            self.request_id,
            self.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }

    /// Reads exactly the three words [`Marker::render`] writes, in its order. What follows is
    /// free text (a PIM justification carries the request's own justification after the
    /// marker), so a `request=` or `expires=` in it never changes the marker.
    pub fn parse(description: &str) -> Option<Marker> {
        let mut words = description.split_whitespace();
        if words.next()? != Self::PREFIX {
            return None;
        }
        let request_id = words.next()?.strip_prefix("request=")?;
        let expires_at = DateTime::parse_from_rfc3339(words.next()?.strip_prefix("expires=")?)
            .ok()?
            .with_timezone(&Utc);
        if request_id.is_empty() {
            return None;
        }
        Some(Marker {
            request_id: request_id.to_owned(),
            expires_at,
        })
    }
}

/// What the management plane says about a requested secret (for `kv-jit validate` online).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretStatus {
    Exists,
    SecretMissing,
    VaultMissing,
    /// The vault uses access policies; RBAC role assignments would have no effect.
    VaultNotRbac,
}

/// The result of a revoke; both mean "no longer assigned".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    Deleted,
    AlreadyGone,
}

/// The deterministic role-assignment name: UUIDv5 of tenant, scope (case-folded, as ARM
/// compares scopes) and request id. The same inputs give the same name for PUT and DELETE.
pub fn assignment_name(tenant_id: &str, scope: &str, request_id: &str) -> Uuid {
    let ns = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:kv-jit:role-assignment");
    let key = format!(
        "{}\n{}\n{}",
        tenant_id.to_ascii_lowercase(),
        scope.to_ascii_lowercase(),
        request_id
    );
    Uuid::new_v5(&ns, key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips() {
        let m = Marker {
            request_id: "2026/alice-api-key".into(),
            expires_at: "2026-11-27T11:00:00Z".parse().unwrap(),
        };
        let text = m.render();
        assert_eq!(
            text,
            "kv-jit:v1 request=2026/alice-api-key expires=2026-11-27T11:00:00Z"
        );
        assert_eq!(Marker::parse(&text), Some(m));
        assert_eq!(Marker::parse("made by hand"), None);
        assert_eq!(Marker::parse("kv-jit:v1 request=x"), None);
    }

    /// A PIM justification is the marker followed by the request's own text, which the requester
    /// wrote: words in it that look like marker fields must not change the marker.
    #[test]
    fn text_after_the_marker_cannot_override_it() {
        let text = "kv-jit:v1 request=2026/a expires=2026-11-27T11:00:00Z INC-1 request=2026/other expires=2099-01-01T00:00:00Z";
        let m = Marker::parse(text).unwrap();
        assert_eq!(m.request_id, "2026/a");
        assert_eq!(
            m.expires_at,
            "2026-11-27T11:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            Marker::parse("kv-jit:v1 expires=2026-11-27T11:00:00Z request=a"),
            None
        );
    }

    #[test]
    fn names_are_deterministic_and_scope_case_insensitive() {
        let a = assignment_name("T", "/subscriptions/S/x", "r1");
        assert_eq!(a, assignment_name("t", "/SUBSCRIPTIONS/s/X", "r1"));
        assert_ne!(a, assignment_name("T", "/subscriptions/S/x", "r2"));
        assert_eq!(a.get_version_num(), 5);
    }

    #[test]
    fn vault_ref_checks_url_segments() {
        let v = VaultName::parse("flowlibs-demo-kv").unwrap();
        assert!(VaultRef::new("not-a-guid", "rg", v.clone()).is_err());
        assert!(
            VaultRef::new("00000000-0000-0000-0000-000000000000", "rg/../x", v.clone()).is_err()
        );
        let r = VaultRef::new("00000000-0000-0000-0000-000000000000", "rg-demo", v).unwrap();
        let s = SecretName::parse("demo-api-key").unwrap();
        assert_eq!(
            r.secret_scope(&s),
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-demo/providers/Microsoft.KeyVault/vaults/flowlibs-demo-kv/secrets/demo-api-key"
        );
    }
}
