//! The one convergence check every fault, kill and race test ends with: Azure against the ledger.
//!
//! - the ledger on origin verifies (hash chain, `seq`, canonical form);
//! - one entry per event: no two entries share a dedupe key (a grant, a revoke, a refusal of the
//!   same bytes is recorded once however many runs saw it);
//! - every request expected active has exactly one `granted` entry, no `revoked` after it, and
//!   Azure holds exactly one assignment for it, under the name the ledger records;
//! - every request expected revoked has exactly one `granted` and one `revoked` entry, and Azure
//!   holds nothing for it;
//! - Azure holds no other assignment carrying kv-jit's marker.
//!
//! Read straight from the emulator over raw HTTP (not through kv-jit's own client), with every
//! armed fault cleared first.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};

use kv_jit_core::ledger::{DedupeKey, Entry, Event, parse_ledger, verify_bytes};

use crate::world::{self, World};

/// What a converged world looks like.
#[derive(Debug, Default, Clone, Copy)]
pub struct Expect<'a> {
    /// Granted and not yet ended: one assignment each.
    pub active: &'a [&'a str],
    /// Granted, then revoked: nothing left in Azure.
    pub revoked: &'a [&'a str],
    /// Never granted (refused or failed for good): no `granted` entry, nothing in Azure.
    pub never: &'a [&'a str],
}

/// Checks the invariants; the error names every one that does not hold.
pub async fn check(w: &World, expect: Expect<'_>) -> Result<Vec<Entry>, String> {
    w.azure.core().clear_faults();
    w.github.core().clear_faults();
    let mut problems = Vec::new();
    let text = w.origin_ledger();
    if let Err(e) = verify_bytes("origin ledger", text.as_bytes())
        && !text.is_empty()
    {
        problems.push(format!("the chain does not verify: {e}"));
    }
    let entries = parse_ledger("origin ledger", text.as_bytes()).unwrap_or_default();
    let mut keys = HashSet::new();
    for e in &entries {
        if !keys.insert(DedupeKey::of_entry(e)) {
            problems.push(format!(
                "entry {} repeats an earlier one: {} {:?}",
                e.seq,
                e.event.as_str(),
                e.request
            ));
        }
    }
    let of = |id: &str, ev: Event| -> Vec<&Entry> {
        entries
            .iter()
            .filter(|e| e.event == ev && e.request.as_deref() == Some(id))
            .collect()
    };
    let azure = marked_assignments(w).await;
    let mut accounted = HashSet::new();
    for id in expect.active {
        let granted = of(id, Event::Granted);
        if granted.len() != 1 {
            problems.push(format!("{id}: {} granted entries, want 1", granted.len()));
            continue;
        }
        let revoked = of(id, Event::Revoked);
        if !revoked.is_empty() {
            problems.push(format!("{id}: revoked although it should be active"));
        }
        let name = granted[0].assignment.clone().unwrap_or_default();
        let n = azure.get(&name).copied().unwrap_or(0);
        if n != 1 {
            problems.push(format!(
                "{id}: Azure holds {n} assignment(s) named {name}, want exactly 1"
            ));
        }
        accounted.insert(name);
    }
    for id in expect.revoked {
        let (g, r) = (of(id, Event::Granted), of(id, Event::Revoked));
        if g.len() != 1 || r.len() != 1 {
            problems.push(format!(
                "{id}: {} granted and {} revoked entries, want 1 and 1",
                g.len(),
                r.len()
            ));
        }
        if let Some(name) = g.first().and_then(|e| e.assignment.as_ref())
            && azure.contains_key(name)
        {
            problems.push(format!("{id}: revoked, but Azure still holds {name}"));
        }
    }
    for id in expect.never {
        let g = of(id, Event::Granted);
        if !g.is_empty() {
            problems.push(format!("{id}: granted although it never should be"));
        }
    }
    for (name, n) in &azure {
        if !accounted.contains(name) {
            problems.push(format!(
                "Azure holds {n} kv-jit assignment(s) named {name} that no active request accounts for"
            ));
        }
    }
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(format!(
            "{}\nledger:\n{text}azure: {azure:?}",
            problems.join("\n")
        ))
    }
}

/// Assignment name -> how many assignments Azure lists under it at the vault's scope and at
/// each configured secret's, among those whose description carries kv-jit's marker.
pub async fn marked_assignments(w: &World) -> BTreeMap<String, usize> {
    let base = w.azure.base_url();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let tok: serde_json::Value = http
        .post(format!("{base}/{}/oauth2/v2.0/token", world::TENANT))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", world::CLIENT_ID),
            ("client_secret", "app-secret"),
            ("scope", &format!("{base}/.default")),
        ])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token json");
    let token = tok["access_token"].as_str().expect("a token").to_owned();
    let vault = World::vault_target().scope();
    let mut scopes = vec![vault.clone()];
    for s in ["demo-api-key", "demo-connection-string"] {
        scopes.push(format!("{vault}/secrets/{s}"));
    }
    let mut out = BTreeMap::new();
    for scope in scopes {
        let mut url = format!(
            "{base}{scope}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=atScope()"
        );
        loop {
            let page: serde_json::Value = http
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("list json");
            for a in page["value"].as_array().expect("value") {
                let marked = a["properties"]["description"]
                    .as_str()
                    .is_some_and(|d| d.starts_with(kv_jit_core::azure::Marker::PREFIX));
                let at_scope = a["properties"]["scope"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&scope));
                if marked && at_scope {
                    let name = a["name"].as_str().unwrap_or_default().to_owned();
                    *out.entry(name).or_insert(0) += 1;
                }
            }
            match page["nextLink"].as_str() {
                Some(next) => url = next.to_owned(),
                None => break,
            }
        }
    }
    out
}
