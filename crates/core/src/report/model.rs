//! The report's model, built from verified ledger entries in one pass: each `granted` line
//! opens a grant, the `revoked` line with the same (request, assignment) closes it, `drift`
//! marks it, `retrospective` attaches its issue; refusals and failures are listed as they come.
//! Everything here is pure: the ledger's bytes, the range and "now" are handed in.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use crate::ledger::{Entry, Event, Reason, VerifyError};

/// The version of the JSON form's shape (`report_version`); bumped on any incompatible change.
pub const REPORT_VERSION: u32 = 1;

/// How a grant ended, as the ledger tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// No `revoked` line yet: the role assignment exists as far as the ledger knows.
    Active,
    /// Revoked when (or after) its window ended.
    Expired,
    /// Revoked before its window ended: a manual revoke, the file deleted, or `revoke: true`.
    Early,
    /// Removed as an orphan: an assignment kv-jit made that the ledger did not hold as active.
    Orphan,
    /// Azure lost the assignment before kv-jit removed it (a `drift` line, or a revoke that found
    /// it already gone).
    Drift,
}

impl End {
    /// The name used in every form (`end-<name>` is its CSS class).
    pub fn as_str(self) -> &'static str {
        match self {
            End::Active => "active",
            End::Expired => "expired",
            End::Early => "early",
            End::Orphan => "orphan",
            End::Drift => "drift",
        }
    }
}

/// The colour of a grant in the timeline: how it ended, except that every break-glass grant
/// is shown as break-glass (how it ended is in its hover text and the tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EndClass {
    Expired,
    Early,
    Orphan,
    Drift,
    BreakGlass,
    Active,
}

impl EndClass {
    pub const ALL: [EndClass; 6] = [
        EndClass::Expired,
        EndClass::Early,
        EndClass::Orphan,
        EndClass::Drift,
        EndClass::BreakGlass,
        EndClass::Active,
    ];

    /// The CSS class of its bar: `end-expired`, `end-break-glass`, …
    pub fn css(self) -> &'static str {
        match self {
            EndClass::Expired => "end-expired",
            EndClass::Early => "end-early",
            EndClass::Orphan => "end-orphan",
            EndClass::Drift => "end-drift",
            EndClass::BreakGlass => "end-break-glass",
            EndClass::Active => "end-active",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            EndClass::Expired => "expired",
            EndClass::Early => "revoked early",
            EndClass::Orphan => "orphan removed",
            EndClass::Drift => "drift (lost in Azure)",
            EndClass::BreakGlass => "break-glass",
            EndClass::Active => "still active",
        }
    }
}

/// Where the ledger's hash chain breaks: the report covers only the lines before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ChainBreak {
    /// The first bad line (1-based).
    pub line: u64,
    /// What is wrong with it, as `kv-jit audit verify` says.
    pub problem: String,
}

/// The verified part of a ledger: every entry before the first bad line, and that line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: Vec<Entry>,
    pub chain_break: Option<ChainBreak>,
}

/// Verifies `bytes` with `parse` (the core's `ledger::parse_ledger`, or a parallel one) and,
/// when the chain breaks, parses again only the lines before the break, which verify by
/// themselves (a chain's prefix is a chain).
pub fn verified_prefix(
    name: &str,
    bytes: &[u8],
    parse: impl Fn(&str, &[u8]) -> Result<Vec<Entry>, VerifyError>,
) -> Verified {
    match parse(name, bytes) {
        Ok(entries) => Verified {
            entries,
            chain_break: None,
        },
        Err(e) => {
            let (line, problem) = match &e {
                VerifyError::Line { line, problem, .. } => (*line, problem.to_string()),
                VerifyError::Io { source, .. } => (1, source.to_string()),
            };
            let keep = line.saturating_sub(1) as usize;
            let cut = if keep == 0 {
                0
            } else {
                memchr::memchr_iter(b'\n', bytes)
                    .nth(keep - 1)
                    .map_or(bytes.len(), |i| i + 1)
            };
            let entries = parse(name, &bytes[..cut]).unwrap_or_default();
            Verified {
                entries,
                chain_break: Some(ChainBreak { line, problem }),
            }
        }
    }
}

