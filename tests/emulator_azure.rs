//! The emulator itself: seed parsing, control endpoints, and the REST contracts it enforces.

#[path = "support/azure.rs"]
mod support;

use std::time::Duration;

use kv_jit_emulator::Seed;
use serde_json::{Value, json};
use support::*;

async fn token(base: &str, scope: &str) -> String {
    let v: Value = http()
        .post(format!("{base}/{TENANT}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "app-secret"),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

fn ra_url(base: &str, name: &str) -> String {
    format!(
        "{base}{}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01",
        target("flowlibs-demo-kv", None).scope()
    )
}

fn body(principal: &str, principal_type: Option<&str>) -> Value {
    let mut props = json!({
        "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{SECRETS_USER}"),
        "principalId": principal,
    });
    if let Some(t) = principal_type {
        props["principalType"] = json!(t);
    }
    json!({ "properties": props })
}

async fn send(req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

#[test]
fn seed_rejects_unknown_keys_and_reads_the_github_section() {
    let ok = Seed::from_yaml(&format!(
        "{}\ngithub: {{ repos: [{{ owner: contoso, name: access }}] }}\n",
        seed_yaml("")
    ))
    .unwrap();
    assert_eq!(ok.vaults.len(), 3);
    assert_eq!(ok.github.repos[0].name, "access");
    assert!(Seed::from_yaml("github: { repoz: [] }\n").is_err());
    let err = Seed::from_yaml("tenants: []\nvaultz: []\n").unwrap_err();
    assert!(err.contains("vaultz"), "{err}");
}

#[test]
fn the_documented_seed_file_parses() {
    let text = std::fs::read_to_string("docs/emulator-seed.yaml").unwrap();
    let seed = Seed::from_yaml(&text).unwrap();
    assert_eq!(seed.vaults[0].name, "flowlibs-demo-kv");
}

#[tokio::test]
async fn run_refuses_non_loopback_addresses() {
    let err = kv_jit_emulator::run(
        "0.0.0.0:0".parse().unwrap(),
        std::path::Path::new("x"),
        "2026-11-27T09:00:00Z".parse().unwrap(),
    )
    .await
    .unwrap_err();
    assert!(err.contains("loopback"), "{err}");
}

#[tokio::test]
async fn control_endpoints_over_http() {
    let emu = emulator("").await;
    let base = emu.base_url();
    let http = http();
    let (s, _, _) = send(http.post(format!("{base}/_emulator/faults")).json(&json!({
        "path_prefix": "/graph/", "count": 1, "kind": "status", "status": 503, "retry_after": 4
    })))
    .await;
    assert_eq!(s, 204);
    let (s, h, b) = send(http.get(format!("{base}/graph/v1.0/users/x"))).await;
    assert_eq!((s, h["retry-after"].to_str().unwrap()), (503, "4"));
    assert_eq!(b["error"]["code"], "ServiceUnavailable");
    // Used up: the next one reaches Graph (and fails authentication there).
    assert_eq!(
        send(http.get(format!("{base}/graph/v1.0/users/x"))).await.0,
        401
    );

    let before = emu.core().clock.now();
    let (_, _, b) = send(
        http.post(format!("{base}/_emulator/clock"))
            .json(&json!({"advance_secs": 7200})),
    )
    .await;
    let now: chrono::DateTime<chrono::Utc> = b["now"].as_str().unwrap().parse().unwrap();
    assert!(now - before >= chrono::Duration::seconds(7199));
    assert_eq!(
        send(
            http.post(format!("{base}/_emulator/latency"))
                .json(&json!({"ms": 0}))
        )
        .await
        .0,
        204
    );

    let (_, _, log) = send(http.get(format!("{base}/_emulator/log"))).await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2, "control calls are not logged: {log:?}");
    assert_eq!(log[0]["fault"], "status 503");
    assert_eq!(log[1]["status"], 401);
    assert_eq!(
        send(http.delete(format!("{base}/_emulator/log"))).await.0,
        204
    );
    assert!(emu.core().log().is_empty());
}

// Paused time: the emulator's latency sleep is skipped over, not waited for.
#[tokio::test(start_paused = true)]
async fn latency_applies_to_every_route() {
    let emu = emulator("").await;
    emu.core().set_latency(Duration::from_secs(30));
    let started = tokio::time::Instant::now();
    http()
        .get(format!("{}/graph/v1.0/users/x", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(30));
}

#[tokio::test]
async fn arm_checks_api_version_audience_and_bodies() {
    let emu = emulator("").await;
    let base = emu.base_url();
    let http = http();
    let arm = token(&base, &format!("{base}/.default")).await;
    let graph = token(&base, &format!("{base}/graph/.default")).await;
    let name = "0b5fe924-9a61-425c-96af-cfe6e287ca2d";
    let url = ra_url(&base, name);

    let (s, _, b) = send(http.put(&url).json(&body(ALICE_OID, Some("User")))).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("AuthenticationFailed"))
    );
    let (s, _, b) = send(
        http.put(&url)
            .bearer_auth(&graph)
            .json(&body(ALICE_OID, None)),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationTokenAudience"))
    );
    let (s, _, b) = send(
        http.put(url.replace("2022-04-01", "2015-07-01"))
            .bearer_auth(&arm)
            .json(&body(ALICE_OID, None)),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("InvalidApiVersionParameter"))
    );
    let (s, _, b) = send(
        http.put(url.replace("?api-version=2022-04-01", ""))
            .bearer_auth(&arm)
            .json(&body(ALICE_OID, None)),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("MissingApiVersionParameter"))
    );
    let (s, _, b) = send(
        http.put(ra_url(&base, "not-a-guid"))
            .bearer_auth(&arm)
            .json(&body(ALICE_OID, None)),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("InvalidRoleAssignmentId"))
    );
    let (s, _, b) = send(
        http.put(&url)
            .bearer_auth(&arm)
            .json(&json!({"properties": {"principalId": ALICE_OID}})),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("InvalidRequestContent"))
    );
    let (s, _, b) = send(
        http.put(&url)
            .bearer_auth(&arm)
            .json(&body("0f0f0f0f-0f0f-0f0f-0f0f-0f0f0f0f0f0f", Some("User"))),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("PrincipalNotFound"))
    );
    let (s, _, b) = send(
        http.put(&url)
            .bearer_auth(&arm)
            .json(&body(ALICE_OID, Some("ServicePrincipal"))),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("UnmatchedPrincipalType"))
    );

    let (s, h, b) = send(
        http.put(&url)
            .bearer_auth(&arm)
            .json(&body(ALICE_OID, Some("User"))),
    )
    .await;
    assert_eq!(s, 201);
    assert!(h.contains_key("x-ms-ratelimit-remaining-subscription-writes"));
    assert_eq!(b["type"], "Microsoft.Authorization/roleAssignments");
    assert_eq!(
        send(
            http.put(&url)
                .bearer_auth(&arm)
                .json(&body(ALICE_OID, Some("User")))
        )
        .await
        .0,
        200
    );
    let (s, _, b) = send(
        http.put(&url)
            .bearer_auth(&arm)
            .json(&body("bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb", None)),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("RoleAssignmentUpdateNotPermitted"))
    );
    let other = ra_url(&base, "1b5fe924-9a61-425c-96af-cfe6e287ca2d");
    let (s, _, b) = send(
        http.put(&other)
            .bearer_auth(&arm)
            .json(&body(ALICE_OID, Some("User"))),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("RoleAssignmentExists"))
    );

    let (s, h, _) = send(http.delete(&url).bearer_auth(&arm)).await;
    assert_eq!(s, 200);
    assert!(h.contains_key("x-ms-ratelimit-remaining-subscription-deletes"));
    assert_eq!(send(http.delete(&url).bearer_auth(&arm)).await.0, 204);
    let (s, _, b) = send(http.get(&url).bearer_auth(&arm)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("RoleAssignmentNotFound"))
    );
}

