//! The ledger's chain: what verify catches and where, and what append and dedupe guarantee.

use chrono::{DateTime, Duration, Utc};
use kv_jit_core::ledger::{
    Approval, Approvals, Entry, Event, GENESIS, NewEntry, Problem, Reason, Role, Tip, VerifyError,
    Window, append, compute_hash, dedupe, parse_ledger, to_line, verify_bytes,
};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn granted(i: u32) -> NewEntry {
    let start = t("2026-11-27T09:00:00Z") + Duration::minutes(i.into());
    NewEntry {
        request: Some(format!("2026/alice-{i}")),
        request_sha256: Some(format!("{i:064x}")),
        requester: Some("alice@contoso.com".into()),
        principal_id: Some("9a3f0c2e-1b7d-4e55-8c21-6f0d2b7a9e41".into()),
        vault: Some("flowlibs-demo-kv".into()),
        secret: Some("demo-api-key".into()),
        scope: Some("/subscriptions/0/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/flowlibs-demo-kv".into()),
        role: Some(Role {
            id: "4633458b-17de-408a-b874-0445c86b69e6".into(),
            alias: Some("secrets-user".into()),
        }),
        assignment: Some(format!("00000000-0000-5000-8000-{i:012}")),
        window: Some(Window {
            start,
            expires: start + Duration::hours(2),
        }),
        approvals: Some(Approvals {
            pr: 40 + u64::from(i),
            commit: "a".repeat(40),
            by: vec![Approval {
                login: "bob-sec".into(),
                commit: "a".repeat(40),
            }],
            owners: vec![],
        }),
        run_url: Some("https://github.com/contoso/access/actions/runs/1".into()),
        ..NewEntry::new(start + Duration::seconds(30), Event::Granted)
    }
}

fn ledger(n: u32) -> String {
    append(&Tip::genesis(), (1..=n).map(granted).collect())
        .iter()
        .map(to_line)
        .collect()
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_owned).collect()
}

