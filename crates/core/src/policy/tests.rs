use super::*;
use crate::diag::Sink;
use crate::request::parse_raw;

const CONFIG: &str = "tenant_id: 00000000-0000-0000-0000-000000000000
vaults:
  flowlibs-demo-kv:
    subscription_id: 00000000-0000-0000-0000-000000000000
    resource_group: rg-flowlibs-demo
    secrets: [demo-api-key, \"demo-storage-*\"]
    max_duration: 4h
    roles: [secrets-user, reader]
    break_glass:
      max_duration: 1h
  strict-kv:
    subscription_id: 00000000-0000-0000-0000-000000000000
    resource_group: rg
    secrets: [\"*\"]
    max_duration: 1h
    require_ticket: true
";

const GOOD: &str = "apiVersion: kv-jit/v1
kind: AccessRequest
requester: alice@contoso.com
vault: flowlibs-demo-kv
secret: demo-api-key
duration: 2h
justification: Rotate the partner API client after INC-4821
";

fn now() -> DateTime<Utc> {
    "2026-11-27T10:00:00Z".parse().unwrap()
}

fn config() -> Config {
    let mut sink = Sink::new(".github/kv-jit.yml");
    crate::config::parse(CONFIG.as_bytes(), &mut sink).unwrap()
}

/// Runs the whole check and returns `code:line:col` of every diagnostic.
fn check_src(src: &str) -> (Option<Request>, Vec<String>) {
    let mut sink = Sink::new("requests/x.yaml");
    let raw = parse_raw(src.as_bytes(), &mut sink).unwrap();
    let req = check(
        &raw,
        Some(RequestId::parse("x").unwrap()),
        &config(),
        Some(now()),
        &mut sink,
    );
    (
        req,
        sink.diags
            .iter()
            .map(|d| format!("{}:{}:{}", d.code, d.line, d.column))
            .collect(),
    )
}

fn with(line: &str, replacement: &str) -> String {
    let key = line.split(':').next().unwrap();
    let mut out: Vec<String> = GOOD
        .lines()
        .filter(|l| !l.starts_with(&format!("{key}:")))
        .map(str::to_owned)
        .collect();
    if !replacement.is_empty() {
        out.push(replacement.to_owned());
    }
    out.join("\n") + "\n"
}

#[test]
fn a_good_request_validates_with_defaults() {
    let (req, diags) = check_src(GOOD);
    assert!(diags.is_empty(), "{diags:?}");
    let req = req.unwrap();
    assert_eq!(req.role, "secrets-user");
    assert_eq!(req.role_id, "4633458b-17de-408a-b874-0445c86b69e6");
    assert_eq!(req.duration.to_string(), "2h");
    assert!(!req.revoke);
}

#[test]
fn each_rule_fails_on_its_own_line() {
    let cases = [
        (
            with("secret", "secret: other-key"),
            "secret-not-allowed:7:9",
        ),
        (
            with("secret", "secret: demo/../x"),
            "invalid-secret-name:7:9",
        ),
        (
            with("secret", "secret: \"demo-api-key?x=1\""),
            "invalid-secret-name:7:9",
        ),
        (with("vault", "vault: other-kv"), "unknown-vault:7:8"),
        (
            with("vault", "vault: \"kv/../x\""),
            "invalid-vault-name:7:8",
        ),
        (with("duration", "duration: 6h"), "duration-too-long:7:11"),
        (with("duration", "duration: 0m"), "invalid-duration:7:11"),
        (with("duration", "duration: -1h"), "invalid-duration:7:11"),
        (with("duration", "duration: 2"), "invalid-duration:7:11"),
        (
            with("requester", "requester: alice"),
            "invalid-requester:7:12",
        ),
        (
            with("justification", "justification: because"),
            "invalid-justification:7:16",
        ),
        (
            format!("{GOOD}role: secrets-officer\n"),
            "role-not-allowed:8:7",
        ),
        (format!("{GOOD}start: tomorrow\n"), "invalid-start:8:8"),
        (
            format!("{GOOD}start: 2026-11-27 09:00\n"),
            "invalid-start:8:8",
        ),
        (
            format!("{GOOD}start: 2026-11-27T07:00:00Z\n"),
            "window-ended:8:8",
        ),
        (format!("{GOOD}ticket: \"INC 1\"\n"), "invalid-ticket:8:9"),
        (format!("{GOOD}extends: ../a\n"), "invalid-extends:8:10"),
        (format!("{GOOD}extends: x\n"), "invalid-extends:8:10"),
        (
            with("vault", "vault: strict-kv").replace("2h", "1h"),
            "ticket-required:1:1",
        ),
    ];
    for (src, want) in cases {
        let (req, diags) = check_src(&src);
        assert!(req.is_none(), "{want}");
        assert_eq!(diags, [want], "{src}");
    }
}

#[test]
fn accepted_variants() {
    for src in [
        with("secret", "secret: demo-storage-key"),
        format!("{GOOD}role: reader\n"),
        format!("{GOOD}start: 2026-11-27T09:30:00+01:00\n"),
        format!("{GOOD}start: 2026-11-27T09:00:00Z\n"),
        format!("{GOOD}revoke: true\nextends: 2026/alice-api-key\n"),
        with("vault", "vault: strict-kv\nticket: INC-4821")
            .replace("duration: 2h", "duration: PT1H"),
    ] {
        let (req, diags) = check_src(&src);
        assert!(diags.is_empty(), "{src}: {diags:?}");
        assert!(req.is_some());
    }
}

#[test]
fn notes_point_at_the_rule_in_the_config() {
    let mut sink = Sink::new("requests/x.yaml");
    let raw = parse_raw(with("duration", "duration: 6h").as_bytes(), &mut sink).unwrap();
    check(
        &raw,
        RequestId::parse("x").ok(),
        &config(),
        Some(now()),
        &mut sink,
    );
    let note = &sink.diags[0].notes[0];
    assert_eq!(
        (note.file.as_str(), note.line, note.column),
        (".github/kv-jit.yml", 7, 19)
    );
    assert_eq!(note.message, "max_duration 4h set here");
}

#[test]
fn all_problems_at_once() {
    let src = "apiVersion: kv-jit/v1\nkind: AccessRequest\nrequester: bob\nvault: flowlibs-demo-kv\nsecret: nope\nduration: 9h\njustification: short\n";
    let (_, diags) = check_src(src);
    assert_eq!(
        diags,
        [
            "invalid-requester:3:12",
            "secret-not-allowed:5:9",
            "duration-too-long:6:11",
            "invalid-justification:7:16"
        ]
    );
}

/// Break-glass: allowed only where the vault says so, within its own maximum, and alone.
#[test]
fn break_glass_rules_as_a_table() {
    let bg = |extra: &str| {
        let mut src = with("duration:", "duration: 1h");
        src.push_str("break_glass: true\n");
        src.push_str(extra);
        src
    };
    let rows: Vec<(&str, String, Vec<&str>)> = vec![
        ("allowed, within the break-glass maximum", bg(""), vec![]),
        (
            "break_glass: false is an ordinary request",
            with("duration:", "duration: 2h") + "break_glass: false\n",
            vec![],
        ),
        (
            "over break_glass.max_duration (within the vault's)",
            with("duration:", "duration: 2h") + "break_glass: true\n",
            vec!["break-glass-too-long:7:11"],
        ),
        (
            "a vault without break_glass",
            bg("").replace("vault: flowlibs-demo-kv", "vault: strict-kv") + "ticket: INC-1\n",
            vec!["break-glass-not-allowed:8:14"],
        ),
        (
            "with extends",
            bg("extends: 2026/older\n"),
            vec!["break-glass-conflict:9:10"],
        ),
        (
            "with start",
            bg("start: 2026-11-27T11:00:00Z\n"),
            vec!["break-glass-conflict:9:8"],
        ),
        (
            "not a boolean",
            bg("").replace("break_glass: true", "break_glass: yes-please"),
            vec!["wrong-type:8:14"],
        ),
    ];
    for (name, src, want) in rows {
        let (req, diags) = check_src(&src);
        assert_eq!(diags, want, "{name}\n{src}");
        if want.is_empty() {
            assert_eq!(
                req.unwrap().break_glass,
                src.contains("break_glass: true"),
                "{name}"
            );
        }
    }
}
