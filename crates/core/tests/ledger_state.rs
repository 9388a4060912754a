//! The planner's state derived in one streaming pass (`check_chunk_state` + `StateBuilder`,
//! what `kv-jit plan` uses) equals the state `from_ledger` derives from the fully parsed
//! entries, on generated ledgers: any mix of events, hand-made lines that lack members, ids
//! granted twice, revokes of other assignments, drift before and after grants, escaped
//! strings (the slow parse), and any cut into chunks.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use kv_jit_core::ledger::{
    Event, Linker, NewEntry, Reason, Role, Tip, Window, append, parse_ledger, split_lines, to_line,
};
use kv_jit_core::plan::LedgerState;
use kv_jit_core::plan::state::{self, Interest, StateBuilder, check_chunk_state};
use kv_jit_core::request::RequestId;
use proptest::prelude::*;

const IDS: &[&str] = &["2026/a", "2026/b", "2026/c", "team/d", "../bad", "e"];
const ASSIGNMENTS: &[&str] = &["as-1", "AS-1", "as-2", "as-3"];

#[derive(Debug, Clone)]
struct Step {
    event: u8,
    id: usize,
    assignment: usize,
    sha: u8,
    /// Which members a hand-made line leaves out (bit per member).
    missing: u8,
    /// A string with an escape sequence, so the line takes the owned parse.
    escaped: bool,
    minutes: i64,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0u8..6,
        0..IDS.len(),
        0..ASSIGNMENTS.len(),
        0u8..3,
        any::<u8>(),
        any::<bool>(),
        0i64..600,
    )
        .prop_map(
            |(event, id, assignment, sha, missing, escaped, minutes)| Step {
                event,
                id,
                assignment,
                sha,
                missing: if missing < 160 { 0 } else { missing },
                escaped,
                minutes,
            },
        )
}

fn t0() -> DateTime<Utc> {
    "2026-11-27T09:00:00Z".parse().unwrap()
}

fn entry(s: &Step) -> NewEntry {
    let event = [
        Event::Granted,
        Event::Granted,
        Event::Revoked,
        Event::Refused,
        Event::Drift,
        Event::GrantFailed,
    ][s.event as usize];
    let gone = |bit: u8| s.missing & (1 << bit) != 0;
    let some = |bit: u8, v: String| (!gone(bit)).then_some(v);
    let start = t0() + Duration::minutes(s.minutes);
    NewEntry {
        request: some(0, IDS[s.id].to_owned()),
        request_sha256: some(1, format!("{:064x}", s.sha)),
        requester: some(2, "alice@contoso.com".into()),
        principal_id: some(3, "p-1".into()),
        vault: Some("kv".into()),
        secret: some(4, "s".into()),
        scope: some(5, "/subscriptions/x/vaults/kv".into()),
        role: (!gone(6)).then(|| Role {
            id: "r".into(),
            alias: None,
        }),
        assignment: some(7, ASSIGNMENTS[s.assignment].to_owned()),
        window: Some(Window {
            start,
            expires: start + Duration::hours(2),
        }),
        reason: (event == Event::Revoked).then_some(Reason::Expired),
        extends: (s.sha == 2).then(|| IDS[(s.id + 1) % IDS.len()].to_owned()),
        error: s.escaped.then(|| "a \"quoted\" word".to_owned()),
        ..NewEntry::new(start + Duration::seconds(30), event)
    }
}

fn assert_same(streamed: &LedgerState, full: &LedgerState, interest: Option<&HashSet<RequestId>>) {
    assert_eq!(streamed.active, full.active);
    assert_eq!(streamed.drifted, full.drifted);
    let wanted = |id: &RequestId| interest.is_none_or(|ids| ids.contains(id));
    let granted: Vec<_> = full.granted.iter().filter(|(id, _)| wanted(id)).collect();
    assert_eq!(streamed.granted.iter().collect::<Vec<_>>(), granted);
    let refused: Vec<_> = full.refused.iter().filter(|(id, _)| wanted(id)).collect();
    assert_eq!(streamed.refused.iter().collect::<Vec<_>>(), refused);
}

/// The streaming state of `text`, cut into `pieces` chunks checked on their own.
fn streamed(text: &str, pieces: usize, interest: Interest<'_>) -> LedgerState {
    let mut linker = Linker::new("l");
    let mut builder = StateBuilder::new();
    for chunk in split_lines(text.as_bytes(), pieces) {
        let (check, facts) = check_chunk_state(chunk, interest);
        builder.absorb(facts);
        linker.absorb(vec![check]).unwrap();
        linker.end_piece(chunk);
    }
    linker.finish().unwrap();
    builder.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_streamed_state_is_the_full_parse_state(
        steps in prop::collection::vec(step(), 0..40),
        pieces in 1usize..5,
        subset in any::<u8>(),
    ) {
        let entries = append(&Tip::genesis(), steps.iter().map(entry).collect());
        let text: String = entries.iter().map(to_line).collect();
        let full = state::from_ledger(&parse_ledger("l", text.as_bytes()).unwrap());
        assert_same(&streamed(&text, pieces, Interest::All), &full, None);
        let (report, one_pass) = state::verify_state("l", text.as_bytes(), Interest::All).unwrap();
        prop_assert_eq!(report.entries, entries.len() as u64);
        assert_same(&one_pass, &full, None);
        // Only some ids wanted: the same state, `granted` and `refused` cut to them.
        let ids: HashSet<RequestId> = IDS
            .iter()
            .enumerate()
            .filter(|(i, _)| subset & (1 << i) != 0)
            .filter_map(|(_, id)| RequestId::parse(id).ok())
            .collect();
        assert_same(&streamed(&text, pieces, Interest::Only(&ids)), &full, Some(&ids));
    }
}

#[test]
fn a_bad_line_fails_the_streamed_state_as_it_fails_verify() {
    let steps: Vec<Step> = (0..10)
        .map(|i| Step {
            event: (i % 6) as u8,
            id: i % IDS.len(),
            assignment: i % ASSIGNMENTS.len(),
            sha: 0,
            missing: 0,
            escaped: false,
            minutes: i as i64,
        })
        .collect();
    let text: String = append(&Tip::genesis(), steps.iter().map(entry).collect())
        .iter()
        .map(to_line)
        .collect();
    let edited = text.replacen("as-2", "as-9", 1);
    let err = state::verify_state("l", edited.as_bytes(), Interest::All).unwrap_err();
    let plain = kv_jit_core::ledger::verify_bytes("l", edited.as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), plain.to_string());
}
