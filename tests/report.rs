//! `kv-jit report`: the binary on a fixed ledger that holds every way a grant ends
//! (expired, early, orphan, drift, break-glass, still active), overlapping grants, a long window,
//! refusals and a failure. Markdown and JSON are snapshots; the HTML is parsed as XML and its
//! SVG timeline counted bar by bar; then the bad inputs: a broken chain, an empty ledger, a
//! range with nothing in it, a backwards range, hostile text.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use kv_jit_core::ledger::{
    Approval, Approvals, Entry, Event, NewEntry, Reason, Role, Tip, Window, append, to_line,
};
use support::{kv_jit, root};

/// The report's "now" in these tests: the long grant is still active then.
const AS_OF: &str = "2026-11-29T12:00:00Z";

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

const VAULT: &str = "flowlibs-demo-kv";
const SCOPE: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-demo/providers/Microsoft.KeyVault/vaults";

#[allow(clippy::too_many_arguments)]
fn granted(
    at: &str,
    request: &str,
    who: &str,
    vault: &str,
    secret: &str,
    (start, expires): (&str, &str),
    pr: u64,
    by: &[&str],
) -> NewEntry {
    NewEntry {
        request: Some(request.into()),
        request_sha256: Some("5d".repeat(32)),
        requester: Some(who.into()),
        principal_id: Some(format!("oid-{}", who.split('@').next().unwrap())),
        vault: Some(vault.into()),
        secret: Some(secret.into()),
        scope: Some(format!("{SCOPE}/{vault}/secrets/{secret}")),
        role: Some(Role {
            id: "4633458b-17de-408a-b874-0445c86b69e6".into(),
            alias: Some("secrets-user".into()),
        }),
        assignment: Some(format!("asg-{request}")),
        window: Some(Window {
            start: t(start),
            expires: t(expires),
        }),
        approvals: Some(Approvals {
            pr,
            commit: "3f2a".repeat(10),
            by: by
                .iter()
                .map(|l| Approval {
                    login: (*l).into(),
                    commit: "3f2a".repeat(10),
                })
                .collect(),
            owners: vec![],
        }),
        run_url: Some(format!(
            "https://github.com/contoso/access/actions/runs/{pr}"
        )),
        ..NewEntry::new(t(at), Event::Granted)
    }
}

/// The `revoked` line kv-jit writes for `g`.
fn revoked(g: &NewEntry, at: &str, reason: Reason) -> NewEntry {
    NewEntry {
        request: g.request.clone(),
        requester: g.requester.clone(),
        principal_id: g.principal_id.clone(),
        vault: g.vault.clone(),
        secret: g.secret.clone(),
        scope: g.scope.clone(),
        role: g.role.clone(),
        assignment: g.assignment.clone(),
        window: g.window,
        reason: Some(reason),
        ..NewEntry::new(t(at), Event::Revoked)
    }
}

fn refused(at: &str, request: &str, who: &str, why: &str) -> NewEntry {
    NewEntry {
        request: Some(request.into()),
        request_sha256: Some("ab".repeat(32)),
        requester: Some(who.into()),
        vault: Some(VAULT.into()),
        secret: Some("demo-api-key".into()),
        error: Some(why.into()),
        ..NewEntry::new(t(at), Event::Refused)
    }
}

