//! Properties of the planner and the ledger (issue 11 §5), over the core's public API:
//!
//! - planning after executing a plan yields nothing new in Azure (a re-run grants and revokes
//!   nothing; see the one refusal it may still add below), and the run after that nothing;
//! - no sequence of events breaks the chain (every append verifies, whatever the entries hold);
//! - every window granted lies inside its approved window (`approved_window`: the request file
//!   and its merge alone), and no grant outlives its vault's maximum past it.
//!
//! "Executing" a plan here is the engine's bookkeeping without Azure: each action becomes the
//! ledger entry the engine records when Azure says yes.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration as Span, Utc};
use kv_jit_core::config::Config;
use kv_jit_core::ledger::{
    Entry, Event, NewEntry, Reason, Role, Tip, Window, append, parse_ledger, to_line, verify_bytes,
};
use kv_jit_core::names::{SecretName, VaultName};
use kv_jit_core::plan::{
    Action, Desired, Merge, RefuseReason, RevokeReason, approved_window, plan, state::from_ledger,
};
use kv_jit_core::request::{Duration, Request, RequestId, Upn};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    "2026-11-27T09:00:00Z".parse().unwrap()
}

const VAULT_SCOPE: &str = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/flowlibs-demo-kv";

fn config() -> Config {
    let text = "tenant_id: 00000000-0000-0000-0000-000000000000\nvaults:\n  flowlibs-demo-kv:\n    subscription_id: 11111111-1111-1111-1111-111111111111\n    resource_group: rg\n    secrets: [demo-api-key, demo-connection-string]\n    max_duration: 4h\n    roles: [secrets-user, secrets-officer]\n";
    kv_jit_core::config::parse(text.as_bytes(), &mut kv_jit_core::diag::Sink::new("c")).unwrap()
}

/// One generated request file: who, which secret, how long, when merged, and its options.
#[derive(Debug, Clone)]
struct Spec {
    requester: usize,
    secret: usize,
    minutes: u32,
    merged_at: i64,
    start_after_merge: Option<i64>,
    /// Index of an earlier request this one extends.
    extends: Option<usize>,
    revoke: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..3usize,
        0..2usize,
        prop_oneof![Just(30u32), Just(60), Just(120), Just(240)],
        0..600i64,
        proptest::option::weighted(0.2, 0..300i64),
        proptest::option::weighted(0.3, 0..6usize),
        proptest::bool::weighted(0.1),
    )
        .prop_map(
            |(requester, secret, minutes, merged_at, start_after_merge, extends, revoke)| Spec {
                requester,
                secret,
                minutes,
                merged_at,
                start_after_merge,
                extends,
                revoke,
            },
        )
}

fn desired(specs: &[Spec]) -> Vec<Desired> {
    let people = ["alice@contoso.com", "bob@contoso.com", "dana@contoso.com"];
    let secrets = ["demo-api-key", "demo-connection-string"];
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let merged = t0() + Span::minutes(s.merged_at);
            Desired {
                request: Request {
                    id: RequestId::parse(&format!("2026/r{i}")).unwrap(),
                    path: format!("requests/2026/r{i}.yaml"),
                    requester_pos: kv_jit_core::diag::Pos::START,
                    vault_pos: kv_jit_core::diag::Pos::START,
                    secret_pos: kv_jit_core::diag::Pos::START,
                    requester: Upn::parse(people[s.requester]).unwrap(),
                    vault: VaultName::parse("flowlibs-demo-kv").unwrap(),
                    secret: SecretName::parse(secrets[s.secret]).unwrap(),
                    duration: Duration::parse(&format!("{}m", s.minutes)).unwrap(),
                    justification: "Rotate the partner API client".into(),
                    role: "secrets-user".into(),
                    role_id: "4633458b-17de-408a-b874-0445c86b69e6".into(),
                    start: s.start_after_merge.map(|m| merged + Span::minutes(m)),
                    ticket: None,
                    extends: s
                        .extends
                        .filter(|&e| e < i)
                        .map(|e| RequestId::parse(&format!("2026/r{e}")).unwrap()),
                    revoke: s.revoke,
                    break_glass: false,
                    issue: None,
                },
                sha256: format!("{i:064x}"),
                merged: Some(Merge {
                    commit: format!("{i:040x}"),
                    at: merged,
                }),
            }
        })
        .collect()
}

/// The assignment Azure keeps per (principal, role, scope): the engine names it after the
/// request; an extension continues its base's.
fn principal(upn: &str) -> String {
    format!("p-{upn}")
}