/// What the report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The ledger's name as shown (its path).
    pub ledger: String,
    /// Include only what touches `[since, until]` (either end open).
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only this vault.
    pub vault: Option<String>,
    /// "Now": where a still-active grant's bar ends.
    pub as_of: DateTime<Utc>,
}

/// One approving review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Approver {
    pub login: String,
    pub commit: String,
}

/// One grant: from its `granted` line (absent for an orphan the ledger never recorded) to its
/// `revoked` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Grant {
    /// The request id; absent for an orphan whose marker named none.
    pub request: Option<String>,
    /// The user principal name (absent for an orphan: see `principal_id`).
    pub requester: Option<String>,
    pub principal_id: Option<String>,
    /// The vault (from the entry, else from the scope).
    pub vault: Option<String>,
    /// The secret; absent when the assignment covers the whole vault.
    pub secret: Option<String>,
    /// The role alias, else its definition id.
    pub role: Option<String>,
    pub assignment: Option<String>,
    /// The approved window, as recorded.
    #[schemars(with = "Option<String>")]
    pub window_start: Option<DateTime<Utc>>,
    #[schemars(with = "Option<String>")]
    pub window_expires: Option<DateTime<Utc>>,
    /// When the role assignment was made (the `granted` line's time).
    #[schemars(with = "Option<String>")]
    pub granted_at: Option<DateTime<Utc>>,
    /// When it was removed (the `revoked` line's time); absent while active.
    #[schemars(with = "Option<String>")]
    pub revoked_at: Option<DateTime<Utc>>,
    pub end: End,
    /// The timeline colour: `end`, or `break-glass`.
    pub end_class: EndClass,
    pub break_glass: bool,
    /// `revoker` or `pim`, when recorded.
    pub expiry: Option<String>,
    pub extends: Option<String>,
    pub pr: Option<u64>,
    /// The approved (and merged) head commit.
    pub commit: Option<String>,
    pub approvers: Vec<Approver>,
    /// Break-glass: every owner of the request file, all of whom were told.
    pub owners: Vec<String>,
    /// Break-glass: the retrospective issue.
    pub retrospective_issue: Option<u64>,
    /// Early revoke: who asked, and why.
    pub revoked_by: Option<String>,
    pub revoke_note: Option<String>,
    /// Why kv-jit left the assignment in place, when the `revoked` line says so.
    pub revoke_error: Option<String>,
    /// When a `drift` line recorded Azure losing it.
    #[schemars(with = "Option<String>")]
    pub drift_at: Option<DateTime<Utc>>,
    /// `revoked` time − window expiry, in seconds (negative when early).
    pub lag_seconds: Option<i64>,
    /// Seconds of access inside the report's range.
    pub access_seconds: i64,
    pub run_url: Option<String>,
    /// The ledger line (`seq`) of the `granted` line, else of the `revoked` line.
    pub line: u64,
}

impl Grant {
    /// Where its bar starts: when the assignment was made, else (an orphan with no grant line)
    /// when it was removed.
    pub fn from(&self) -> Option<DateTime<Utc>> {
        self.granted_at.or(self.window_start).or(self.revoked_at)
    }

    /// Where its bar ends: when it was removed, else (still active) `as_of`, and never before
    /// its start.
    pub fn to(&self, as_of: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let from = self.from()?;
        let end = self.revoked_at.unwrap_or(as_of);
        Some(end.max(from))
    }

    /// "vault/secret", or "vault (whole vault)".
    pub fn target(&self) -> String {
        let vault = self.vault.as_deref().unwrap_or("?");
        match &self.secret {
            Some(s) => format!("{vault}/{s}"),
            None => format!("{vault} (whole vault)"),
        }
    }

    pub fn person(&self) -> String {
        self.requester
            .clone()
            .or_else(|| self.principal_id.as_ref().map(|p| format!("principal {p}")))
            .unwrap_or_else(|| "unknown".into())
    }
}

/// A refusal: the request was not granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Refusal {
    #[schemars(with = "String")]
    pub time: DateTime<Utc>,
    pub request: Option<String>,
    pub requester: Option<String>,
    pub vault: Option<String>,
    pub secret: Option<String>,
    /// The ledger's `error`, as recorded (scrubbed when written).
    pub error: String,
    /// `error` with the quoted names taken out, so like refusals count together.
    pub reason: String,
    pub line: u64,
}