/// The fixture: every end class, break-glass with its retrospective, two overlapping grants on
/// one secret, a two-day window, three refusals (two for the same rule), one failed grant, and
/// a second vault.
fn fixture() -> Vec<NewEntry> {
    let alice = granted(
        "2026-11-27T09:00:05Z",
        "2026/alice-api-key",
        "alice@contoso.com",
        VAULT,
        "demo-api-key",
        ("2026-11-27T09:00:00Z", "2026-11-27T11:00:00Z"),
        17,
        &["bob-sec"],
    );
    let dave = granted(
        "2026-11-27T09:30:00Z",
        "2026/dave-api-key",
        "dave@contoso.com",
        VAULT,
        "demo-api-key",
        ("2026-11-27T09:30:00Z", "2026-11-27T10:30:00Z"),
        18,
        &["bob-sec", "carol"],
    );
    let mut erin = granted(
        "2026-11-27T12:00:00Z",
        "2026/erin-incident",
        "erin@contoso.com",
        VAULT,
        "demo-connection-string",
        ("2026-11-27T12:00:00Z", "2026-11-27T13:00:00Z"),
        23,
        &[],
    );
    erin.break_glass = Some(true);
    erin.approvals.as_mut().unwrap().owners = vec!["@acme/security".into()];
    let frank = granted(
        "2026-11-27T14:00:00Z",
        "2026/frank-conn",
        "frank@contoso.com",
        VAULT,
        "demo-connection-string",
        ("2026-11-27T14:00:00Z", "2026-11-27T16:00:00Z"),
        25,
        &["carol"],
    );
    let grace = granted(
        "2026-11-28T08:00:00Z",
        "2026/grace-migration",
        "grace@contoso.com",
        VAULT,
        "demo-api-key",
        ("2026-11-28T08:00:00Z", "2026-11-30T08:00:00Z"),
        26,
        &["bob-sec"],
    );
    let ivan = granted(
        "2026-11-28T10:00:00Z",
        "2026/ivan-deploy",
        "ivan@contoso.com",
        "ops-kv",
        "deploy-key",
        ("2026-11-28T10:00:00Z", "2026-11-28T11:00:00Z"),
        27,
        &["carol"],
    );
    let mut dave_early = revoked(&dave, "2026-11-27T10:15:00Z", Reason::Early);
    dave_early.actor = Some("bob-sec".into());
    dave_early.note = Some("incident closed, access no longer needed".into());
    let orphan = NewEntry {
        request: Some("2026/ghost".into()),
        principal_id: Some("oid-ghost".into()),
        scope: Some(format!("{SCOPE}/{VAULT}/secrets/demo-api-key")),
        role: Some(Role {
            id: "4633458b-17de-408a-b874-0445c86b69e6".into(),
            alias: None,
        }),
        assignment: Some("asg-2026/ghost".into()),
        reason: Some(Reason::Orphan),
        ..NewEntry::new(t("2026-11-27T15:00:00Z"), Event::Revoked)
    };
    vec![
        alice.clone(),
        dave.clone(),
        dave_early,
        revoked(&alice, "2026-11-27T11:04:00Z", Reason::Expired),
        refused(
            "2026-11-27T11:10:00Z",
            "2026/eve-1",
            "eve@contoso.com",
            "pull request #21 has 0 of 1 required code-owner approvals on its final head 3f2a9c1d0e11: no review",
        ),
        refused(
            "2026-11-27T11:20:00Z",
            "2026/eve-2",
            "eve@contoso.com",
            "pull request #22 has 0 of 1 required code-owner approvals on its final head 9a8b7c6d5e4f: @eve-ops is the requester",
        ),
        refused(
            "2026-11-27T11:30:00Z",
            "2026/mallory",
            "mallory@contoso.com",
            "secret `prod-db` is not allowed in vault `flowlibs-demo-kv`",
        ),
        erin.clone(),
        NewEntry {
            request: Some("2026/erin-incident".into()),
            issue: Some(24),
            ..NewEntry::new(t("2026-11-27T12:01:00Z"), Event::Retrospective)
        },
        revoked(&erin, "2026-11-27T13:02:00Z", Reason::Expired),
        frank.clone(),
        NewEntry {
            error: Some(
                "the ledger holds this grant as active but Azure has no such role assignment"
                    .into(),
            ),
            ..revoked(&frank, "2026-11-27T14:40:00Z", Reason::Expired)
        }
        .with_event(Event::Drift),
        orphan,
        revoked(&frank, "2026-11-27T16:05:00Z", Reason::External),
        grace,
        NewEntry {
            request: Some("2026/henry".into()),
            error: Some("ARM answered 503 Service Unavailable".into()),
            ..NewEntry::new(t("2026-11-28T09:00:00Z"), Event::GrantFailed)
        },
        ivan.clone(),
        revoked(&ivan, "2026-11-28T11:00:30Z", Reason::Expired),
    ]
}