#[tokio::test]
async fn data_plane_challenges_without_a_token() {
    let emu = emulator("").await;
    let (s, h, b) = send(http().get(format!(
        "{}/kv/flowlibs-demo-kv/secrets/demo-api-key?api-version=7.4",
        emu.base_url()
    )))
    .await;
    assert_eq!(s, 401);
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("resource=\"https://vault.azure.net\"")
    );
    assert_eq!(b["error"]["code"], "Unauthorized");
    // A vault on access policies refuses RBAC-based reads.
    assert_eq!(
        read_as(
            &emu.base_url(),
            "alice@contoso.com",
            "alice-pw",
            "legacy-kv",
            "old"
        )
        .await,
        (403, "AccessDenied".into())
    );
}

#[tokio::test]
async fn token_endpoint_errors_use_entra_shapes() {
    let emu = emulator("").await;
    let base = emu.base_url();
    let (s, _, b) = send(
        http()
            .post(format!("{base}/{TENANT}/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", "wrong"),
                ("scope", "x/.default"),
            ]),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (401, Some("invalid_client")));
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215")
    );
    let (s, _, b) = send(
        http()
            .post(format!("{base}/nope/oauth2/v2.0/token"))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_tenant")));
}

#[test]
fn seed_cross_references_are_checked() {
    let err = Seed::from_yaml(
        "vaults:\n  - { name: kv-a, tenant: t-missing, subscription_id: s, resource_group: rg }\n",
    )
    .unwrap_err();
    assert!(err.contains("t-missing"), "{err}");
}

/// Issue 8 §3: Azure may refuse to change an existing assignment's properties. The emulator
/// models that refusal on demand (`limits.refuse_description_updates`), while an identical
/// re-PUT (a retry) still succeeds.
#[tokio::test]
async fn description_updates_can_be_refused_like_azure_may() {
    for refuse in [false, true] {
        let emu = emulator(&format!(
            "limits: {{ refuse_description_updates: {refuse} }}"
        ))
        .await;
        let base = emu.base_url();
        let http = http();
        let arm = token(&base, &format!("{base}/.default")).await;
        let url = ra_url(&base, "0b5fe924-9a61-425c-96af-cfe6e287ca2d");
        let with = |d: &str| {
            let mut b = body(ALICE_OID, Some("User"));
            b["properties"]["description"] = json!(d);
            b
        };
        let (s, _, _) = send(http.put(&url).bearer_auth(&arm).json(&with("first"))).await;
        assert_eq!(s, 201);
        let (s, _, b) = send(http.put(&url).bearer_auth(&arm).json(&with("first"))).await;
        assert_eq!(
            (s, b["properties"]["description"].as_str()),
            (200, Some("first"))
        );
        let (s, _, b) = send(http.put(&url).bearer_auth(&arm).json(&with("second"))).await;
        if refuse {
            assert_eq!(
                (s, b["error"]["code"].as_str()),
                (400, Some("RoleAssignmentUpdateNotPermitted"))
            );
        } else {
            assert_eq!(
                (s, b["properties"]["description"].as_str()),
                (200, Some("second"))
            );
        }
        let (_, _, b) = send(http.get(&url).bearer_auth(&arm)).await;
        let kept = if refuse { "first" } else { "second" };
        assert_eq!(b["properties"]["description"].as_str(), Some(kept));
    }
}
