use super::*;
use crate::names::{SecretName, VaultName};
use crate::plan::{Merge, RefuseReason, RevokeReason};
use crate::request::{Duration, Request, Upn};
use chrono::{DateTime, Utc};

const SUB_A: &str = "11111111-1111-1111-1111-111111111111";
const SUB_B: &str = "22222222-2222-2222-2222-222222222222";

fn t0() -> DateTime<Utc> {
    "2026-11-27T09:00:00Z".parse().unwrap()
}

fn id(s: &str) -> RequestId {
    RequestId::parse(s).unwrap()
}

/// Three vaults: two in subscription A, one in B.
fn config() -> Config {
    let vault = |name: &str, sub: &str| {
        format!(
            "  {name}:\n    subscription_id: {sub}\n    resource_group: rg\n    secrets: [demo-api-key]\n    max_duration: 4h\n"
        )
    };
    let text = format!(
        "tenant_id: 00000000-0000-0000-0000-000000000000\nvaults:\n{}{}{}",
        vault("kv-a1", SUB_A),
        vault("kv-a2", SUB_A),
        vault("kv-b", SUB_B)
    );
    crate::config::parse(text.as_bytes(), &mut crate::diag::Sink::new("c")).unwrap()
}

fn desired(name: &str, vault: &str) -> Desired {
    Desired {
        request: Request {
            id: id(name),
            path: format!("requests/{name}.yaml"),
            requester_pos: crate::diag::Pos::START,
            vault_pos: crate::diag::Pos::START,
            secret_pos: crate::diag::Pos::START,
            requester: Upn::parse("alice@contoso.com").unwrap(),
            vault: VaultName::parse(vault).unwrap(),
            secret: SecretName::parse("demo-api-key").unwrap(),
            duration: Duration::parse("1h").unwrap(),
            justification: "Rotate the partner API client".into(),
            role: "secrets-user".into(),
            role_id: "4633458b-17de-408a-b874-0445c86b69e6".into(),
            start: None,
            ticket: None,
            extends: None,
            revoke: false,
            break_glass: false,
            issue: None,
        },
        sha256: format!("sha-{name}"),
        merged: Some(Merge {
            commit: format!("merge-{name}"),
            at: t0(),
        }),
    }
}

fn grant_in(name: &str, sub: &str) -> ActiveGrant {
    ActiveGrant {
        request: id(name),
        request_sha256: format!("sha-{name}"),
        start: t0(),
        expires: t0(),
        assignment: format!("asg-{name}"),
        scope: format!(
            "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-x"
        ),
        vault: "kv-x".into(),
        secret: "demo-api-key".into(),
        requester: "alice@contoso.com".into(),
        principal_id: "p".into(),
        role_id: "4633458b-17de-408a-b874-0445c86b69e6".into(),
        expiry: None,
        extends: None,
    }
}

fn revoke(g: ActiveGrant) -> Action {
    Action::Revoke {
        grant: g,
        reason: RevokeReason::Expired,
        shared_with: None,
        shared_by_extends: false,
        note: None,
    }
}

fn grant(d: &Desired) -> Action {
    Action::Grant {
        desired: Box::new(d.clone()),
        request: d.request.id.clone(),
        start: t0(),
        expires: t0(),
        extends: None,
    }
}

fn refuse(name: &str) -> Action {
    Action::Refuse {
        request: id(name),
        path: format!("requests/{name}.yaml"),
        sha256: "x".into(),
        reason: RefuseReason::ChangedAfterGrant,
    }
}

fn wait(name: &str) -> Action {
    Action::Wait {
        request: id(name),
        starts: t0(),
    }
}

#[test]
fn parses_k_of_n() {
    for (text, k, n) in [
        ("1/1", 1, 1),
        ("2/5", 2, 5),
        ("256/256", 256, 256),
        ("1/256", 1, 256),
        ("07/10", 7, 10),
    ] {
        let s: Shard = text.parse().unwrap();
        assert_eq!((s.k(), s.n()), (k, n), "{text}");
        assert_eq!(Shard::new(k, n), Ok(s));
    }
}

