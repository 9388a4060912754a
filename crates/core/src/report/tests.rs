use chrono::{DateTime, Utc};

use super::text::{self, html, md};
use super::*;
use crate::ledger::{
    Approval, Approvals, Entry, Event, NewEntry, Reason, Role, Tip, Window, append, parse_ledger,
    to_line,
};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn grant(at: &str, req: &str, who: &str, secret: &str, start: &str, expires: &str) -> NewEntry {
    NewEntry {
        request: Some(req.into()),
        request_sha256: Some("5d".repeat(32)),
        requester: Some(who.into()),
        principal_id: Some(format!("oid-{who}")),
        vault: Some("kv-one".into()),
        secret: Some(secret.into()),
        scope: Some(format!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-one/secrets/{secret}"
        )),
        role: Some(Role {
            id: "4633458b-17de-408a-b874-0445c86b69e6".into(),
            alias: Some("secrets-user".into()),
        }),
        assignment: Some(format!("asg-{req}")),
        window: Some(Window {
            start: t(start),
            expires: t(expires),
        }),
        approvals: Some(Approvals {
            pr: 7,
            commit: "c".repeat(40),
            by: vec![Approval {
                login: "bob".into(),
                commit: "c".repeat(40),
            }],
            owners: vec![],
        }),
        ..NewEntry::new(t(at), Event::Granted)
    }
}

fn revoke(g: &NewEntry, at: &str, reason: Reason) -> NewEntry {
    NewEntry {
        request: g.request.clone(),
        assignment: g.assignment.clone(),
        window: g.window,
        scope: g.scope.clone(),
        vault: g.vault.clone(),
        secret: g.secret.clone(),
        reason: Some(reason),
        ..NewEntry::new(t(at), Event::Revoked)
    }
}

fn verified(new: Vec<NewEntry>) -> Verified {
    Verified {
        entries: append(&Tip::genesis(), new),
        chain_break: None,
    }
}

fn scope() -> Scope {
    Scope {
        ledger: "audit/ledger.jsonl".into(),
        since: None,
        until: None,
        vault: None,
        as_of: t("2026-11-27T18:00:00Z"),
    }
}

fn a() -> NewEntry {
    grant(
        "2026-11-27T09:00:00Z",
        "r/a",
        "alice@x.com",
        "s1",
        "2026-11-27T09:00:00Z",
        "2026-11-27T10:00:00Z",
    )
}

fn b() -> NewEntry {
    grant(
        "2026-11-27T09:30:00Z",
        "r/b",
        "bob@x.com",
        "s1",
        "2026-11-27T09:30:00Z",
        "2026-11-27T11:30:00Z",
    )
}