/// A failed grant or revoke attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Failure {
    #[schemars(with = "String")]
    pub time: DateTime<Utc>,
    /// `grant_failed` or `revoke_failed`.
    pub event: String,
    pub request: Option<String>,
    /// The vault, when the entry names it (or its scope does).
    pub vault: Option<String>,
    pub error: String,
    pub line: u64,
}

/// How late revokes ran after expiry (nearest-rank percentiles), over expired grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Lag {
    pub count: usize,
    pub p50_seconds: i64,
    pub p95_seconds: i64,
    pub max_seconds: i64,
}

/// Refusals counted by reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ReasonCount {
    pub reason: String,
    pub count: usize,
}

/// Grants counted by colour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ClassCount {
    pub class: EndClass,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Totals {
    pub grants: usize,
    /// Distinct requesters (orphans count by principal id).
    pub people: usize,
    /// Distinct secrets (or whole vaults) anyone had access to.
    pub secrets: usize,
    /// Seconds of access inside the range, summed over grants.
    pub access_seconds: i64,
    pub break_glass: usize,
    pub by_class: Vec<ClassCount>,
    /// Absent when no expired grant was revoked.
    pub revoke_lag: Option<Lag>,
    pub refusals: usize,
    pub refusals_by_reason: Vec<ReasonCount>,
    pub failures: usize,
}

/// The whole report; the JSON form is this, serialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Report {
    /// [`REPORT_VERSION`].
    pub report_version: u32,
    pub ledger: String,
    #[schemars(with = "String")]
    pub as_of: DateTime<Utc>,
    #[schemars(with = "Option<String>")]
    pub since: Option<DateTime<Utc>>,
    #[schemars(with = "Option<String>")]
    pub until: Option<DateTime<Utc>>,
    pub vault: Option<String>,
    /// Entries read (the verified ones).
    pub entries: usize,
    /// Where the chain breaks, if it does: only the entries before it are reported.
    pub chain_break: Option<ChainBreak>,
    /// First and last entry times of the verified ledger.
    #[schemars(with = "Option<String>")]
    pub first_entry: Option<DateTime<Utc>>,
    #[schemars(with = "Option<String>")]
    pub last_entry: Option<DateTime<Utc>>,
    pub totals: Totals,
    /// Sorted by target (vault/secret), then start.
    pub grants: Vec<Grant>,
    pub refusals: Vec<Refusal>,
    pub failures: Vec<Failure>,
}

impl Report {
    /// The time span the timeline shows: the range where given, else the grants' own span.
    pub fn span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let from = self
            .since
            .or_else(|| self.grants.iter().filter_map(Grant::from).min())?;
        let to = self.until.or_else(|| {
            self.grants
                .iter()
                .filter_map(|g| g.to(self.as_of))
                .chain(self.grants.iter().filter_map(|g| g.window_expires))
                .max()
        })?;
        let to = to.max(from + chrono::Duration::hours(1));
        // A little room on an open side, so a bar never sits on the frame.
        let pad = chrono::Duration::minutes(((to - from).num_minutes() / 40).max(1));
        let minute =
            |t: DateTime<Utc>| DateTime::from_timestamp(t.timestamp().div_euclid(60) * 60, 0);
        Some((
            if self.since.is_some() {
                from
            } else {
                minute(from - pad).unwrap_or(from)
            },
            if self.until.is_some() {
                to
            } else {
                minute(to + pad + chrono::Duration::minutes(1)).unwrap_or(to)
            },
        ))
    }

    /// Grants grouped by target, in order.
    pub fn by_target(&self) -> Vec<(String, Vec<&Grant>)> {
        let mut map: BTreeMap<String, Vec<&Grant>> = BTreeMap::new();
        for g in &self.grants {
            map.entry(g.target()).or_default().push(g);
        }
        map.into_iter().collect()
    }

    /// Grants grouped by person, in order.
    pub fn by_person(&self) -> Vec<(String, Vec<&Grant>)> {
        let mut map: BTreeMap<String, Vec<&Grant>> = BTreeMap::new();
        for g in &self.grants {
            map.entry(g.person()).or_default().push(g);
        }
        map.into_iter().collect()
    }

    /// One summary row per person, in order: what every renderer's "By person" table shows.
    pub fn person_rows(&self) -> Vec<PersonRow> {
        self.by_person()
            .into_iter()
            .map(|(person, grants)| {
                let targets: BTreeSet<String> = grants.iter().map(|g| g.target()).collect();
                PersonRow {
                    person,
                    grants: grants.len(),
                    targets: targets.into_iter().collect::<Vec<_>>().join(", "),
                    access_seconds: grants.iter().map(|g| g.access_seconds).sum(),
                    break_glass: grants.iter().filter(|g| g.break_glass).count(),
                    early: grants.iter().filter(|g| g.end == End::Early).count(),
                    active: grants.iter().filter(|g| g.revoked_at.is_none()).count(),
                }
            })
            .collect()
    }
}