fn join(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[track_caller]
fn bad_line(content: &str) -> (u64, Problem) {
    match verify_bytes("audit/ledger.jsonl", content.as_bytes()) {
        Err(VerifyError::Line { line, problem, .. }) => (line, problem),
        other => panic!("expected a bad line, got {other:?}"),
    }
}

#[test]
fn a_clean_ledger_verifies() {
    let l = ledger(10);
    let report = verify_bytes("x", l.as_bytes()).unwrap();
    assert_eq!(report.entries, 10);
    assert_eq!(report.tip.seq, 10);
    assert_eq!(verify_bytes("x", b"").unwrap().tip, Tip::genesis());
}

#[test]
fn the_canonical_form_is_exactly_as_documented() {
    let e = &append(
        &Tip::genesis(),
        vec![NewEntry {
            request: Some("2026/a".into()),
            ..NewEntry::new(t("2026-11-27T09:00:00Z"), Event::Refused)
        }],
    )[0];
    let canonical = format!(
        r#"{{"v":1,"seq":1,"time":"2026-11-27T09:00:00Z","event":"refused","request":"2026/a","prev":"{GENESIS}"}}"#
    );
    let expected_hash = {
        use sha2::Digest;
        sha2::Sha256::digest(canonical.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(e.hash, expected_hash);
    assert_eq!(
        to_line(e),
        format!(
            "{}{}\n",
            &canonical[..canonical.len() - 1],
            format_args!(r#","hash":"{expected_hash}"}}"#)
        )
    );
    assert_eq!(compute_hash(e), e.hash);
}

#[test]
fn every_field_round_trips() {
    let mut all = granted(1);
    all.reason = Some(Reason::External);
    all.error = Some("quote \" backslash \\ tab \t é ✓".into());
    let entries = append(&Tip::genesis(), vec![all]);
    let text: String = entries.iter().map(to_line).collect();
    assert_eq!(parse_ledger("x", text.as_bytes()).unwrap(), entries);
}

#[test]
fn an_edited_field_is_a_hash_mismatch_on_that_line() {
    let mut l = lines(&ledger(20));
    l[16] = l[16].replace("alice@contoso.com", "mallory@contoso.com");
    let (line, problem) = bad_line(&join(&l));
    assert_eq!(line, 17);
    assert!(matches!(problem, Problem::HashMismatch { .. }), "{problem}");
    let err = verify_bytes("audit/ledger.jsonl", join(&l).as_bytes()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("audit/ledger.jsonl:17: hash mismatch: "),
        "{err}"
    );
}

#[test]
fn a_deleted_line_is_named() {
    let mut l = lines(&ledger(20));
    l.remove(4);
    assert_eq!(
        bad_line(&join(&l)),
        (
            5,
            Problem::Seq {
                found: 6,
                expected: 5
            }
        )
    );
}

#[test]
fn a_deleted_first_line_is_named() {
    let mut l = lines(&ledger(3));
    l.remove(0);
    assert_eq!(bad_line(&join(&l)).0, 1);
}

#[test]
fn reordered_lines_are_named() {
    let mut l = lines(&ledger(20));
    l.swap(9, 10);
    let (line, problem) = bad_line(&join(&l));
    assert_eq!(line, 10);
    assert!(matches!(problem, Problem::Seq { .. }), "{problem}");
}

#[test]
fn a_truncated_line_is_named() {
    let mut l = lines(&ledger(20));
    let half = l[7].len() / 2;
    l[7].truncate(half);
    let (line, problem) = bad_line(&join(&l));
    assert_eq!(line, 8);
    assert!(matches!(problem, Problem::Invalid(_)), "{problem}");
}

#[test]
fn a_truncated_file_is_named() {
    let l = ledger(5);
    let cut = &l[..l.len() - 30];
    assert_eq!(bad_line(cut).0, 5);
    // Only the final newline missing: the entry is intact but the file was still cut.
    assert_eq!(bad_line(&l[..l.len() - 1]), (5, Problem::NoFinalNewline));
}

#[test]
fn an_inserted_line_is_named_even_when_its_hash_is_right() {
    let l = lines(&ledger(6));
    // A forger who knows the format writes a perfectly hashed entry after line 3.
    let prev: Entry = serde_json::from_str(&l[2]).unwrap();
    let forged = append(
        &Tip {
            seq: prev.seq,
            hash: prev.hash.clone(),
        },
        vec![granted(99)],
    );
    let mut tampered = l.clone();
    tampered.insert(3, to_line(&forged[0]).trim_end().to_owned());
    let (line, problem) = bad_line(&join(&tampered));
    assert_eq!(line, 5);
    assert!(matches!(problem, Problem::Seq { .. }), "{problem}");
}

#[test]
fn trailing_garbage_blank_lines_and_crlf_are_named() {
    let l = ledger(3);
    assert_eq!(bad_line(&format!("{l}garbage\n")).0, 4);
    assert_eq!(bad_line(&format!("{l}\n")), (4, Problem::Empty));
    assert_eq!(
        bad_line(&l.replace('\n', "\r\n")),
        (1, Problem::CarriageReturn)
    );
}

#[test]
fn unknown_fields_are_refused_so_no_token_can_ride_along() {
    let l = lines(&ledger(2));
    let with_token = l[1].replacen(r#""v":1,"#, r#""v":1,"token":"ghs_x","#, 1);
    let (line, problem) = bad_line(&join(&[l[0].clone(), with_token]));
    assert_eq!(line, 2);
    assert!(
        matches!(&problem, Problem::Invalid(m) if m.contains("unknown field `token`")),
        "{problem}"
    );
}

#[test]
fn non_canonical_spelling_is_refused_even_with_a_matching_hash() {
    // Re-spell line 1 with a space and re-hash it the documented way: still refused.
    let l = lines(&ledger(1));
    let spaced = l[0].replacen(r#""v":1,"#, r#""v": 1,"#, 1);
    let body = format!("{}}}", &spaced[..spaced.len() - 75]);
    let hash: String = {
        use sha2::Digest;
        sha2::Sha256::digest(body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let line = format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1]);
    assert_eq!(bad_line(&join(&[line])), (1, Problem::NotCanonical));
}

#[test]
fn errors_are_scrubbed_on_append() {
    let e = &append(
        &Tip::genesis(),
        vec![NewEntry {
            error: Some("PUT https://management.azure.com/x?sig=abc failed: Bearer eyJ.a.b".into()),
            ..NewEntry::new(t("2026-11-27T09:00:00Z"), Event::GrantFailed)
        }],
    )[0];
    let err = e.error.as_deref().unwrap();
    assert!(!err.contains("sig=abc") && !err.contains("eyJ"), "{err}");
}

#[test]
fn append_rebuilds_on_a_newer_tip() {
    let mine = vec![granted(50), granted(51)];
    let first = append(&Tip::genesis(), mine.clone());
    // Someone else pushed three entries first; the same new entries go on top of theirs.
    let theirs = append(&Tip::genesis(), (1..=3).map(granted).collect());
    let rebuilt = append(&Tip::of(&theirs), mine);
    assert_eq!(rebuilt[0].seq, 4);
    assert_eq!(rebuilt[0].prev, theirs[2].hash);
    assert_eq!(rebuilt[0].request, first[0].request);
    assert_ne!(rebuilt[0].hash, first[0].hash);
    let all: String = theirs.iter().chain(&rebuilt).map(to_line).collect();
    assert_eq!(verify_bytes("x", all.as_bytes()).unwrap().entries, 5);
}

#[test]
fn revokes_get_their_lag() {
    let g = granted(1);
    let expires = g.window.unwrap().expires;
    let r = NewEntry {
        event: Event::Revoked,
        reason: Some(Reason::Expired),
        time: expires + Duration::seconds(95) + Duration::milliseconds(700),
        ..g
    };
    let e = &append(&Tip::genesis(), vec![r])[0];
    assert_eq!(e.lag_seconds, Some(95));
    assert_eq!(e.time, expires + Duration::seconds(95));
}

#[test]
fn dedupe_drops_what_the_ledger_already_records() {
    let existing = append(&Tip::genesis(), vec![granted(1), granted(2)]);
    // A re-run after a crash: grant 2 again (later, idempotent PUT), and grant 3 is new.
    let mut again = granted(2);
    again.time += Duration::minutes(7);
    let fresh = dedupe(&existing, vec![again, granted(3), granted(3)]);
    assert_eq!(fresh, vec![granted(3)]);

    // A second failure of the same grant is a new fact; a replay of the same one is not.
    let fail = NewEntry {
        event: Event::GrantFailed,
        error: Some("403".into()),
        ..granted(4)
    };
    let existing = append(&Tip::genesis(), vec![fail.clone()]);
    let mut later = fail.clone();
    later.time += Duration::minutes(5);
    assert_eq!(dedupe(&existing, vec![fail, later.clone()]), vec![later]);

    // A refusal is recorded once per file content.
    let refusal = |sha: &str| NewEntry {
        request: Some("2026/x".into()),
        request_sha256: Some(sha.into()),
        ..NewEntry::new(t("2026-11-27T09:00:00Z"), Event::Refused)
    };
    let existing = append(&Tip::genesis(), vec![refusal("1")]);
    assert_eq!(
        dedupe(&existing, vec![refusal("1"), refusal("2")]),
        vec![refusal("2")]
    );
}

#[test]
fn large_ledgers_verify_in_parallel_and_still_name_the_first_bad_line() {
    // Over the 1 MB threshold, so the work is split between threads.
    let n = 2500;
    let mut l = lines(&ledger(n));
    assert!(join(&l).len() > 1 << 20);
    assert_eq!(
        verify_bytes("x", join(&l).as_bytes()).unwrap().entries,
        u64::from(n)
    );
    // Break a line in the second half and an earlier one: the earlier one is reported.
    l[2000] = l[2000].replace("bob-sec", "eve");
    assert_eq!(bad_line(&join(&l)).0, 2001);
    l.swap(1200, 1201);
    assert_eq!(bad_line(&join(&l)).0, 1201);
    // Every line position, including chunk boundaries, is linked: delete each in turn.
    let clean = lines(&ledger(n));
    for k in [0, 1, 1249, 1250, 1251, 2498] {
        let mut d = clean.clone();
        d.remove(k);
        assert_eq!(bad_line(&join(&d)).0, k as u64 + 1, "deleted {k}");
    }
}

#[test]
fn two_runs_granting_one_request_with_different_windows_record_it_once() {
    let existing = append(&Tip::genesis(), vec![granted(1)]);
    let mut other_run = granted(1);
    other_run.window = other_run.window.map(|w| Window {
        start: w.start + Duration::seconds(40),
        expires: w.expires + Duration::seconds(40),
    });
    assert!(dedupe(&existing, vec![other_run]).is_empty());
}

#[test]
fn invalid_utf8_is_named_by_line() {
    let l = ledger(3);
    let mut bytes = l.into_bytes();
    let second = bytes.iter().position(|&b| b == b'\n').unwrap() + 20;
    bytes[second] = 0xff;
    match verify_bytes("x", &bytes) {
        Err(VerifyError::Line {
            line: 2,
            problem: Problem::Invalid(_),
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

/// Break-glass added optional members (`break_glass`, `issue`, `approvals.owners`) and the
/// `retrospective` event: a ledger written before them verifies byte for byte as before, and
/// one holding them verifies and reads back.
#[test]
fn break_glass_members_are_compatible() {
    // A line as kv-jit wrote it before break-glass (the "old" shape, hash fixed by its bytes).
    let old = ledger(3);
    let before = verify_bytes("x", old.as_bytes()).unwrap();
    assert!(!old.contains("break_glass") && !old.contains("owners"));
    let mut bg = granted(4);
    bg.break_glass = Some(true);
    bg.approvals = Some(Approvals {
        pr: 9,
        commit: "b".repeat(40),
        by: vec![],
        owners: vec!["@carol".into(), "@acme/security".into()],
    });
    let retro = NewEntry {
        request: bg.request.clone(),
        issue: Some(12),
        ..NewEntry::new(t("2026-11-27T10:00:00Z"), Event::Retrospective)
    };
    // `break_glass: false` is never written: one spelling per entry.
    let mut plain = granted(5);
    plain.break_glass = Some(false);
    let added = append(&before.tip, vec![bg, retro.clone(), plain]);
    let text = format!("{old}{}", added.iter().map(to_line).collect::<String>());
    assert_eq!(verify_bytes("x", text.as_bytes()).unwrap().entries, 6);
    let l = lines(&text);
    assert!(
        l[3].contains(r#""by":[],"owners":["@carol","@acme/security"]}"#),
        "{}",
        l[3]
    );
    assert!(l[3].contains(r#","break_glass":true,"prev""#), "{}", l[3]);
    assert!(
        l[4].contains(r#""event":"retrospective","request":"2026/alice-4","issue":12,"prev""#),
        "{}",
        l[4]
    );
    assert!(!l[5].contains("break_glass"), "{}", l[5]);
    let entries = parse_ledger("x", text.as_bytes()).unwrap();
    assert!(matches!(
        entries[4].body(),
        Ok(kv_jit_core::ledger::Body::Retrospective {
            request: "2026/alice-4",
            issue: 12
        })
    ));
    let Ok(kv_jit_core::ledger::Body::Granted(g)) = entries[3].body() else {
        panic!()
    };
    assert!(g.break_glass);
    // One retrospective per request: a re-run's second one is a duplicate.
    let again = NewEntry {
        time: t("2026-11-27T11:00:00Z"),
        issue: Some(13),
        ..retro
    };
    assert!(dedupe(&entries, vec![again]).is_empty());
}