#[test]
fn instants_are_rfc3339_or_plain_dates_at_midnight_utc() {
    assert_eq!(
        parse_instant("2026-11-01T09:00:00Z").unwrap(),
        t("2026-11-01T09:00:00Z")
    );
    assert_eq!(
        parse_instant("2026-11-01T10:00:00+01:00").unwrap(),
        t("2026-11-01T09:00:00Z")
    );
    assert_eq!(
        parse_instant("2026-11-01T09:00:00.5Z").unwrap(),
        t("2026-11-01T09:00:00.5Z")
    );
    assert_eq!(
        parse_instant("2026-11-01").unwrap(),
        t("2026-11-01T00:00:00Z")
    );
    for bad in [
        "2026-11-1",
        "2026-11-01T09:00:00",
        "yesterday",
        "",
        "2026-13-01",
    ] {
        let e = parse_instant(bad).unwrap_err();
        assert!(
            e.contains("neither an RFC 3339 instant nor a date"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn a_backwards_range_is_refused() {
    let (s, u) = (t("2026-11-02T00:00:00Z"), t("2026-11-01T00:00:00Z"));
    assert!(
        check_range(Some(s), Some(u))
            .unwrap_err()
            .contains("is after")
    );
    assert!(check_range(Some(u), Some(s)).is_ok());
    assert!(check_range(Some(s), Some(s)).is_ok());
    assert!(check_range(None, Some(s)).is_ok());
}

#[test]
fn refusal_reasons_drop_names_numbers_and_commits() {
    assert_eq!(
        reason_of("secret `a` is not allowed in vault `kv`"),
        "secret … is not allowed in vault …"
    );
    assert_eq!(
        reason_of("pull request #12 has 0 of 1 approvals on 3f2a9c1d0e11: detail"),
        "pull request #N has N of N approvals on …"
    );
    assert_eq!(reason_of(""), "(no reason recorded)");
    assert_eq!(reason_of("a; b"), "a");
    assert_eq!(reason_of(&"x".repeat(500)).chars().count(), 120);
}

#[test]
fn escaping_leaves_no_markup() {
    assert_eq!(
        html("<a href='x'>&\"\n"),
        "&lt;a href=&#39;x&#39;&gt;&amp;&quot; "
    );
    assert_eq!(md("a|b"), "a\\|b");
    assert_eq!(md("<script>"), "&lt;script&gt;");
    assert_eq!(
        md("[x](y) *b* `c` _d_ \\"),
        "\\[x\\](y) \\*b\\* \\`c\\` \\_d\\_ \\\\"
    );
    assert_eq!(md("line\nbreak"), "line break");
}

#[test]
fn durations_read_in_two_units() {
    assert_eq!(text::duration(30), "30s");
    assert_eq!(text::duration(90), "1m 30s");
    assert_eq!(text::duration(3600), "1h 0m");
    assert_eq!(text::duration(93_600), "1d 2h");
    assert_eq!(text::duration(-900), "-15m");
    assert_eq!(text::lag(Some(240)), "+4m");
    assert_eq!(text::lag(Some(-900)), "-15m");
    assert_eq!(text::lag(None), "—");
    assert_eq!(text::hours(5400), "1.5 h");
}

#[test]
fn each_revoke_reason_ends_its_grant_its_own_way() {
    let a = a();
    let mut b = b();
    let c = grant(
        "2026-11-27T12:00:00Z",
        "r/c",
        "carol@x.com",
        "s2",
        "2026-11-27T12:00:00Z",
        "2026-11-27T13:00:00Z",
    );
    let mut bg = grant(
        "2026-11-27T14:00:00Z",
        "r/bg",
        "dan@x.com",
        "s2",
        "2026-11-27T14:00:00Z",
        "2026-11-27T15:00:00Z",
    );
    bg.break_glass = Some(true);
    bg.approvals.as_mut().unwrap().by.clear();
    bg.approvals.as_mut().unwrap().owners = vec!["@org/sec".into()];
    b.expiry = Some(crate::ledger::ExpiryMode::Revoker);
    let mut early = revoke(&b, "2026-11-27T10:00:00Z", Reason::Early);
    early.actor = Some("bob-sec".into());
    early.note = Some("done".into());
    let v = verified(vec![
        a.clone(),
        b.clone(),
        early,
        revoke(&a, "2026-11-27T10:02:00Z", Reason::Expired),
        c.clone(),
        NewEntry {
            request: c.request.clone(),
            assignment: c.assignment.clone(),
            ..NewEntry::new(t("2026-11-27T12:30:00Z"), Event::Drift)
        },
        revoke(&c, "2026-11-27T13:01:00Z", Reason::Expired),
        bg.clone(),
        NewEntry {
            request: bg.request.clone(),
            issue: Some(9),
            ..NewEntry::new(t("2026-11-27T14:01:00Z"), Event::Retrospective)
        },
        revoke(&bg, "2026-11-27T14:30:00Z", Reason::Early),
    ]);
    let r = build(&v, &scope());
    let by: std::collections::BTreeMap<&str, &Grant> = r
        .grants
        .iter()
        .map(|g| (g.request.as_deref().unwrap(), g))
        .collect();
    assert_eq!(by["r/a"].end, End::Expired);
    assert_eq!(by["r/a"].lag_seconds, Some(120));
    assert_eq!(by["r/b"].end, End::Early);
    assert_eq!(by["r/b"].revoked_by.as_deref(), Some("bob-sec"));
    assert_eq!(by["r/b"].revoke_note.as_deref(), Some("done"));
    assert_eq!(by["r/b"].lag_seconds, Some(-5400));
    assert_eq!(by["r/b"].expiry.as_deref(), Some("revoker"));
    // A drifted grant stays drift, whatever its revoke said.
    assert_eq!(by["r/c"].end, End::Drift);
    assert_eq!(by["r/c"].end_class, EndClass::Drift);
    assert_eq!(by["r/c"].drift_at, Some(t("2026-11-27T12:30:00Z")));
    // Break-glass is coloured as such; how it ended is kept.
    assert_eq!(by["r/bg"].end, End::Early);
    assert_eq!(by["r/bg"].end_class, EndClass::BreakGlass);
    assert_eq!(by["r/bg"].retrospective_issue, Some(9));
    assert_eq!(by["r/bg"].owners, ["@org/sec"]);
    assert!(
        text::approvers(by["r/bg"])
            .contains("break-glass, no approval (owners told: @org/sec); retrospective #9")
    );
    // Only expired grants' lags make the percentiles, and not a drifted one.
    let lag = r.totals.revoke_lag.unwrap();
    assert_eq!((lag.count, lag.p50_seconds, lag.max_seconds), (1, 120, 120));
    assert_eq!(r.totals.people, 4);
    assert_eq!(r.totals.secrets, 2);
    assert_eq!(r.totals.break_glass, 1);
}

#[test]
fn an_external_revoke_is_drift_and_an_orphan_stands_alone() {
    let a = a();
    let orphan = NewEntry {
        request: None,
        principal_id: Some("oid-ghost".into()),
        scope: Some(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-one/secrets/s9"
                .into(),
        ),
        assignment: Some("ghost".into()),
        reason: Some(Reason::Orphan),
        ..NewEntry::new(t("2026-11-27T11:00:00Z"), Event::Revoked)
    };
    let v = verified(vec![
        a.clone(),
        revoke(&a, "2026-11-27T10:05:00Z", Reason::External),
        orphan,
    ]);
    let r = build(&v, &scope());
    assert_eq!(r.grants.len(), 2);
    assert_eq!(r.grants[0].end, End::Drift);
    let o = &r.grants[1];
    assert_eq!(o.end_class, EndClass::Orphan);
    assert_eq!(o.granted_at, None);
    assert_eq!(o.vault.as_deref(), Some("kv-one"));
    assert_eq!(o.secret.as_deref(), Some("s9"));
    assert_eq!(o.person(), "principal oid-ghost");
    assert_eq!(o.from(), Some(t("2026-11-27T11:00:00Z")));
}

#[test]
fn a_revoke_without_request_matches_by_assignment_case_insensitively() {
    let a = a();
    let mut rv = revoke(&a, "2026-11-27T10:00:00Z", Reason::Expired);
    rv.request = None;
    rv.assignment = Some("ASG-R/A".into());
    let r = build(&verified(vec![a, rv]), &scope());
    assert_eq!(r.grants.len(), 1);
    assert_eq!(r.grants[0].end, End::Expired);
}

#[test]
fn an_active_grant_runs_to_now_and_ranges_clip_hours() {
    let a = a();
    let r = build(&verified(vec![a.clone()]), &scope());
    let g = &r.grants[0];
    assert_eq!(g.end, End::Active);
    assert_eq!(g.to(r.as_of), Some(t("2026-11-27T18:00:00Z")));
    assert_eq!(g.access_seconds, 9 * 3600);
    // Inside a range: only the part inside counts; a grant touching the boundary is in.
    let mut s = scope();
    s.since = Some(t("2026-11-27T17:00:00Z"));
    let r = build(&verified(vec![a.clone()]), &s);
    assert_eq!(r.grants[0].access_seconds, 3600);
    s.since = Some(t("2026-11-27T18:00:00Z"));
    assert_eq!(build(&verified(vec![a.clone()]), &s).grants.len(), 1);
    s.since = Some(t("2026-11-27T18:00:01Z"));
    assert!(build(&verified(vec![a.clone()]), &s).grants.is_empty());
    let mut s = scope();
    s.until = Some(t("2026-11-27T08:59:59Z"));
    assert!(build(&verified(vec![a]), &s).grants.is_empty());
}

#[test]
fn the_vault_filter_is_case_insensitive_and_drops_unknown_vaults() {
    let mut s = scope();
    s.vault = Some("KV-ONE".into());
    let failed = NewEntry {
        request: Some("r/x".into()),
        error: Some("boom".into()),
        ..NewEntry::new(t("2026-11-27T09:10:00Z"), Event::GrantFailed)
    };
    let r = build(&verified(vec![a(), failed.clone()]), &s);
    assert_eq!(r.grants.len(), 1);
    assert!(
        r.failures.is_empty(),
        "a failure naming no vault is not this vault's"
    );
    s.vault = Some("other".into());
    assert!(build(&verified(vec![a()]), &s).grants.is_empty());
    assert_eq!(
        build(&verified(vec![a(), failed]), &scope()).failures.len(),
        1
    );
}

fn bytes(entries: &[Entry]) -> Vec<u8> {
    entries.iter().map(to_line).collect::<String>().into_bytes()
}

#[test]
fn the_verified_prefix_stops_before_the_first_bad_line() {
    let entries = append(
        &Tip::genesis(),
        vec![
            a(),
            b(),
            revoke(&a(), "2026-11-27T10:00:00Z", Reason::Expired),
        ],
    );
    let good = bytes(&entries);
    let v = verified_prefix("l", &good, parse_ledger);
    assert_eq!((v.entries.len(), v.chain_break), (3, None));
    // Line 2 edited.
    let text = String::from_utf8(good.clone()).unwrap();
    let edited = text.replacen("bob@x.com", "eve@x.com", 1);
    let v = verified_prefix("l", edited.as_bytes(), parse_ledger);
    assert_eq!(v.entries.len(), 1);
    let b = v.chain_break.unwrap();
    assert_eq!(b.line, 2);
    assert!(b.problem.starts_with("hash mismatch"), "{}", b.problem);
    // The first line bad: nothing verifies.
    let v = verified_prefix("l", b"junk\n", parse_ledger);
    assert_eq!((v.entries.len(), v.chain_break.unwrap().line), (0, 1));
    // No final newline: the last line is the break.
    let v = verified_prefix("l", &good[..good.len() - 1], parse_ledger);
    assert_eq!((v.entries.len(), v.chain_break.unwrap().line), (2, 3));
    // An empty ledger is valid and empty.
    let v = verified_prefix("l", b"", parse_ledger);
    assert_eq!((v.entries.len(), v.chain_break), (0, None));
}

#[test]
fn the_forms_say_where_the_chain_breaks_first() {
    let mut v = verified(vec![a()]);
    v.chain_break = Some(ChainBreak {
        line: 2,
        problem: "hash <mismatch> | --".into(),
    });
    let r = build(&v, &scope());
    let m = markdown::render(&r);
    assert!(
        m.lines()
            .next()
            .unwrap()
            .starts_with("**Ledger chain broken at line 2: hash &lt;mismatch&gt; \\| --.**"),
        "{m}"
    );
    let h = html::render(&r);
    let first = h.lines().next().unwrap();
    assert_eq!(
        first,
        "<!DOCTYPE html><!-- ledger chain broken at line 2: hash &lt;mismatch&gt; | - - -->"
    );
    assert!(json(&r).contains("\"line\": 2"));
}

#[test]
fn empty_and_out_of_range_reports_say_so() {
    let r = build(&verified(vec![]), &scope());
    assert!(markdown::render(&r).contains("The ledger is empty"));
    assert!(html::render(&r).contains("The ledger is empty"));
    let mut s = scope();
    s.since = Some(t("2027-01-01T00:00:00Z"));
    let r = build(&verified(vec![a()]), &s);
    // Still active at as_of (2026-11-27T18:00) means it ended before the range.
    assert!(
        markdown::render(&r).contains("No grant, refusal or failure in this range. The ledger's 1 entries run from 2026-11-27 09:00Z to 2026-11-27 09:00Z."),
        "{}",
        markdown::render(&r)
    );
}

#[test]
fn the_timeline_has_one_bar_per_grant_in_lanes_and_escapes_everything() {
    let mut evil = b();
    evil.requester = Some("<script>x</script>".into());
    let r = build(&verified(vec![a(), evil]), &scope());
    let h = html::render(&r);
    assert_eq!(h.matches("<rect class=\"bar ").count(), 2);
    assert_eq!(h.matches("class=\"bar end-active\"").count(), 2);
    assert!(!h.contains("<script"));
    assert!(h.contains("&lt;script&gt;x&lt;/script&gt;"));
    // The two overlap on one secret: two lanes, so two different y.
    let ys: Vec<&str> = h
        .match_indices("<rect class=\"bar ")
        .map(|(i, _)| {
            let rest = &h[i..];
            let y = rest.find(" y=\"").unwrap() + 4;
            let end = rest[y..].find('"').unwrap();
            &rest[y..y + end]
        })
        .collect();
    assert_ne!(ys[0], ys[1]);
}

#[test]
fn the_schema_names_every_member() {
    let schema: serde_json::Value = serde_json::from_str(&json_schema()).unwrap();
    let r = build(&verified(vec![a()]), &scope());
    let doc: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
    for k in doc.as_object().unwrap().keys() {
        assert!(schema["properties"].get(k).is_some(), "{k}");
    }
    assert_eq!(doc["report_version"], REPORT_VERSION);
}
