//! The expiry sweep: when the ledger cannot be trusted (tampered, lost entries, branch gone),
//! access must still end on time. Every assignment kv-jit created whose marked expiry has
//! passed is deleted, and so is every one whose request was revoked early (its file deleted, or
//! `revoke: true`). Nothing is recorded (there is no trustworthy ledger to append to); the run
//! still fails, so someone repairs the ledger, and the next good run records what happened
//! through reconcile.

use chrono::{DateTime, Utc};

use kv_jit_core::azure::VaultRef;
use kv_jit_core::config::{Config, Expiry};
use kv_jit_core::plan::{Desired, Invalid, state};

use crate::execute::{created_by_kv_jit, delete_listed};
use crate::ports::Azure;
use crate::run::{Level, Message};

/// Sweeps every revoker-mode vault; `only` limits it to one request's assignments (a manual
/// revoke). `requests` are the files on the default branch, when they could be read.
pub async fn expiry_sweep<A: Azure>(
    azure: &A,
    config: &Config,
    now: DateTime<Utc>,
    only: Option<&str>,
    requests: Option<&(Vec<Desired>, Vec<Invalid>)>,
) -> Vec<Message> {
    let mut out = Vec::new();
    let (desired, invalid): (&[Desired], &[Invalid]) = match requests {
        Some((d, i)) => (d, i),
        None => (&[], &[]),
    };
    let on_main = state::derived_names(desired, config);
    // Whether the request a marker names still wants access: its file is on the default branch
    // (valid without `revoke: true`, or invalid: an invalid file is refused, not revoked).
    let wanted = |id: &str| {
        requests.is_none()
            || desired
                .iter()
                .any(|d| d.request.id.as_str() == id && !d.request.revoke)
            || invalid.iter().any(|i| i.id.as_str() == id)
    };
    for policy in config
        .vaults
        .values()
        .filter(|p| p.expiry == Expiry::Revoker)
    {
        let Ok(vault) = VaultRef::new(
            &policy.subscription_id,
            &policy.resource_group,
            policy.name.clone(),
        ) else {
            continue;
        };
        let listed = match azure.list_managed_in_vault(&vault).await {
            Ok(l) => l,
            Err(e) => {
                out.push(Message {
                    level: Level::Error,
                    text: format!("expiry sweep of vault {}: {e}", policy.name),
                });
                continue;
            }
        };
        for a in listed {
            let Some(marker) = a.marker.as_ref() else {
                continue;
            };
            let why = if let Some(id) = only {
                if marker.request_id != id {
                    continue;
                }
                "revoked by hand"
            } else if marker.expires_at <= now {
                "expired by its marker"
            } else if !wanted(&marker.request_id) {
                "its request was revoked early"
            } else {
                continue;
            };
            if !created_by_kv_jit(&a, &config.tenant_id, &on_main) {
                continue;
            }
            out.push(match delete_listed(azure, &a).await {
                Ok(()) => Message {
                    level: Level::Info,
                    text: format!(
                        "revoked       {} ({why}; not recorded: the ledger cannot be trusted)",
                        marker.request_id
                    ),
                },
                Err(e) => Message {
                    level: Level::Error,
                    text: format!("expiry sweep could not revoke {}: {e}", marker.request_id),
                },
            });
        }
    }
    out
}