/// A person's line in the "By person" table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRow {
    pub person: String,
    pub grants: usize,
    /// The secrets (or vaults) they held, comma-separated, in order.
    pub targets: String,
    pub access_seconds: i64,
    pub break_glass: usize,
    pub early: usize,
    pub active: usize,
}

/// Builds the report from verified entries, in one pass over them.
pub fn build(verified: &Verified, scope: &Scope) -> Report {
    let entries = &verified.entries;
    let mut grants: Vec<Grant> = Vec::new();
    // (request, assignment) of an open grant → its index; a revoke without request matches by
    // assignment alone.
    let mut open: HashMap<(Option<String>, String), usize> = HashMap::new();
    let mut by_request: HashMap<String, usize> = HashMap::new();
    let mut refusals = Vec::new();
    let mut failures = Vec::new();
    for e in entries {
        match e.event {
            Event::Granted => {
                let g = grant_of(e);
                let i = grants.len();
                if let Some(a) = &e.assignment {
                    open.insert((e.request.clone(), a.to_ascii_lowercase()), i);
                }
                if let Some(r) = &e.request {
                    by_request.entry(r.clone()).or_insert(i);
                }
                grants.push(g);
            }
            Event::Revoked => {
                let found = e.assignment.as_ref().and_then(|a| {
                    let a = a.to_ascii_lowercase();
                    match &e.request {
                        Some(_) => open.remove(&(e.request.clone(), a)),
                        None => {
                            let key = open.keys().find(|(_, k)| *k == a).cloned();
                            key.and_then(|k| open.remove(&k))
                        }
                    }
                });
                match found {
                    Some(i) => close(&mut grants[i], e),
                    None => {
                        // A removal the ledger holds no open grant for (an orphan, mostly).
                        let mut g = grant_of(e);
                        g.granted_at = None;
                        close(&mut g, e);
                        grants.push(g);
                    }
                }
            }
            Event::Drift => {
                let i = e.assignment.as_ref().and_then(|a| {
                    open.get(&(e.request.clone(), a.to_ascii_lowercase()))
                        .copied()
                });
                if let Some(i) = i {
                    let g = &mut grants[i];
                    g.drift_at.get_or_insert(e.time);
                    g.end = End::Drift;
                    if !g.break_glass {
                        g.end_class = EndClass::Drift;
                    }
                }
            }
            Event::Retrospective => {
                if let Some(i) = e.request.as_ref().and_then(|r| by_request.get(r)) {
                    grants[*i]
                        .retrospective_issue
                        .get_or_insert(e.issue.unwrap_or(0));
                }
            }
            Event::Refused => {
                let error = e.error.clone().unwrap_or_default();
                refusals.push(Refusal {
                    time: e.time,
                    request: e.request.clone(),
                    requester: e.requester.clone(),
                    vault: e.vault.clone(),
                    secret: e.secret.clone(),
                    reason: reason_of(&error),
                    error,
                    line: e.seq,
                });
            }
            Event::GrantFailed | Event::RevokeFailed => failures.push(Failure {
                time: e.time,
                event: e.event.as_str().to_owned(),
                request: e.request.clone(),
                vault: e
                    .vault
                    .clone()
                    .or_else(|| e.scope.as_deref().and_then(|s| scope_part(s, "vaults"))),
                error: e.error.clone().unwrap_or_default(),
                line: e.seq,
            }),
        }
    }

    let in_range = |from: DateTime<Utc>, to: DateTime<Utc>| {
        scope.since.is_none_or(|s| to >= s) && scope.until.is_none_or(|u| from <= u)
    };
    let vault_ok = |v: &Option<String>| {
        scope
            .vault
            .as_ref()
            .is_none_or(|want| v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(want)))
    };
    let mut grants: Vec<Grant> = grants
        .into_iter()
        .filter(|g| vault_ok(&g.vault))
        .filter_map(|mut g| {
            let from = g.from()?;
            let to = g.to(scope.as_of)?;
            if !in_range(from, to) {
                return None;
            }
            let lo = scope.since.map_or(from, |s| from.max(s));
            let hi = scope.until.map_or(to, |u| to.min(u));
            g.access_seconds = (hi - lo).num_seconds().max(0);
            Some(g)
        })
        .collect();
    grants.sort_by_key(|g| (g.target(), g.from(), g.line));
    let time_ok = |t: DateTime<Utc>| in_range(t, t);
    refusals.retain(|r| time_ok(r.time) && vault_ok(&r.vault));
    failures.retain(|f| time_ok(f.time) && vault_ok(&f.vault));

    let totals = totals(&grants, &refusals, &failures);
    Report {
        report_version: REPORT_VERSION,
        ledger: scope.ledger.clone(),
        as_of: scope.as_of,
        since: scope.since,
        until: scope.until,
        vault: scope.vault.clone(),
        entries: entries.len(),
        chain_break: verified.chain_break.clone(),
        first_entry: entries.first().map(|e| e.time),
        last_entry: entries.last().map(|e| e.time),
        totals,
        grants,
        refusals,
        failures,
    }
}

