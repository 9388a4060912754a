//! No input makes the request or config reader panic, and every diagnostic it reports points
//! inside the file.

use kv_jit_core::diag::Sink;
use proptest::prelude::*;

/// YAML-ish fragments, so generated inputs reach deep into the parser, not just its first byte.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("apiVersion: kv-jit/v1\n".to_owned()),
        Just("kind: AccessRequest\n".to_owned()),
        Just("secret: ".to_owned()),
        Just("duration: 2h\n".to_owned()),
        Just("vault: flowlibs-demo-kv\n".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("<<: ".to_owned()),
        Just("!!str ".to_owned()),
        Just("---\n".to_owned()),
        Just("- ".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just(": ".to_owned()),
        Just("\n  ".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("|\n".to_owned()),
        Just("# c\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("\u{feff}".to_owned()),
        "[a-z0-9@./%?#*-]{0,8}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(token, 0..40).prop_map(|v| v.concat())
}

fn check_no_panic(bytes: &[u8]) {
    let mut sink = Sink::new("f.yaml");
    let raw = kv_jit_core::request::parse_raw(bytes, &mut sink);
    let lines = bytes.split(|b| *b == b'\n').count().max(1) as u32;
    for d in &sink.diags {
        assert!(
            d.line >= 1 && d.line <= lines + 1,
            "line {} outside 1..={lines}: {d:?}",
            d.line
        );
        assert!(d.column >= 1);
    }
    if let Some(raw) = raw {
        let mut cfg_sink = Sink::new("c.yml");
        let config = kv_jit_core::config::parse(
            b"tenant_id: 00000000-0000-0000-0000-000000000000\nvaults:\n  flowlibs-demo-kv:\n    subscription_id: 00000000-0000-0000-0000-000000000000\n    resource_group: rg\n    secrets: [\"*\"]\n    max_duration: 4h\n",
            &mut cfg_sink,
        )
        .unwrap();
        let now = "2026-11-27T10:00:00Z".parse().unwrap();
        let _ = kv_jit_core::policy::check(&raw, None, &config, Some(now), &mut sink);
    }
    let mut sink = Sink::new("c.yml");
    let _ = kv_jit_core::config::parse(bytes, &mut sink);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_no_panic(&bytes);
    }

    #[test]
    fn yaml_like_text_never_panics(text in yamlish()) {
        check_no_panic(text.as_bytes());
    }
}