/// What the engine records when every effect succeeds.
fn execute(actions: &[Action], now: DateTime<Utc>) -> Vec<NewEntry> {
    let mut out = Vec::new();
    for a in actions {
        match a {
            Action::Grant {
                desired,
                request,
                start,
                expires,
                extends,
            } => {
                let r = &desired.request;
                let assignment = match extends {
                    Some(x) => x.base.assignment.clone(),
                    None => format!("asg-{request}"),
                };
                out.push(NewEntry {
                    request: Some(request.to_string()),
                    request_sha256: Some(desired.sha256.clone()),
                    requester: Some(r.requester.to_string()),
                    principal_id: Some(principal(r.requester.as_str())),
                    vault: Some(r.vault.to_string()),
                    secret: Some(r.secret.to_string()),
                    scope: Some(VAULT_SCOPE.into()),
                    role: Some(Role {
                        id: r.role_id.clone(),
                        alias: Some(r.role.clone()),
                    }),
                    assignment: Some(assignment),
                    window: Some(Window {
                        start: *start,
                        expires: *expires,
                    }),
                    extends: extends.as_ref().map(|x| x.base.request.to_string()),
                    ..NewEntry::new(now, Event::Granted)
                });
            }
            Action::Revoke { grant, reason, .. } => out.push(NewEntry {
                request: Some(grant.request.to_string()),
                assignment: Some(grant.assignment.clone()),
                window: Some(Window {
                    start: grant.start,
                    expires: grant.expires,
                }),
                reason: Some(match reason {
                    RevokeReason::Expired => Reason::Expired,
                    RevokeReason::Early => Reason::Early,
                }),
                ..NewEntry::new(now, Event::Revoked)
            }),
            Action::Refuse {
                request,
                sha256,
                reason,
                ..
            } => out.push(NewEntry {
                request: Some(request.to_string()),
                request_sha256: Some(sha256.clone()),
                error: Some(reason.to_string()),
                ..NewEntry::new(now, Event::Refused)
            }),
            Action::Wait { .. } => {}
        }
    }
    out
}

/// Everything but waits: what a run would do.
fn effects(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter(|a| !matches!(a, Action::Wait { .. }))
        .map(|a| format!("{a:?}"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Runs at increasing instants; after each run's plan is executed and recorded, planning
    /// again at the same instant has nothing to do, and every grant's window lies inside its
    /// approved window (and within the vault's maximum past it).
    #[test]
    fn a_run_after_a_run_does_nothing_and_grants_stay_inside_their_approval(
        specs in proptest::collection::vec(spec(), 1..7),
        steps in proptest::collection::vec(0..240i64, 1..6),
    ) {
        let config = config();
        let desired = desired(&specs);
        let on_main: BTreeMap<&RequestId, &Desired> =
            desired.iter().map(|d| (&d.request.id, d)).collect();
        let max = Span::hours(4);
        let mut entries: Vec<Entry> = Vec::new();
        let mut now = t0();
        for step in steps {
            now += Span::minutes(step);
            let state = from_ledger(&entries);
            let actions = plan(&desired, &[], &state, &config, now);
            for a in &actions {
                if let Action::Grant { desired: d, start, expires, extends, .. } = a {
                    let (a_start, a_end) = approved_window(d, &on_main, &config)
                        .expect("a granted request has an approved window");
                    prop_assert!(*start <= now, "granted before its start: {a:?}");
                    prop_assert!(start < expires, "empty window: {a:?}");
                    prop_assert!(
                        *start >= a_start && *expires <= a_end,
                        "granted [{start}, {expires}] outside the approved [{a_start}, {a_end}] for {}",
                        d.request.id
                    );
                    match extends {
                        None => prop_assert!(*expires - *start <= max),
                        Some(x) => prop_assert!(*expires <= x.base.expires + max),
                    }
                }
            }
            let new = execute(&actions, now);
            let appended = append(&Tip::of(&entries), new);
            entries.extend(appended);
            // A second run at the same instant changes nothing in Azure. The one thing it may
            // still add is the refusal of an `extends` of other access whose base this very
            // run granted (the planner judges `extends` against the grants recorded before
            // the run); recorded, a third run has nothing at all to do.
            let again = plan(&desired, &[], &from_ledger(&entries), &config, now);
            prop_assert!(
                again.iter().all(|a| matches!(
                    a,
                    Action::Wait { .. }
                        | Action::Refuse { reason: RefuseReason::ExtendsOtherAccess { .. }, .. }
                )),
                "a second run at {now} would do {:?}",
                effects(&again)
            );
            let appended = append(&Tip::of(&entries), execute(&again, now));
            entries.extend(appended);
            let third = plan(&desired, &[], &from_ledger(&entries), &config, now);
            prop_assert!(
                effects(&third).is_empty(),
                "a third run at {now} would do {:?}",
                effects(&third)
            );
        }
        let text: String = entries.iter().map(to_line).collect();
        prop_assert!(verify_bytes("ledger", text.as_bytes()).is_ok());
    }
}

/// Any text a field may hold: quotes, escapes, control characters, non-ASCII, line breaks.
fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z0-9\"\\\\\n\t\u{0}-\u{1f}é€😀 /:.=-]{0,24}").unwrap()
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::Granted),
        Just(Event::GrantFailed),
        Just(Event::Revoked),
        Just(Event::RevokeFailed),
        Just(Event::Refused),
        Just(Event::Drift),
        Just(Event::Retrospective),
    ]
}