fn totals(grants: &[Grant], refusals: &[Refusal], failures: &[Failure]) -> Totals {
    let people: BTreeSet<String> = grants.iter().map(Grant::person).collect();
    let secrets: BTreeSet<String> = grants.iter().map(Grant::target).collect();
    let mut lags: Vec<i64> = grants
        .iter()
        .filter(|g| g.revoked_at.is_some() && g.end == End::Expired)
        .filter_map(|g| g.lag_seconds)
        .collect();
    lags.sort_unstable();
    let revoke_lag = (!lags.is_empty()).then(|| {
        // Nearest rank, as `kv-jit status`: the smallest value with p% at or below it.
        let rank = |p: usize| lags[(p * lags.len()).div_ceil(100).max(1) - 1];
        Lag {
            count: lags.len(),
            p50_seconds: rank(50),
            p95_seconds: rank(95),
            max_seconds: lags[lags.len() - 1],
        }
    });
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for r in refusals {
        *reasons.entry(r.reason.as_str()).or_default() += 1;
    }
    let mut refusals_by_reason: Vec<ReasonCount> = reasons
        .into_iter()
        .map(|(reason, count)| ReasonCount {
            reason: reason.to_owned(),
            count,
        })
        .collect();
    refusals_by_reason.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    Totals {
        grants: grants.len(),
        people: people.len(),
        secrets: secrets.len(),
        access_seconds: grants.iter().map(|g| g.access_seconds).sum(),
        break_glass: grants.iter().filter(|g| g.break_glass).count(),
        by_class: EndClass::ALL
            .iter()
            .map(|&class| ClassCount {
                class,
                count: grants.iter().filter(|g| g.end_class == class).count(),
            })
            .collect(),
        revoke_lag,
        refusals: refusals.len(),
        refusals_by_reason,
        failures: failures.len(),
    }
}

