//! `--shard K/N`: which part of a run's work one of N parallel jobs does.
//!
//! ARM paces writes and deletes per subscription (a bucket of 200, then 10 a second), so a
//! tenant with many subscriptions can run one job per group of subscriptions, each pacing its
//! own buckets, all appending through the same compare-and-swap ledger push. Every work item is
//! assigned to exactly one shard by a stable hash of its subscription id: one subscription's
//! bucket is drawn from by exactly one job, and the same subscription lands in the same shard
//! on every run, machine and platform (SHA-256, never std's randomised hasher). An item whose
//! subscription cannot be known (a refusal of a file that names no configured vault) is keyed
//! by its request id instead, so it is still done (and recorded) by exactly one shard.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::plan::{Action, ActiveGrant, Desired};
use crate::request::RequestId;

/// The most shards a run may be split into (a GitHub Actions matrix holds at most 256 jobs).
pub const MAX_SHARDS: u16 = 256;

/// Shard `k` of `n` (1-based, as a matrix lists them: `1/3`, `2/3`, `3/3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    k: u16,
    n: u16,
}

/// Why a `K/N` text is not a shard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("`{0}` is not K/N (e.g. 2/5: this job is shard 2 of 5)")]
    Form(String),
    #[error("`{text}`: {which} must be a whole number from 1 to {MAX_SHARDS}")]
    Number { text: String, which: &'static str },
    #[error("`{0}`: K must be at most N (shards are numbered 1 to N)")]
    KAboveN(String),
}

impl Shard {
    /// Shard `k` of `n`, checked: 1 ≤ k ≤ n ≤ 256.
    pub fn new(k: u16, n: u16) -> Result<Shard, ShardError> {
        Shard::from_str(&format!("{k}/{n}"))
    }

    pub fn k(&self) -> u16 {
        self.k
    }

    pub fn n(&self) -> u16 {
        self.n
    }

    /// Whether this shard does the work keyed by `key` (a subscription id or a fallback key).
    pub fn owns_key(&self, key: &str) -> bool {
        shard_of(key, self.n) == self.k
    }

    /// Whether this shard does the work of subscription `sub` (compared case-insensitively, as
    /// Azure does).
    pub fn owns_subscription(&self, sub: &str) -> bool {
        self.owns_key(&subscription_key(sub))
    }

    /// Whether this shard does `action`. `desired` are the run's valid request files (a grant,
    /// wait or refusal finds its vault there), `config` maps a vault to its subscription.
    pub fn owns_action(&self, action: &Action, desired: &[Desired], config: &Config) -> bool {
        self.owns_key(&action_key(action, desired, config))
    }

    /// The config restricted to this shard's vaults: what its reconcile and expiry sweep list.
    pub fn config(&self, config: &Config) -> Config {
        let mut own = config.clone();
        own.vaults
            .retain(|_, policy| self.owns_subscription(&policy.subscription_id));
        own
    }

    /// The active grants whose assignments live in this shard's subscriptions (a grant whose
    /// scope names no subscription is keyed by its request id).
    pub fn active(
        &self,
        active: &BTreeMap<RequestId, ActiveGrant>,
    ) -> BTreeMap<RequestId, ActiveGrant> {
        active
            .iter()
            .filter(|(_, g)| self.owns_key(&grant_key(g)))
            .map(|(id, g)| (id.clone(), g.clone()))
            .collect()
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| ShardError::Form(text.to_owned()))?;
        let number = |s: &str, which| {
            // Digits only: no sign, no spaces, no leading `+` that `parse` would accept.
            if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ShardError::Number {
                    text: text.to_owned(),
                    which,
                });
            }
            match s.parse::<u16>() {
                Ok(v) if (1..=MAX_SHARDS).contains(&v) => Ok(v),
                _ => Err(ShardError::Number {
                    text: text.to_owned(),
                    which,
                }),
            }
        };
        let k = number(k, "K")?;
        let n = number(n, "N")?;
        if k > n {
            return Err(ShardError::KAboveN(text.to_owned()));
        }
        Ok(Shard { k, n })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// The shard (1..=n) that does the work keyed by `key`: the first 8 bytes of SHA-256(key),
/// big-endian, modulo n. `n` of 0 is treated as 1.
pub fn shard_of(key: &str, n: u16) -> u16 {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let n = u64::from(n.max(1));
    // The remainder is below n ≤ 65535, so it fits.
    (u64::from_be_bytes(first) % n) as u16 + 1
}

/// The key of a subscription: its id, lowercase (Azure compares ids case-insensitively).
pub fn subscription_key(sub: &str) -> String {
    format!("subscription:{}", sub.to_ascii_lowercase())
}

/// The key of an item without a known subscription: its request id.
fn request_key(id: &str) -> String {
    format!("request:{id}")
}

/// The subscription of an ARM scope (`/subscriptions/{id}/...`), if it names one.
pub fn scope_subscription(scope: &str) -> Option<&str> {
    let mut parts = scope.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(""), Some(s), Some(id))
            if s.eq_ignore_ascii_case("subscriptions") && !id.is_empty() =>
        {
            Some(id)
        }
        _ => None,
    }
}

fn grant_key(g: &ActiveGrant) -> String {
    match scope_subscription(&g.scope) {
        Some(sub) => subscription_key(sub),
        None => request_key(g.request.as_str()),
    }
}

/// What an action is keyed by: its subscription (a revoke: the recorded scope's; a grant, wait
/// or refusal: its request's configured vault's), else its request id.
pub fn action_key(action: &Action, desired: &[Desired], config: &Config) -> String {
    let request = match action {
        Action::Revoke { grant, .. } => return grant_key(grant),
        Action::Grant { request, .. }
        | Action::Refuse { request, .. }
        | Action::Wait { request, .. } => request,
    };
    desired
        .iter()
        .find(|d| d.request.id == *request)
        .and_then(|d| config.vaults.get(&d.request.vault))
        .map(|policy| subscription_key(&policy.subscription_id))
        .unwrap_or_else(|| request_key(request.as_str()))
}

#[cfg(test)]
mod tests;