trait WithEvent {
    fn with_event(self, e: Event) -> Self;
}

impl WithEvent for NewEntry {
    fn with_event(mut self, e: Event) -> Self {
        self.event = e;
        if e == Event::Drift {
            self.reason = None;
            self.window = None;
        }
        self
    }
}

fn chain(new: Vec<NewEntry>) -> Vec<Entry> {
    append(&Tip::genesis(), new)
}

fn ledger_text(entries: &[Entry]) -> String {
    entries.iter().map(to_line).collect()
}

/// A folder holding `audit/ledger.jsonl` with `text`.
fn with_ledger(text: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("audit/ledger.jsonl");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    (tmp, path)
}

fn report(dir: &Path, extra: &[&str]) -> support::Run {
    let mut args = vec!["report", "--ledger", "audit/ledger.jsonl", "--now", AS_OF];
    args.extend_from_slice(extra);
    kv_jit(dir, &args, &[])
}

fn fixture_dir() -> (tempfile::TempDir, PathBuf) {
    with_ledger(&ledger_text(&chain(fixture())))
}

#[test]
fn markdown_report_of_every_ending() {
    // The fixture's dates are the suite's: it opens at T0 (and never reads the wall clock).
    assert_eq!(
        chain(fixture())[0].time,
        support::t0() + chrono::Duration::seconds(5)
    );
    let (dir, _) = fixture_dir();
    let run = report(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    insta::assert_snapshot!("report_markdown", run.stdout);
    // `--format md` and the default are the same Markdown.
    let md = report(dir.path(), &["--format", "md"]);
    assert_eq!(md.stdout, run.stdout);
}

#[test]
fn json_report_is_stable_and_matches_its_schema() {
    let (dir, _) = fixture_dir();
    let run = report(dir.path(), &["--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    insta::assert_snapshot!("report_json", run.stdout);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["report_version"], 1);
    let t = &doc["totals"];
    assert_eq!(t["grants"], 7);
    assert_eq!(t["people"], 7);
    assert_eq!(t["break_glass"], 1);
    assert_eq!(t["refusals"], 3);
    assert_eq!(t["failures"], 1);
    // Nearest-rank over the expired grants' lags: 30 s, 120 s, 240 s.
    assert_eq!(t["revoke_lag"]["p50_seconds"], 120);
    assert_eq!(t["revoke_lag"]["p95_seconds"], 240);
    assert_eq!(t["revoke_lag"]["max_seconds"], 240);
    // Two refusals for the same rule count together.
    assert_eq!(t["refusals_by_reason"][0]["count"], 2);
    let classes: BTreeMap<String, String> = doc["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["request"].as_str().unwrap().to_owned(),
                g["end_class"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: BTreeMap<String, String> = [
        ("2026/alice-api-key", "expired"),
        ("2026/dave-api-key", "early"),
        ("2026/erin-incident", "break-glass"),
        ("2026/frank-conn", "drift"),
        ("2026/ghost", "orphan"),
        ("2026/grace-migration", "active"),
        ("2026/ivan-deploy", "expired"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    assert_eq!(classes, want);

    let printed = kv_jit(dir.path(), &["report", "--schema"], &[]);
    assert_eq!(printed.stdout, kv_jit_core::report::json_schema());
    // The committed schema is the one the code derives, and it describes this document: every
    // member the report and a grant carry is in the schema, and every required one is there.
    let committed = std::fs::read_to_string(root().join("schema/report.schema.json")).unwrap();
    assert_eq!(
        committed,
        kv_jit_core::report::json_schema(),
        "schema/report.schema.json drifted: run `cargo run -- report --schema > schema/report.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
    check_members(&doc, &schema["properties"], &schema["required"]);
    for g in doc["grants"].as_array().unwrap() {
        let def = &schema["$defs"]["Grant"];
        check_members(g, &def["properties"], &def["required"]);
    }
}

fn check_members(doc: &serde_json::Value, props: &serde_json::Value, required: &serde_json::Value) {
    let props = props.as_object().expect("schema properties");
    for k in doc.as_object().unwrap().keys() {
        assert!(props.contains_key(k), "`{k}` is not in the schema");
    }
    for k in required.as_array().into_iter().flatten() {
        let k = k.as_str().unwrap();
        assert!(doc.get(k).is_some(), "required `{k}` missing");
    }
}

/// The page parsed as XML; its SVG bars (class, title) in document order.
fn bars(html: &str) -> Vec<(String, String)> {
    let doc = roxmltree::Document::parse_with_options(
        html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("the HTML report is not well-formed XHTML: {e}"));
    let svgs: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("svg"))
        .collect();
    assert_eq!(svgs.len(), 1, "one timeline");
    svgs[0]
        .descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split(' ').any(|c| c == "bar"))
        })
        .map(|n| {
            let title = n
                .children()
                .find(|c| c.has_tag_name("title"))
                .and_then(|c| c.text())
                .unwrap_or_default()
                .to_owned();
            (n.attribute("class").unwrap().to_owned(), title)
        })
        .collect()
}

#[test]
fn html_report_is_one_self_contained_page_with_one_bar_per_grant() {
    let (dir, _) = fixture_dir();
    let out = dir.path().join("report.html");
    let run = report(
        dir.path(),
        &["--format", "html", "--out", out.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("report written to"), "{}", run.stdout);
    let html = std::fs::read_to_string(&out).unwrap();
    // To look at the fixture's page: KV_JIT_REPORT_HTML_DUMP=/tmp/fixture.html cargo nextest run --test report
    if let Ok(dump) = std::env::var("KV_JIT_REPORT_HTML_DUMP") {
        std::fs::write(dump, &html).unwrap();
    }
    let json: serde_json::Value =
        serde_json::from_str(&report(dir.path(), &["--format", "json"]).stdout).unwrap();
    let grants = json["grants"].as_array().unwrap();
    let bars = bars(&html);
    assert_eq!(bars.len(), grants.len(), "one bar per grant");
    let mut want: Vec<String> = grants
        .iter()
        .map(|g| format!("bar end-{}", g["end_class"].as_str().unwrap()))
        .collect();
    let mut got: Vec<String> = bars.iter().map(|(c, _)| c.clone()).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    for class in [
        "end-expired",
        "end-early",
        "end-orphan",
        "end-drift",
        "end-break-glass",
        "end-active",
    ] {
        assert!(got.iter().any(|c| c.ends_with(class)), "no {class} bar");
    }
    // Hover text: who, approvers, PR.
    let dave = bars
        .iter()
        .find(|(_, t)| t.contains("dave@contoso.com"))
        .expect("dave's bar");
    assert!(
        dave.1.contains("approved by: bob-sec, carol (PR #18)"),
        "{}",
        dave.1
    );
    assert!(
        dave.1.contains("revoked early by bob-sec: incident closed"),
        "{}",
        dave.1
    );
    // Self-contained: nothing is fetched, nothing runs.
    for banned in [
        "<script", "<link", "<img", "<iframe", "src=", "href=", "@import", "url(http",
    ] {
        assert!(!html.contains(banned), "the page holds {banned}");
    }
    for url in html.match_indices("http") {
        let rest = &html[url.0..];
        assert!(
            rest.starts_with("http://www.w3.org/")
                || rest.starts_with("http-equiv")
                || rest.starts_with("https://github.com/contoso/"),
            "a URL in the page: {}",
            &rest[..rest.len().min(60)]
        );
    }
    // A legend names every colour, the axis has dates, rows have labels.
    assert!(html.contains("class=\"legend\""));
    assert!(html.contains("class=\"tick\""));
    assert!(html.contains(">flowlibs-demo-kv/demo-api-key</text>"));
    assert!(html.contains(">ops-kv/deploy-key</text>"));
}

#[test]
fn overlapping_grants_get_their_own_lanes() {
    let (dir, _) = fixture_dir();
    let html = report(dir.path(), &["--format", "html"]).stdout;
    let doc = roxmltree::Document::parse_with_options(
        &html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap();
    let y_of = |who: &str| -> f64 {
        doc.descendants()
            .filter(|n| n.has_tag_name("rect"))
            .find(|n| {
                n.children()
                    .any(|c| c.has_tag_name("title") && c.text().unwrap_or("").starts_with(who))
            })
            .and_then(|n| n.attribute("y"))
            .unwrap()
            .parse()
            .unwrap()
    };
    // Alice (09:00–11:04) and Dave (09:30–10:15) overlap on one secret: two lanes.
    assert_ne!(y_of("alice@contoso.com"), y_of("dave@contoso.com"));
}

#[test]
fn a_broken_chain_is_named_on_the_first_line_and_what_verifies_is_reported() {
    let text = ledger_text(&chain(fixture()));
    // Edit line 5 (the first refusal): its hash no longer matches.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[4] = lines[4].replace("2026/eve-1", "2026/eve-X");
    let (dir, _) = with_ledger(&(lines.join("\n") + "\n"));
    let run = report(dir.path(), &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let first = run.stdout.lines().next().unwrap();
    assert!(
        first.starts_with("**Ledger chain broken at line 5: hash mismatch"),
        "{first}"
    );
    assert!(first.contains("only the 4 entries before it"), "{first}");
    assert!(run.stderr.contains("breaks at line 5"), "{}", run.stderr);
    // Lines 1–4: Alice's and Dave's grants, both ended; nothing after.
    assert!(run.stdout.contains("2026/alice-api-key"));
    assert!(run.stdout.contains("2026/dave-api-key"));
    assert!(!run.stdout.contains("eve"));
    assert!(!run.stdout.contains("erin"));
    let json = report(dir.path(), &["--format", "json"]);
    assert_eq!(json.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["chain_break"]["line"], 5);
    assert_eq!(doc["entries"], 4);
    assert_eq!(doc["totals"]["grants"], 2);
    let html = report(dir.path(), &["--format", "html"]);
    assert_eq!(html.code, 1);
    assert!(
        html.stdout
            .lines()
            .next()
            .unwrap()
            .contains("ledger chain broken at line 5")
    );
    assert!(
        html.stdout
            .contains("<p class=\"break\">Ledger chain broken at line 5")
    );
    assert_eq!(bars(&html.stdout).len(), 2);
}

#[test]
fn a_chain_broken_on_its_first_line_reports_nothing_but_the_break() {
    let (dir, _) = with_ledger("{\"v\":1}\n");
    let run = report(dir.path(), &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.starts_with("**Ledger chain broken at line 1:"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("No entry verifies"), "{}", run.stdout);
}

#[test]
fn an_empty_ledger_says_so() {
    let (dir, _) = with_ledger("");
    for format in ["md", "html", "json"] {
        let run = report(dir.path(), &["--format", format]);
        assert_eq!(run.code, 0, "{format}: {}{}", run.stdout, run.stderr);
        if format == "json" {
            let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
            assert_eq!(doc["entries"], 0);
            assert_eq!(doc["grants"], serde_json::json!([]));
        } else {
            assert!(
                run.stdout
                    .contains("The ledger is empty: nothing was ever granted"),
                "{format}: {}",
                run.stdout
            );
        }
    }
}

#[test]
fn a_range_with_nothing_in_it_says_so() {
    let (dir, _) = fixture_dir();
    let run = report(
        dir.path(),
        &["--since", "2027-01-01", "--until", "2027-02-01"],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("No grant, refusal or failure in this range. The ledger's 18 entries run from 2026-11-27 09:00:05Z to 2026-11-28 11:00:30Z."),
        "{}",
        run.stdout
    );
    let vault = report(dir.path(), &["--vault", "other-kv"]);
    assert!(
        vault.stdout.contains("in this range for vault other-kv"),
        "{}",
        vault.stdout
    );
}

#[test]
fn windows_across_the_range_boundary_are_included_and_clipped() {
    let (dir, _) = fixture_dir();
    // From 10:00 to 12:30 on the 27th: Alice (09:00–11:04) and Dave (09:30–10:15) started
    // before it, Erin's break-glass grant (12:00–13:02) ends after it; Frank (14:00) is out.
    let run = report(
        dir.path(),
        &[
            "--format",
            "json",
            "--since",
            "2026-11-27T11:00:00+01:00",
            "--until",
            "2026-11-27T12:30:00Z",
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let requests: Vec<&str> = doc["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["request"].as_str().unwrap())
        .collect();
    assert_eq!(
        requests,
        [
            "2026/alice-api-key",
            "2026/dave-api-key",
            "2026/erin-incident"
        ]
    );
    // Hours of access count inside the range only: Alice 10:00–11:04, Dave 10:00–10:15,
    // Erin 12:00–12:30.
    let secs: Vec<i64> = doc["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["access_seconds"].as_i64().unwrap())
        .collect();
    assert_eq!(secs, [64 * 60, 15 * 60, 30 * 60]);
    assert_eq!(doc["since"], "2026-11-27T10:00:00Z");
    // Refusals in range: the three at 11:10, 11:20 and 11:30.
    assert_eq!(doc["totals"]["refusals"], 3);
    let html = report(
        dir.path(),
        &[
            "--format",
            "html",
            "--since",
            "2026-11-27T10:00:00Z",
            "--until",
            "2026-11-27T12:30:00Z",
        ],
    )
    .stdout;
    let bars = bars(&html);
    assert_eq!(bars.len(), 3);
    assert!(
        bars.iter()
            .any(|(_, t)| t.contains("(clipped to the report's range)"))
    );
    assert_eq!(
        html.matches("class=\"clip\"").count(),
        3,
        "two clipped starts, one clipped end"
    );
    // A plain date is its midnight UTC.
    let day = report(dir.path(), &["--format", "json", "--since", "2026-11-28"]);
    let doc: serde_json::Value = serde_json::from_str(&day.stdout).unwrap();
    assert_eq!(doc["since"], "2026-11-28T00:00:00Z");
    assert_eq!(doc["totals"]["grants"], 2, "grace and ivan");
}

#[test]
fn since_after_until_and_bad_dates_are_usage_errors() {
    let (dir, _) = fixture_dir();
    let run = report(
        dir.path(),
        &["--since", "2026-12-01", "--until", "2026-11-01"],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("--since 2026-12-01T00:00:00Z is after --until 2026-11-01T00:00:00Z"),
        "{}",
        run.stderr
    );
    let json = report(
        dir.path(),
        &[
            "--since",
            "2026-12-01",
            "--until",
            "2026-11-01",
            "--format",
            "json",
        ],
    );
    assert_eq!(json.code, 2);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "invalid-range");
    let bad = report(dir.path(), &["--since", "yesterday"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("neither an RFC 3339 instant nor a date"),
        "{}",
        bad.stderr
    );
    let vault = report(dir.path(), &["--vault", "../etc"]);
    assert_eq!(vault.code, 2);
    assert!(vault.stderr.contains("--vault"), "{}", vault.stderr);
    // md and html belong to `report` alone.
    let other = kv_jit(
        dir.path(),
        &["audit", "verify", "audit/ledger.jsonl", "--format", "html"],
        &[],
    );
    assert_eq!(other.code, 2);
    assert!(
        other.stderr.contains("for `kv-jit report` only"),
        "{}",
        other.stderr
    );
}

#[test]
fn a_missing_ledger_is_a_usage_error_not_an_empty_report() {
    let tmp = tempfile::tempdir().unwrap();
    let run = report(tmp.path(), &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read audit/ledger.jsonl"),
        "{}",
        run.stderr
    );
    // Without --ledger the path comes from the config.
    std::fs::create_dir_all(tmp.path().join(".github")).unwrap();
    std::fs::copy(
        root().join(".github/kv-jit.yml"),
        tmp.path().join(".github/kv-jit.yml"),
    )
    .unwrap();
    std::fs::create_dir_all(tmp.path().join("audit")).unwrap();
    std::fs::write(
        tmp.path().join("audit/ledger.jsonl"),
        ledger_text(&chain(fixture())),
    )
    .unwrap();
    let cfg = kv_jit(
        tmp.path(),
        &["report", "--now", AS_OF, "--format", "json"],
        &[],
    );
    assert_eq!(cfg.code, 0, "{}{}", cfg.stdout, cfg.stderr);
    let doc: serde_json::Value = serde_json::from_str(&cfg.stdout).unwrap();
    assert_eq!(doc["totals"]["grants"], 7);
}

#[test]
fn hostile_text_from_the_ledger_cannot_break_the_page_or_the_table() {
    let evil = "<script>alert(1)</script>|x](javascript:1)`**";
    let mut g = granted(
        "2026-11-27T09:00:00Z",
        "2026/evil|req<b>",
        &format!("{evil}@contoso.com"),
        VAULT,
        "demo-api-key",
        ("2026-11-27T09:00:00Z", "2026-11-27T10:00:00Z"),
        9,
        &["bob|</title></rect><script>x</script>"],
    );
    g.run_url = None;
    let entries = chain(vec![
        g.clone(),
        refused("2026-11-27T09:05:00Z", "2026/r|<i>", evil, evil),
        NewEntry {
            actor: Some(evil.into()),
            note: Some(evil.into()),
            ..revoked(&g, "2026-11-27T09:30:00Z", Reason::Early)
        },
    ]);
    let (dir, _) = with_ledger(&ledger_text(&entries));
    let md = report(dir.path(), &[]);
    assert_eq!(md.code, 0, "{}{}", md.stdout, md.stderr);
    assert!(!md.stdout.contains("<script"), "{}", md.stdout);
    // Every table row has as many unescaped `|` as its header.
    let mut header_pipes = None;
    for line in md.stdout.lines() {
        if !line.starts_with('|') {
            header_pipes = None;
            continue;
        }
        let pipes = unescaped_pipes(line);
        match header_pipes {
            None => header_pipes = Some(pipes),
            Some(n) => assert_eq!(pipes, n, "a cell split: {line}"),
        }
    }
    let html = report(dir.path(), &["--format", "html"]).stdout;
    let bars = bars(&html);
    assert_eq!(bars.len(), 1);
    assert!(
        bars[0].1.contains("<script>alert(1)</script>"),
        "the title shows the text as text"
    );
    assert!(!html.contains("<script"));
    let doc = roxmltree::Document::parse_with_options(
        &html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap();
    // The request id's `<b>` and `<i>` are text, not elements (the page's own `b` are its eight
    // cards' numbers).
    assert!(
        !doc.descendants()
            .any(|n| n.has_tag_name("script") || n.has_tag_name("i"))
    );
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("b")).count(), 8);
}

fn unescaped_pipes(line: &str) -> usize {
    let mut n = 0;
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => n += 1,
            _ => escaped = false,
        }
    }
    n
}

#[test]
fn the_report_workflow_is_weekly_on_demand_read_only_and_publishes_both_forms() {
    let text = std::fs::read_to_string(root().join(".github/workflows/kv-jit-report.yml")).unwrap();
    let wf: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    assert!(wf.pointer("/on/schedule/0/cron").is_some());
    assert!(wf.pointer("/on/workflow_dispatch").is_some());
    assert_eq!(wf["permissions"], serde_json::json!({}));
    let job = &wf["jobs"]["report"];
    assert_eq!(job["permissions"], serde_json::json!({"contents": "read"}));
    let steps = job["steps"].as_array().unwrap();
    let reports: Vec<&str> = steps
        .iter()
        .filter(|s| s["with"]["command"] == "report")
        .map(|s| s["with"]["args"].as_str().unwrap())
        .collect();
    assert_eq!(reports.len(), 2);
    assert!(reports[0].starts_with("--format=md\n--out="));
    assert!(reports[1].starts_with("--format=html\n--out="));
    assert!(text.contains(">>\"${GITHUB_STEP_SUMMARY}\""));
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("the HTML is uploaded");
    assert!(
        upload["with"]["path"]
            .as_str()
            .unwrap()
            .ends_with("kv-jit-report.html")
    );
    // The action accepts the command.
    let run_sh = std::fs::read_to_string(root().join("action/run.sh")).unwrap();
    assert!(run_sh.contains("| audit | report |"));
}