fn grant_of(e: &Entry) -> Grant {
    let break_glass = e.break_glass == Some(true);
    let approvals = e.approvals.as_ref();
    Grant {
        request: e.request.clone(),
        requester: e.requester.clone(),
        principal_id: e.principal_id.clone(),
        vault: e
            .vault
            .clone()
            .or_else(|| e.scope.as_deref().and_then(|s| scope_part(s, "vaults"))),
        secret: e
            .secret
            .clone()
            .or_else(|| e.scope.as_deref().and_then(|s| scope_part(s, "secrets"))),
        role: e
            .role
            .as_ref()
            .map(|r| r.alias.clone().unwrap_or_else(|| r.id.clone())),
        assignment: e.assignment.clone(),
        window_start: e.window.map(|w| w.start),
        window_expires: e.window.map(|w| w.expires),
        granted_at: Some(e.time),
        revoked_at: None,
        end: End::Active,
        end_class: if break_glass {
            EndClass::BreakGlass
        } else {
            EndClass::Active
        },
        break_glass,
        expiry: e.expiry.map(|m| m.as_str().to_owned()),
        extends: e.extends.clone(),
        pr: approvals.map(|a| a.pr),
        commit: approvals.map(|a| a.commit.clone()),
        approvers: approvals
            .map(|a| {
                a.by.iter()
                    .map(|b| Approver {
                        login: b.login.clone(),
                        commit: b.commit.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        owners: approvals.map(|a| a.owners.clone()).unwrap_or_default(),
        retrospective_issue: None,
        revoked_by: None,
        revoke_note: None,
        revoke_error: None,
        drift_at: None,
        lag_seconds: None,
        access_seconds: 0,
        run_url: e.run_url.clone(),
        line: e.seq,
    }
}

/// Closes `g` with its `revoked` line.
fn close(g: &mut Grant, e: &Entry) {
    g.revoked_at = Some(e.time);
    let end = match e.reason {
        Some(Reason::Expired) | None => End::Expired,
        Some(Reason::Early) => End::Early,
        Some(Reason::Orphan) => End::Orphan,
        Some(Reason::External) => End::Drift,
    };
    // A grant Azure lost stays drift, whatever the revoke that followed found.
    if g.end != End::Drift {
        g.end = end;
    }
    if !g.break_glass {
        g.end_class = match g.end {
            End::Active => EndClass::Active,
            End::Expired => EndClass::Expired,
            End::Early => EndClass::Early,
            End::Orphan => EndClass::Orphan,
            End::Drift => EndClass::Drift,
        };
    }
    g.revoked_by = e.actor.clone();
    g.revoke_note = e.note.clone();
    g.revoke_error = e.error.clone();
    g.lag_seconds = e.lag_seconds.or_else(|| {
        g.window_expires
            .or(e.window.map(|w| w.expires))
            .map(|x| (e.time - x).num_seconds())
    });
    if g.principal_id.is_none() {
        g.principal_id = e.principal_id.clone();
    }
    if g.run_url.is_none() {
        g.run_url = e.run_url.clone();
    }
}

/// The segment after `key` in an ARM scope (`…/vaults/NAME/secrets/NAME`).
fn scope_part(scope: &str, key: &str) -> Option<String> {
    let mut parts = scope.split('/');
    while let Some(p) = parts.next() {
        if p.eq_ignore_ascii_case(key) {
            return parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
        }
    }
    None
}

/// A refusal's reason for counting: its first clause (up to `;` or `: `), with every
/// `quoted` name replaced by `…`, commit-like hex words by `…` and digit runs by `N`, so
/// refusals of different requests for the same rule count together.
pub fn reason_of(error: &str) -> String {
    let first = error
        .split([';', '\n'])
        .next()
        .unwrap_or("")
        .split(": ")
        .next()
        .unwrap_or("");
    // Quoted names first.
    let mut unquoted = String::new();
    let mut in_quote = false;
    for c in first.chars() {
        if c == '`' {
            if !in_quote {
                unquoted.push('…');
            }
            in_quote = !in_quote;
        } else if !in_quote {
            unquoted.push(c);
        }
    }
    let words: Vec<String> = unquoted
        .split_whitespace()
        .map(|w| {
            if !w.chars().any(|c| c.is_ascii_digit()) {
                return w.to_owned();
            }
            if w.len() >= 7 && w.chars().all(|c| c.is_ascii_hexdigit()) {
                return "…".to_owned();
            }
            let mut out = String::new();
            let mut last_digit = false;
            for c in w.chars() {
                if c.is_ascii_digit() {
                    if !last_digit {
                        out.push('N');
                    }
                    last_digit = true;
                } else {
                    out.push(c);
                    last_digit = false;
                }
            }
            out
        })
        .collect();
    let out: String = words.join(" ").chars().take(120).collect();
    if out.is_empty() {
        "(no reason recorded)".into()
    } else {
        out
    }
}
