//! State derived from the ledger. Nothing else holds state: these pure functions are how the
//! planner learns what is active, which ids are used, and how late revokes run.

use std::collections::{BTreeSet, HashMap};

use super::entry::{Entry, Event, Reason};

/// The `granted` entries still in force, in ledger order: granted, and no later `revoked` for
/// the same (request, assignment). `grant_failed`, `revoke_failed`, `refused` and `drift` do not
/// change what is active: a failed revoke is retried, and drift (Azure lost the assignment) is
/// settled by the revoke that still follows at expiry.
pub fn active_grants(entries: &[Entry]) -> Vec<&Entry> {
    // seq of the last revoke per (request, assignment), so "later" is exact.
    let mut revoked_at: HashMap<(&str, &str), u64> = HashMap::new();
    for e in entries.iter().filter(|e| e.event == Event::Revoked) {
        if let Some(k) = key(e) {
            revoked_at.insert(k, e.seq);
        }
    }
    entries
        .iter()
        .filter(|e| e.event == Event::Granted)
        .filter(|e| {
            key(e)
                .and_then(|k| revoked_at.get(&k))
                .is_none_or(|&revoked| revoked < e.seq)
        })
        .collect()
}

fn key(e: &Entry) -> Option<(&str, &str)> {
    Some((e.request.as_deref()?, e.assignment.as_deref()?))
}

/// (request, request_sha256) pairs already refused, so a refusal is recorded once per content.
pub fn refused(entries: &[Entry]) -> BTreeSet<(&str, &str)> {
    entries
        .iter()
        .filter_map(|e| match e.body() {
            Ok(super::Body::Refused {
                request,
                request_sha256,
                ..
            }) => Some((request, request_sha256)),
            _ => None,
        })
        .collect()
}

/// How late revokes ran after expiry, over `revoked` entries with reason `expired` (early and
/// orphan revokes have no meaningful lag). Percentiles use the nearest-rank method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LagStats {
    pub count: usize,
    pub p50_seconds: i64,
    pub p95_seconds: i64,
    pub max_seconds: i64,
}

pub fn revoke_lag(entries: &[Entry]) -> Option<LagStats> {
    let mut lags: Vec<i64> = entries
        .iter()
        .filter(|e| e.event == Event::Revoked && e.reason == Some(Reason::Expired))
        .filter_map(|e| e.lag_seconds)
        .collect();
    if lags.is_empty() {
        return None;
    }
    lags.sort_unstable();
    // Nearest rank: the smallest value with at least p% of values at or below it.
    let rank = |p: usize| lags[(p * lags.len()).div_ceil(100).max(1) - 1];
    Some(LagStats {
        count: lags.len(),
        p50_seconds: rank(50),
        p95_seconds: rank(95),
        max_seconds: *lags.last().expect("not empty"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{NewEntry, Tip, Window, append};
    use chrono::{DateTime, Duration, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn grant(req: &str, sha: &str) -> NewEntry {
        NewEntry {
            request: Some(req.into()),
            request_sha256: Some(sha.into()),
            assignment: Some(format!("as-{req}")),
            window: Some(Window {
                start: t("2026-11-27T09:00:00Z"),
                expires: t("2026-11-27T11:00:00Z"),
            }),
            ..NewEntry::new(t("2026-11-27T09:00:05Z"), Event::Granted)
        }
    }

    fn revoke(req: &str, at: &str, reason: Reason) -> NewEntry {
        NewEntry {
            event: Event::Revoked,
            time: t(at),
            reason: Some(reason),
            ..grant(req, "x")
        }
    }

    #[test]
    fn active_is_granted_minus_revoked() {
        let l = append(
            &Tip::genesis(),
            vec![
                grant("a", "1"),
                grant("b", "2"),
                grant("c", "3"),
                revoke("a", "2026-11-27T11:02:00Z", Reason::Expired),
                NewEntry {
                    event: Event::RevokeFailed,
                    ..revoke("b", "2026-11-27T11:02:00Z", Reason::Expired)
                },
                NewEntry {
                    event: Event::Drift,
                    ..grant("c", "3")
                },
            ],
        );
        let active: Vec<_> = active_grants(&l)
            .iter()
            .map(|e| e.request.as_deref().unwrap())
            .collect();
        assert_eq!(active, ["b", "c"]);
    }

    #[test]
    fn refusals() {
        let l = append(
            &Tip::genesis(),
            vec![
                grant("a", "1"),
                NewEntry {
                    request: Some("z".into()),
                    request_sha256: Some("9".into()),
                    error: Some("no approval".into()),
                    ..NewEntry::new(t("2026-11-27T09:00:00Z"), Event::Refused)
                },
            ],
        );
        assert!(refused(&l).contains(&("z", "9")));
        assert!(
            !refused(&l).iter().any(|(r, _)| *r == "a"),
            "a grant is not a refusal"
        );
    }

    #[test]
    fn lag_percentiles_nearest_rank() {
        let expires = t("2026-11-27T11:00:00Z");
        let news: Vec<_> = (1..=20)
            .map(|i| {
                let mut n = revoke(&format!("r{i}"), "2026-11-27T11:00:00Z", Reason::Expired);
                n.time = expires + Duration::seconds(i * 10);
                n
            })
            .chain([revoke("early", "2026-11-27T10:00:00Z", Reason::Early)])
            .collect();
        let s = revoke_lag(&append(&Tip::genesis(), news)).unwrap();
        assert_eq!(
            s,
            LagStats {
                count: 20,
                p50_seconds: 100,
                p95_seconds: 190,
                max_seconds: 200
            }
        );
        assert_eq!(revoke_lag(&[]), None);
    }
}