#[test]
fn refuses_what_is_not_k_of_n_with_a_clear_error() {
    let form = |t: &str| ShardError::Form(t.to_owned());
    let number = |t: &str, which| ShardError::Number {
        text: t.to_owned(),
        which,
    };
    let cases = [
        ("", form("")),
        ("3", form("3")),
        ("three/5", number("three/5", "K")),
        ("0/3", number("0/3", "K")),
        ("1/0", number("1/0", "N")),
        ("1/257", number("1/257", "N")),
        ("257/257", number("257/257", "K")),
        ("1/1000", number("1/1000", "N")),
        ("+1/2", number("+1/2", "K")),
        ("-1/2", number("-1/2", "K")),
        (" 1/2", number(" 1/2", "K")),
        ("1/2 ", number("1/2 ", "N")),
        ("1/2/3", number("1/2/3", "N")),
        ("1//2", number("1//2", "N")),
        ("/2", number("/2", "K")),
        ("1/", number("1/", "N")),
        ("１/2", number("１/2", "K")),
        ("4/3", ShardError::KAboveN("4/3".into())),
    ];
    for (text, want) in cases {
        assert_eq!(text.parse::<Shard>(), Err(want), "{text:?}");
    }
    assert_eq!(Shard::new(0, 1), Err(number("0/1", "K")));
    assert_eq!(Shard::new(2, 1), Err(ShardError::KAboveN("2/1".into())));
    assert_eq!(
        "4/3".parse::<Shard>().unwrap_err().to_string(),
        "`4/3`: K must be at most N (shards are numbered 1 to N)"
    );
    assert_eq!(
        "0/3".parse::<Shard>().unwrap_err().to_string(),
        "`0/3`: K must be a whole number from 1 to 256"
    );
    assert_eq!(
        "x".parse::<Shard>().unwrap_err().to_string(),
        "`x` is not K/N (e.g. 2/5: this job is shard 2 of 5)"
    );
}

#[test]
fn every_k_of_n_round_trips_through_its_text() {
    for n in 1..=MAX_SHARDS {
        for k in 1..=n {
            let s = Shard::new(k, n).unwrap();
            assert_eq!(s.to_string(), format!("{k}/{n}"));
            assert_eq!(s.to_string().parse::<Shard>(), Ok(s));
        }
    }
}

fn subscriptions(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("{:08x}-0000-4000-8000-{:012x}", i * 7919, i))
        .collect()
}

#[test]
fn every_subscription_lands_in_exactly_one_shard() {
    let subs = subscriptions(300);
    for n in (1..=40).chain([63, 64, 100, 255, 256]) {
        for sub in &subs {
            let owners: Vec<u16> = (1..=n)
                .filter(|&k| Shard::new(k, n).unwrap().owns_subscription(sub))
                .collect();
            assert_eq!(
                owners,
                vec![shard_of(&subscription_key(sub), n)],
                "{sub} of {n}"
            );
        }
    }
}

#[test]
fn a_subscription_is_one_key_whatever_its_case() {
    for sub in subscriptions(50) {
        for n in [2, 3, 10, 256] {
            let upper = sub.to_ascii_uppercase();
            for k in 1..=n {
                let s = Shard::new(k, n).unwrap();
                assert_eq!(s.owns_subscription(&sub), s.owns_subscription(&upper));
            }
        }
    }
}

/// The assignment must not change between runs, releases or platforms: a subscription moving
/// shard mid-window would be paced by two jobs (or none). These values are SHA-256's, pinned.
#[test]
fn the_assignment_is_stable_sha256_not_a_random_hasher() {
    // SHA-256("subscription:11111111-1111-1111-1111-111111111111") starts with these 8 bytes.
    let digest = Sha256::digest(subscription_key(SUB_A).as_bytes());
    let first = u64::from_be_bytes(digest[..8].try_into().unwrap());
    for n in [1u16, 2, 3, 7, 10, 256] {
        assert_eq!(
            shard_of(&subscription_key(SUB_A), n) as u64,
            first % n as u64 + 1
        );
    }
    let pinned: Vec<u16> = [SUB_A, SUB_B, "00000000-0000-0000-0000-000000000000"]
        .iter()
        .map(|s| shard_of(&subscription_key(s), 10))
        .collect();
    assert_eq!(pinned, PINNED_OF_10, "the shard of a subscription changed");
    assert_eq!(shard_of("anything", 0), 1);
    assert_eq!(shard_of("anything", 1), 1);
}

// Computed independently: `printf subscription:ID | sha256sum`, first 16 hex digits, mod 10, plus 1.
const PINNED_OF_10: [u16; 3] = [3, 9, 4];

#[test]
fn many_subscriptions_spread_over_the_shards() {
    let subs = subscriptions(1000);
    let mut counts = [0usize; 10];
    for sub in &subs {
        counts[usize::from(shard_of(&subscription_key(sub), 10)) - 1] += 1;
    }
    assert!(
        counts.iter().all(|&c| (60..=140).contains(&c)),
        "{counts:?}"
    );
}

