use super::*;

fn parse_str(src: &str) -> (Option<Config>, Vec<String>) {
    let mut sink = Sink::new("kv-jit.yml");
    let cfg = parse(src.as_bytes(), &mut sink);
    (
        cfg,
        sink.diags
            .iter()
            .map(|d| format!("{}:{}:{}", d.code, d.line, d.column))
            .collect(),
    )
}

const MINIMAL: &str = "tenant_id: 00000000-0000-0000-0000-000000000000\nvaults:\n  kv-one:\n    subscription_id: 11111111-1111-1111-1111-111111111111\n    resource_group: rg\n    secrets: [a, \"b-*\"]\n    max_duration: 2h\n";

#[test]
fn the_example_config_is_valid() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../.github/kv-jit.yml"
    ))
    .unwrap();
    let mut sink = Sink::new(DEFAULT_PATH);
    let cfg = parse(&bytes, &mut sink).unwrap_or_else(|| panic!("{:?}", sink.diags));
    let kv = &cfg.vaults[&VaultName::parse("flowlibs-demo-kv").unwrap()];
    assert_eq!(kv.max_duration.value.to_string(), "4h");
    assert_eq!(kv.max_duration.pos, Pos::new(12, 19));
    assert_eq!(cfg.identities["alice-gh"].as_str(), "alice@contoso.com");
    assert_eq!(
        cfg.teams_webhook_env.as_deref(),
        Some("KV_JIT_TEAMS_WEBHOOK")
    );
}

#[test]
fn defaults_apply() {
    let (cfg, diags) = parse_str(MINIMAL);
    assert!(diags.is_empty(), "{diags:?}");
    let cfg = cfg.unwrap();
    let v = cfg.vaults.values().next().unwrap();
    assert_eq!(v.roles.value, ["secrets-user"]);
    assert_eq!(
        (v.scope, v.approvals, v.require_ticket.value, v.expiry),
        (Scope::Vault, 1, false, Expiry::Revoker)
    );
    assert_eq!(cfg.cloud, Endpoints::named("AzureCloud").unwrap());
    assert_eq!(
        (cfg.ledger_path.as_str(), cfg.ledger_branch.as_str()),
        ("audit/ledger.jsonl", "main")
    );
    assert_eq!(cfg.roles.len(), 3);
}

#[test]
fn globs_match_whole_names() {
    let p = SecretPattern::parse("demo-storage-*").unwrap();
    assert!(p.matches(&SecretName::parse("demo-storage-key").unwrap()));
    assert!(!p.matches(&SecretName::parse("x-demo-storage-key").unwrap()));
    assert!(
        !SecretPattern::parse("demo-storage")
            .unwrap()
            .matches(&SecretName::parse("demo-storage-key").unwrap())
    );
    for bad in ["a/b*", "a[bc]", "../*", "a b", "", "a%2f"] {
        assert!(SecretPattern::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn every_config_problem_is_reported() {
    let src = "tenant_id: not-a-guid\ncloud: Mars\nvaults:\n  kv_bad:\n    subscription_id: 1\n    resource_group: \"rg/x\"\n    secrets: [\"a/b\"]\n    max_duration: 2\n    roles: [admin]\n    scope: tenant\n    approvals: 0\n    colour: blue\nnotify:\n  teams_webhook_env: https://example.webhook.office.com/x\nextra: 1\n";
    let (cfg, diags) = parse_str(src);
    assert!(cfg.is_none());
    assert_eq!(
        diags,
        [
            "invalid-config:1:12",
            "invalid-config:2:8",
            "invalid-vault-name:4:3",
            "invalid-config:5:22",
            "invalid-config:6:21",
            "invalid-glob:7:15",
            "invalid-duration:8:19",
            "role-not-allowed:9:13",
            "invalid-config:10:12",
            "invalid-config:11:16",
            "unknown-key:12:5",
            "invalid-config:14:22",
            "unknown-key:15:1",
        ]
    );
}

#[test]
fn explicit_endpoints_must_be_https_or_loopback() {
    let cloud = |a: &str| {
        format!(
            "{MINIMAL}cloud:\n  authority_host: {a}\n  resource_manager: http://127.0.0.1:1\n  graph: https://g.example\n"
        )
    };
    let (cfg, diags) = parse_str(&cloud("http://127.0.0.1:8080"));
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(
        cfg.unwrap().cloud.resource_manager.as_str(),
        "http://127.0.0.1:1/"
    );
    assert_eq!(
        parse_str(&cloud("http://login.example.com")).1,
        ["insecure-endpoint:9:19"]
    );
    assert_eq!(
        parse_str(&cloud("http://127.0.0.1.evil.com")).1,
        ["insecure-endpoint:9:19"]
    );
    assert_eq!(parse_str(&cloud("ftp://x")).1, ["invalid-config:9:19"]);
    assert_eq!(
        parse_str(&cloud("https://user@host")).1,
        ["invalid-config:9:19"]
    );
    let (_, diags) = parse_str(&format!("{MINIMAL}cloud: AzureMars\n"));
    assert_eq!(diags, ["invalid-config:8:8"]);
}

/// `break_glass:` is optional, at most the vault's `max_duration`, and part of the policy a pull
/// request cannot change for itself.
#[test]
fn break_glass_config() {
    let (cfg, diags) = parse_str(MINIMAL);
    assert!(diags.is_empty());
    assert!(
        cfg.unwrap()
            .vaults
            .values()
            .next()
            .unwrap()
            .break_glass
            .is_none()
    );
    let rows = [
        ("    break_glass:\n      max_duration: 1h\n", vec![]),
        ("    break_glass:\n      max_duration: 2h\n", vec![]),
        (
            "    break_glass:\n      max_duration: 3h\n",
            vec!["invalid-config:9:21"],
        ),
        (
            "    break_glass:\n      max_duration: soon\n",
            vec!["invalid-duration:9:21"],
        ),
        ("    break_glass:\n", vec!["invalid-config:8:5"]),
        (
            "    break_glass:\n      max: 1h\n",
            vec!["missing-field:9:7", "unknown-key:9:7"],
        ),
    ];
    for (extra, want) in rows {
        let (cfg, diags) = parse_str(&format!("{MINIMAL}{extra}"));
        assert_eq!(diags, want, "{extra}");
        assert_eq!(cfg.is_some(), want.is_empty());
    }
    let (with_bg, _) = parse_str(&format!(
        "{MINIMAL}    break_glass:\n      max_duration: 1h\n"
    ));
    let (longer, _) = parse_str(&format!(
        "{MINIMAL}    break_glass:\n      max_duration: 2h\n"
    ));
    let (without, _) = parse_str(MINIMAL);
    let v = |c: &Option<Config>| c.as_ref().unwrap().vaults.values().next().unwrap().clone();
    assert_eq!(v(&with_bg).differences(&v(&without)), ["break_glass"]);
    assert_eq!(v(&with_bg).differences(&v(&longer)), ["break_glass"]);
    assert!(v(&with_bg).differences(&v(&with_bg)).is_empty());
}