fn new_entry() -> impl Strategy<Value = NewEntry> {
    (
        event(),
        0..100_000i64,
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of((0..100_000i64, 0..100_000i64)),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(
            |(event, secs, request, assignment, error, window, issue)| NewEntry {
                request,
                assignment,
                error,
                window: window.map(|(a, b)| Window {
                    start: t0() + Span::seconds(a.min(b)),
                    expires: t0() + Span::seconds(a.max(b)),
                }),
                reason: (event == Event::Revoked).then_some(Reason::Expired),
                issue,
                ..NewEntry::new(t0() + Span::seconds(secs), event)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Entries appended in any batches, holding anything, always verify and read back as
    /// written; seq counts from 1 without a gap.
    #[test]
    fn no_sequence_of_events_breaks_the_chain(
        batches in proptest::collection::vec(proptest::collection::vec(new_entry(), 0..5), 0..6),
    ) {
        let mut entries: Vec<Entry> = Vec::new();
        let mut text = String::new();
        for batch in batches {
            let appended = append(&Tip::of(&entries), batch);
            for e in &appended {
                text.push_str(&to_line(e));
            }
            entries.extend(appended);
            let report = verify_bytes("ledger", text.as_bytes());
            prop_assert!(report.is_ok(), "{report:?}\n{text}");
            prop_assert_eq!(report.unwrap().entries, entries.len() as u64);
        }
        let back = parse_ledger("ledger", text.as_bytes()).unwrap();
        prop_assert_eq!(&back, &entries);
        for (i, e) in back.iter().enumerate() {
            prop_assert_eq!(e.seq, i as u64 + 1);
        }
    }

    /// And the chain notices: a ledger with any one byte changed does not verify.
    #[test]
    fn one_changed_byte_is_caught(
        batch in proptest::collection::vec(new_entry(), 1..6),
        at in any::<prop::sample::Index>(),
        to in any::<u8>(),
    ) {
        let entries = append(&Tip::genesis(), batch);
        let text: String = entries.iter().map(to_line).collect();
        let mut bytes = text.into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != to);
        bytes[i] = to;
        let back = parse_ledger("ledger", &bytes);
        prop_assert!(back.is_err(), "byte {i} changed to {to:#04x} still verifies: {back:?}");
    }
}

/// Found by the first property: an extension with its own `start:`, whose base's window opens
/// only after the extension was merged. `approved_window` says it is no extension (its base's
/// window was not open at its merge): it runs from its `start:`. The planner used to grant it
/// at once as an extension one run after the base, and the next run revoked it early ("the
/// approved window has not begun"), so it was never granted for its real window.
#[test]
fn an_extension_merged_before_its_base_opened_waits_for_its_own_start() {
    let specs = [
        Spec {
            requester: 0,
            secret: 0,
            minutes: 30,
            merged_at: 0,
            start_after_merge: Some(123),
            extends: None,
            revoke: false,
        },
        Spec {
            requester: 0,
            secret: 0,
            minutes: 30,
            merged_at: 17,
            start_after_merge: Some(136),
            extends: Some(0),
            revoke: false,
        },
    ];
    let config = config();
    let desired = desired(&specs);
    let mut entries: Vec<Entry> = Vec::new();
    let mut log = Vec::new();
    for minutes in [123, 128, 133, 153, 158, 170, 190] {
        let now = t0() + Span::minutes(minutes);
        let actions = plan(&desired, &[], &from_ledger(&entries), &config, now);
        log.extend(
            effects(&actions)
                .iter()
                .map(|a| format!("{minutes}: {}", &a[..a.find(" {").unwrap_or(a.len())])),
        );
        let new = execute(&actions, now);
        for e in &new {
            if e.event == Event::Revoked {
                assert_ne!(
                    e.reason,
                    Some(Reason::Early),
                    "revoked early at {minutes}: {:?}\n{log:?}",
                    e.request
                );
            }
        }
        let appended = append(&Tip::of(&entries), new);
        entries.extend(appended);
    }
    let granted: Vec<_> = entries
        .iter()
        .filter(|e| e.event == Event::Granted)
        .map(|e| (e.request.clone().unwrap(), e.window.unwrap()))
        .collect();
    assert_eq!(granted.len(), 2, "{log:?}");
    let second = granted[1].1;
    assert_eq!(
        (second.start, second.expires),
        (t0() + Span::minutes(153), t0() + Span::minutes(183)),
        "{log:?}"
    );
}