#[test]
fn each_action_goes_by_its_subscription() {
    let config = config();
    let a1 = desired("a1", "kv-a1");
    let a2 = desired("a2", "kv-a2");
    let b = desired("b", "kv-b");
    let gone = desired("gone", "kv-not-configured");
    let all = vec![a1.clone(), a2.clone(), b.clone(), gone.clone()];
    let key = |a: &Action| action_key(a, &all, &config);
    assert_eq!(key(&grant(&a1)), subscription_key(SUB_A));
    assert_eq!(key(&grant(&a2)), subscription_key(SUB_A));
    assert_eq!(key(&wait("a1")), subscription_key(SUB_A));
    assert_eq!(key(&refuse("a2")), subscription_key(SUB_A));
    assert_eq!(key(&grant(&b)), subscription_key(SUB_B));
    assert_eq!(
        key(&revoke(grant_in("old", SUB_B))),
        subscription_key(SUB_B)
    );
    // A revoke goes by the recorded scope, whatever the config says today.
    assert_eq!(
        key(&revoke(grant_in("a1", &SUB_B.to_ascii_uppercase()))),
        subscription_key(SUB_B)
    );
    // No subscription to go by: the request id.
    assert_eq!(key(&grant(&gone)), "request:gone");
    assert_eq!(key(&refuse("invalid-file")), "request:invalid-file");
    let mut odd = grant_in("odd", SUB_A);
    odd.scope = "not-a-scope".into();
    assert_eq!(key(&revoke(odd)), "request:odd");
}

#[test]
fn the_shards_of_a_plan_partition_it() {
    let config = config();
    let desired: Vec<Desired> = (0..40)
        .map(|i| {
            desired(
                &format!("r{i}"),
                ["kv-a1", "kv-a2", "kv-b", "kv-gone"][i % 4],
            )
        })
        .collect();
    let mut actions: Vec<Action> = desired.iter().map(grant).collect();
    actions.extend((0..40).map(|i| revoke(grant_in(&format!("old{i}"), &subscriptions(40)[i]))));
    actions.extend((0..10).map(|i| refuse(&format!("bad{i}"))));
    actions.push(wait("r1"));
    for n in 1..=12u16 {
        let mut done = vec![0usize; actions.len()];
        for k in 1..=n {
            let s = Shard::new(k, n).unwrap();
            for (i, a) in actions.iter().enumerate() {
                if s.owns_action(a, &desired, &config) {
                    done[i] += 1;
                }
            }
        }
        assert!(done.iter().all(|&d| d == 1), "n={n}: {done:?}");
    }
}

#[test]
fn a_shard_reconciles_only_its_subscriptions() {
    let config = config();
    let active: BTreeMap<RequestId, ActiveGrant> = [grant_in("x", SUB_A), grant_in("y", SUB_B)]
        .into_iter()
        .map(|g| (g.request.clone(), g))
        .collect();
    // Find an N where A and B part ways.
    let n = (2..=16)
        .find(|&n| shard_of(&subscription_key(SUB_A), n) != shard_of(&subscription_key(SUB_B), n))
        .unwrap();
    let mut vault_owners = BTreeMap::new();
    let mut grant_owners = BTreeMap::new();
    for k in 1..=n {
        let s = Shard::new(k, n).unwrap();
        let own = s.config(&config);
        for (name, policy) in &own.vaults {
            assert!(s.owns_subscription(&policy.subscription_id));
            *vault_owners.entry(name.to_string()).or_insert(0) += 1;
        }
        for id in s.active(&active).keys() {
            *grant_owners.entry(id.to_string()).or_insert(0) += 1;
        }
        // Everything else of the config is kept.
        assert_eq!(own.tenant_id, config.tenant_id);
        assert_eq!(own.identities, config.identities);
    }
    assert_eq!(vault_owners.len(), 3);
    assert!(vault_owners.values().all(|&c| c == 1), "{vault_owners:?}");
    assert_eq!(grant_owners.len(), 2);
    assert!(grant_owners.values().all(|&c| c == 1), "{grant_owners:?}");
    // Two vaults of one subscription stay together.
    let s = Shard::new(shard_of(&subscription_key(SUB_A), n), n).unwrap();
    let own = s.config(&config);
    assert!(own.vaults.keys().any(|v| v.to_string() == "kv-a1"));
    assert!(own.vaults.keys().any(|v| v.to_string() == "kv-a2"));
    assert!(!own.vaults.keys().any(|v| v.to_string() == "kv-b"));
}

#[test]
fn reads_the_subscription_of_a_scope() {
    assert_eq!(
        scope_subscription(&format!("/subscriptions/{SUB_A}/resourceGroups/rg")),
        Some(SUB_A)
    );
    assert_eq!(
        scope_subscription(&format!("/SUBSCRIPTIONS/{SUB_A}")),
        Some(SUB_A)
    );
    assert_eq!(scope_subscription("/subscriptions/"), None);
    assert_eq!(scope_subscription("/subscriptions"), None);
    assert_eq!(scope_subscription("subscriptions/x"), None);
    assert_eq!(scope_subscription("/providers/x/y"), None);
    assert_eq!(scope_subscription(""), None);
}
