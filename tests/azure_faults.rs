//! Failure handling: throttling, outages, timeouts, dropped connections, and the Azure errors
//! that have a known fix. Waits go through a recording virtual clock, never the wall clock; the one
//! timeout test waits for a 300 ms request timeout against a server that never answers.

#[path = "support/azure.rs"]
mod support;

use std::time::Duration;

use kv_jit_effects::azure::{Azure, AzureError, ExpiryMode, RevokeOutcome};
use kv_jit_emulator::{Fault, FaultKind};
use support::*;

fn fault(prefix: &str, method: Option<&str>, count: u32, kind: FaultKind) -> Fault {
    Fault {
        path_prefix: prefix.into(),
        path_contains: None,
        path_suffix: None,
        method: method.map(str::to_owned),
        count,
        kind,
    }
}

fn status(status: u16, code: Option<&str>, retry_after: Option<u64>) -> FaultKind {
    FaultKind::Status {
        status,
        code: code.map(str::to_owned),
        retry_after,
    }
}

fn alice_grant(request: &str) -> kv_jit_effects::azure::GrantSpec {
    grant_spec(
        request,
        target("flowlibs-demo-kv", None),
        user(ALICE_OID),
        ExpiryMode::Revoker,
    )
}

#[tokio::test]
async fn throttled_429_honours_retry_after() {
    let emu = emulator("").await;
    let (clock, waits) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    emu.core().add_fault(fault(
        "/subscriptions",
        Some("PUT"),
        2,
        status(429, None, Some(7)),
    ));
    az.grant(&alice_grant("2026/a")).await.unwrap();
    assert_eq!(*waits.lock().unwrap(), vec![Duration::from_secs(7); 2]);
    let puts: Vec<_> = emu
        .core()
        .log()
        .into_iter()
        .filter(|e| e.method == "PUT")
        .collect();
    assert_eq!(
        puts.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![Some(429), Some(429), Some(201)]
    );
}

#[tokio::test]
async fn throttled_429_without_retry_after_backs_off_with_jitter() {
    let emu = emulator("").await;
    let (clock, waits) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    emu.core().add_fault(fault(
        "/subscriptions",
        Some("PUT"),
        2,
        status(429, None, None),
    ));
    az.grant(&alice_grant("2026/a")).await.unwrap();
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 2);
    assert!(
        waits[0] >= Duration::from_millis(500) && waits[0] <= Duration::from_secs(1),
        "{waits:?}"
    );
    assert!(
        waits[1] >= Duration::from_secs(1) && waits[1] <= Duration::from_secs(2),
        "{waits:?}"
    );
}

#[tokio::test]
async fn server_errors_500_and_503_are_retried() {
    let emu = emulator("").await;
    let (clock, waits) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    emu.core().add_fault(fault(
        "/subscriptions",
        Some("DELETE"),
        1,
        status(500, None, None),
    ));
    emu.core().add_fault(fault(
        "/subscriptions",
        Some("DELETE"),
        1,
        status(503, None, Some(3)),
    ));
    let spec = alice_grant("2026/a");
    assert_eq!(
        az.revoke(&revoke_spec(&spec)).await.unwrap(),
        RevokeOutcome::AlreadyGone
    );
    assert_eq!(waits.lock().unwrap().len(), 2);
    assert_eq!(waits.lock().unwrap()[1], Duration::from_secs(3));
}

#[tokio::test]
async fn a_lasting_outage_ends_after_bounded_attempts() {
    let emu = emulator("").await;
    let (clock, waits) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    emu.core().add_fault(fault(
        "/subscriptions",
        Some("PUT"),
        100,
        status(503, None, None),
    ));
    let err = az.grant(&alice_grant("2026/a")).await.unwrap_err();
    assert!(
        matches!(err, AzureError::Unavailable { attempts: 6, .. }),
        "{err}"
    );
    assert!(err.is_transient());
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(waits.lock().unwrap().len(), 5);
    let puts = emu
        .core()
        .log()
        .into_iter()
        .filter(|e| e.method == "PUT")
        .count();
    assert_eq!(puts, 6);
}

#[tokio::test]
async fn a_retry_after_beyond_the_total_budget_is_not_slept() {
    let emu = emulator("").await;
    let (clock, waits) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    emu.core().add_fault(fault(
        "/subscriptions",
        Some("PUT"),
        1,
        status(429, None, Some(3600)),
    ));
    let err = az.grant(&alice_grant("2026/a")).await.unwrap_err();
    match &err {
        AzureError::Throttled {
            attempts,
            retry_after,
            ..
        } => {
            assert_eq!(*attempts, 1);
            assert_eq!(*retry_after, Some(Duration::from_secs(3600)));
        }
        other => panic!("{other}"),
    }
    assert!(waits.lock().unwrap().is_empty());
    assert!(err.to_string().contains("3600s"), "{err}");
}

#[tokio::test]
async fn a_request_that_times_out_is_retried() {
    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let mut p = policy(clock);
    p.request_timeout = Duration::from_millis(300);
    let az = client_with(&emu.base_url(), &secret_env(), p);
    // Warm the token so only the ARM call meets the hanging server.
    az.resolve_principal("alice@contoso.com").await.unwrap();
    emu.core()
        .add_fault(fault("/subscriptions", Some("PUT"), 1, FaultKind::Hang));
    az.grant(&alice_grant("2026/a")).await.unwrap();
    let puts: Vec<_> = emu
        .core()
        .log()
        .into_iter()
        .filter(|e| e.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 2);
    assert_eq!(puts[0].fault.as_deref(), Some("hang"));
    assert_eq!(puts[1].status, Some(201));
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let emu = emulator("").await;
    let (clock, waits) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    emu.core()
        .add_fault(fault("/subscriptions", Some("PUT"), 2, FaultKind::Drop));
    let a = az.grant(&alice_grant("2026/a")).await.unwrap();
    assert!(a.marker.is_some());
    assert_eq!(waits.lock().unwrap().len(), 2);
    let puts: Vec<_> = emu
        .core()
        .log()
        .into_iter()
        .filter(|e| e.method == "PUT")
        .collect();
    assert_eq!(
        puts.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![None, None, Some(201)]
    );
}

#[tokio::test]
async fn the_token_endpoint_being_down_is_an_outage_not_a_crash() {
    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    emu.core().add_fault(fault(
        &format!("/{TENANT}/oauth2"),
        None,
        100,
        status(503, None, None),
    ));
    let err = az.grant(&alice_grant("2026/a")).await.unwrap_err();
    assert!(matches!(err, AzureError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains("Entra token request"), "{err}");
    // Never reached ARM without a token.
    assert!(
        emu.core()
            .log()
            .iter()
            .all(|e| !e.path.starts_with("/subscriptions"))
    );
}

/// Issue 8 §3: one sort of every error the grant-time check and the grant can get, so the
/// engine can record a permanent answer once and retry only transient ones: the secret or vault
/// missing and a vault on access policies are answers (statuses, not errors); 403 and 404 from
/// ARM are permanent; outages of ARM and of the token endpoint, throttling, and Entra
/// replication lag are transient.
#[tokio::test]
async fn every_error_of_the_grant_path_is_sorted_permanent_or_transient() {
    use kv_jit_core::names::SecretName;
    use kv_jit_effects::azure::ErrorClass::{Permanent, Transient};
    use kv_jit_effects::azure::SecretStatus;
    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    let kv = vault("flowlibs-demo-kv");
    let secret = |n: &str| SecretName::parse(n).unwrap();
    let check = |n: &'static str| {
        let (az, kv) = (&az, &kv);
        async move { az.check_secret(kv, &secret(n)).await }
    };
    assert_eq!(check("nope").await.unwrap(), SecretStatus::SecretMissing);
    assert_eq!(
        az.check_secret(&vault("legacy-kv"), &secret("old"))
            .await
            .unwrap(),
        SecretStatus::VaultNotRbac
    );
    let vault_path = kv.scope();
    for (fault_status, code, class) in [
        (403, "AuthorizationFailed", Permanent),
        (403, "RequestDisallowedByPolicy", Permanent),
        (400, "InvalidApiVersionParameter", Permanent),
        (503, "ServiceUnavailable", Transient),
        (429, "TooManyRequests", Transient),
    ] {
        emu.core().add_fault(fault(
            &vault_path,
            Some("GET"),
            100,
            status(fault_status, Some(code), Some(0)),
        ));
        let err = check("demo-api-key").await.unwrap_err();
        emu.core().clear_faults();
        assert_eq!(err.class(), class, "{fault_status} {code}: {err}");
        assert_eq!(err.is_transient(), class == Transient);
    }
    // The token endpoint being down is an outage, not a credential problem.
    emu.core().add_fault(fault(
        &format!("/{TENANT}/oauth2"),
        None,
        100,
        status(503, None, None),
    ));
    let fresh = client_with(
        &emu.base_url(),
        &secret_env(),
        policy(recording_clock(None).0),
    );
    let err = fresh
        .resolve_principal("alice@contoso.com")
        .await
        .unwrap_err();
    assert_eq!(err.class(), Transient, "{err}");
    emu.core().clear_faults();
    // Graph's 404 is permanent; Entra refusing the secret is permanent.
    let err = az
        .resolve_principal("mallory@contoso.com")
        .await
        .unwrap_err();
    assert_eq!(err.class(), Permanent, "{err}");
    let wrong = env(&[
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_CLIENT_SECRET", "wrong"),
    ]);
    let err = client_with(&emu.base_url(), &wrong, policy(recording_clock(None).0))
        .resolve_principal("alice@contoso.com")
        .await
        .unwrap_err();
    assert_eq!(err.class(), Permanent, "{err}");
}

#[tokio::test]
async fn the_token_endpoint_recovering_is_transparent() {
    let emu = emulator("").await;
    let (clock, waits) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    emu.core().add_fault(fault(
        &format!("/{TENANT}/oauth2"),
        None,
        1,
        FaultKind::Drop,
    ));
    az.grant(&alice_grant("2026/a")).await.unwrap();
    assert_eq!(waits.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn graph_404_is_no_such_user() {
    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    let err = az
        .resolve_principal("mallory@contoso.com")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("no such user mallory@contoso.com in tenant {TENANT}")
    );
}

#[tokio::test]
async fn the_role_assignment_limit_says_what_to_do() {
    let emu = emulator("limits: { role_assignments_per_subscription: 1 }").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    az.grant(&alice_grant("2026/a")).await.unwrap();
    let bob = user("bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb");
    let err = az
        .grant(&grant_spec(
            "2026/b",
            target("flowlibs-demo-kv", None),
            bob,
            ExpiryMode::Revoker,
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, AzureError::LimitExceeded { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("RoleAssignmentLimitExceeded") && text.contains(SUB),
        "{text}"
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn authorization_failed_names_the_role_and_vault() {
    let emu = emulator("").await;
    let (clock, waits) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    let spec = grant_spec(
        "2026/a",
        target("locked-kv", None),
        user(ALICE_OID),
        ExpiryMode::Revoker,
    );
    let err = az.grant(&spec).await.unwrap_err();
    assert!(
        matches!(err, AzureError::AuthorizationFailed { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains(
            "the workflow identity needs Key Vault Data Access Administrator on vault locked-kv"
        ),
        "{err}"
    );
    let err = az.revoke(&revoke_spec(&spec)).await.unwrap_err();
    assert!(
        matches!(err, AzureError::AuthorizationFailed { .. }),
        "{err}"
    );
    assert!(waits.lock().unwrap().is_empty(), "a 403 is not retried");
}

#[tokio::test]
async fn principal_not_found_is_retried_then_reported() {
    let emu = emulator("").await;
    let (clock, waits) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    // Replication lag: the first two PUTs do not see the principal yet.
    emu.core().add_fault(fault(
        "/subscriptions",
        Some("PUT"),
        2,
        status(400, Some("PrincipalNotFound"), None),
    ));
    az.grant(&alice_grant("2026/a")).await.unwrap();
    assert_eq!(waits.lock().unwrap().len(), 2);

    // A principal that never appears.
    let ghost = user("0f0f0f0f-0f0f-0f0f-0f0f-0f0f0f0f0f0f");
    let err = az
        .grant(&grant_spec(
            "2026/ghost",
            target("flowlibs-demo-kv", None),
            ghost,
            ExpiryMode::Revoker,
        ))
        .await
        .unwrap_err();
    match &err {
        AzureError::PrincipalNotFound { attempts, .. } => assert_eq!(*attempts, 4),
        other => panic!("{other}"),
    }
    // kv-jit resolved the principal through Graph first, so ARM not seeing it is replication
    // lag: a later run may succeed.
    assert!(err.is_transient());
}

#[tokio::test]
async fn the_write_bucket_throttles_with_real_headers_and_the_client_waits() {
    let emu = emulator("limits: { write_bucket_capacity: 2, write_refill_per_sec: 0.5 }").await;
    let (clock, waits) = recording_clock(Some(emu.core().clock.clone()));
    let mut p = policy(clock);
    p.pace_low_water = 0; // pacer off: reach Azure's 429
    let az = client_with(&emu.base_url(), &secret_env(), p);
    for i in 0..3 {
        let spec = alice_grant(&format!("2026/gone-{i}"));
        assert_eq!(
            az.revoke(&revoke_spec(&spec)).await.unwrap(),
            RevokeOutcome::AlreadyGone
        );
    }
    let statuses: Vec<_> = emu
        .core()
        .log()
        .into_iter()
        .filter(|e| e.method == "DELETE")
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, vec![Some(204), Some(204), Some(429), Some(204)]);
    assert_eq!(*waits.lock().unwrap(), vec![Duration::from_secs(2)]);
}

#[tokio::test]
async fn the_pacer_slows_down_before_azure_throttles() {
    let emu = emulator("limits: { write_bucket_capacity: 25, write_refill_per_sec: 10 }").await;
    let (clock, waits) = recording_clock(Some(emu.core().clock.clone()));
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    for i in 0..40 {
        let spec = alice_grant(&format!("2026/gone-{i}"));
        az.revoke(&revoke_spec(&spec)).await.unwrap();
    }
    let log = emu.core().log();
    assert!(
        log.iter().all(|e| e.status != Some(429)),
        "the pacer kept ahead of the bucket"
    );
    let waits = waits.lock().unwrap().clone();
    assert!(!waits.is_empty(), "the pacer waited");
    assert!(
        waits.iter().all(|w| *w <= Duration::from_secs(2)),
        "{waits:?}"
    );
}

mod single_calls {
    //! One request, one answer: wiremock pins the exact shapes.

    use super::*;
    use kv_jit_effects::azure::{Credential, Endpoints, arm};
    use wiremock::matchers::{body_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    async fn server_with_token() -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "token_type": "Bearer", "expires_in": 3599, "access_token": "tok"
            })))
            .mount(&server)
            .await;
        server
    }

    fn vault_scope() -> String {
        target("flowlibs-demo-kv", None).scope()
    }

    #[tokio::test]
    async fn put_body_matches_the_documented_shape() {
        let server = server_with_token().await;
        let spec = alice_grant("2026/alice-api-key");
        let name =
            kv_jit_effects::azure::assignment_name(TENANT, &vault_scope(), "2026/alice-api-key");
        let expires = spec
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        Mock::given(method("PUT"))
            .and(path(format!("{}/providers/Microsoft.Authorization/roleAssignments/{name}", vault_scope())))
            .and(query_param("api-version", "2022-04-01"))
            .and(header("authorization", "Bearer tok"))
            .and(body_json(serde_json::json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{SECRETS_USER}"),
                "principalId": ALICE_OID,
                "principalType": "User",
                "description": format!("kv-jit:v1 request=2026/alice-api-key expires={expires}"),
            }})))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "properties": {
                    "roleDefinitionId": format!("/providers/Microsoft.Authorization/roleDefinitions/{SECRETS_USER}"),
                    "principalId": ALICE_OID, "principalType": "User", "scope": vault_scope(),
                    "description": format!("kv-jit:v1 request=2026/alice-api-key expires={expires}"),
                },
                "id": format!("{}/providers/Microsoft.Authorization/roleAssignments/{name}", vault_scope()),
                "type": "Microsoft.Authorization/roleAssignments",
                "name": name.to_string(),
            })))
            .expect(1)
            .mount(&server)
            .await;
        let (clock, _) = recording_clock(None);
        let az = client_with(&server.uri(), &secret_env(), policy(clock));
        let a = az.grant(&spec).await.unwrap();
        assert_eq!(a.role, SECRETS_USER);
    }

    #[tokio::test]
    async fn delete_404_counts_as_gone() {
        let server = server_with_token().await;
        Mock::given(method("DELETE"))
            .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
                "error": {"code": "RoleAssignmentNotFound", "message": "gone"}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let (clock, _) = recording_clock(None);
        let az = client_with(&server.uri(), &secret_env(), policy(clock));
        let out = az
            .revoke(&revoke_spec(&alice_grant("2026/a")))
            .await
            .unwrap();
        assert_eq!(out, RevokeOutcome::AlreadyGone);
    }

    #[tokio::test]
    async fn list_keeps_only_assignments_exactly_at_the_scope() {
        let server = server_with_token().await;
        let list_path = format!(
            "{}/providers/Microsoft.Authorization/roleAssignments",
            vault_scope()
        );
        let item = |scope: &str, name: &str, desc: &str| {
            serde_json::json!({
                "id": format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
                "name": name,
                "properties": {
                    "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{SECRETS_USER}"),
                    "principalId": ALICE_OID, "principalType": "User", "scope": scope, "description": desc,
                }
            })
        };
        let marker = "kv-jit:v1 request=2026/a expires=2026-11-27T11:00:00Z";
        let upper = vault_scope().to_uppercase();
        Mock::given(method("GET"))
            .and(path(list_path.clone()))
            .and(query_param("$filter", "atScope()"))
            .and(query_param("page", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "value": [item(&upper, "n3", marker)]
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(list_path.clone()))
            .and(query_param("$filter", "atScope()"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "value": [
                    item(&vault_scope(), "n1", marker),
                    item(&format!("/subscriptions/{SUB}/resourceGroups/{RG}"), "inherited", marker),
                    item(&vault_scope(), "by-hand", "made in the portal"),
                ],
                "nextLink": format!("{}{list_path}?api-version=2022-04-01&$filter=atScope()&page=2", server.uri()),
            })))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        let (clock, _) = recording_clock(None);
        let az = client_with(&server.uri(), &secret_env(), policy(clock));
        let managed = az
            .list_managed(&target("flowlibs-demo-kv", None))
            .await
            .unwrap();
        let names: Vec<_> = managed.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, vec!["n1", "n3"]);
    }

    #[tokio::test]
    async fn a_next_link_to_another_host_is_refused() {
        let server = server_with_token().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "value": [], "nextLink": "https://attacker.example/steal"
            })))
            .mount(&server)
            .await;
        let (clock, _) = recording_clock(None);
        let az = client_with(&server.uri(), &secret_env(), policy(clock));
        let err = az
            .list_managed(&target("flowlibs-demo-kv", None))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("nextLink"), "{err}");
    }

    #[tokio::test]
    async fn arm_get_of_a_missing_assignment_is_none() {
        let server = server_with_token().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
                "error": {"code": "RoleAssignmentNotFound", "message": "The role assignment does not exist."}
            })))
            .mount(&server)
            .await;
        let (clock, _) = recording_clock(None);
        let az = client_with(&server.uri(), &secret_env(), policy(clock));
        assert!(
            arm::get(&az, &target("flowlibs-demo-kv", None), "2026/a")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn managed_identity_endpoint_is_used_when_nothing_explicit_is_set() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/msi/token"))
            .and(header("x-identity-header", "h"))
            .and(query_param("resource", format!("{}/graph", server.uri())))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": "mi-token", "expires_in": "3599", "token_type": "Bearer"
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/graph/v1.0/users/alice@contoso.com"))
            .and(header("authorization", "Bearer mi-token"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": ALICE_OID})),
            )
            .mount(&server)
            .await;
        let env = env(&[
            ("IDENTITY_ENDPOINT", &format!("{}/msi/token", server.uri())),
            ("IDENTITY_HEADER", "h"),
        ]);
        let (clock, _) = recording_clock(None);
        let az = client_with(&server.uri(), &env, policy(clock));
        assert_eq!(
            az.resolve_principal("alice@contoso.com").await.unwrap(),
            user(ALICE_OID)
        );
    }

    #[tokio::test]
    async fn no_credential_error_names_everything_tried() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(400).set_body_string("no identity"))
            .mount(&server)
            .await;
        // No explicit variables; the managed-identity endpoint says no; PATH has no `az`.
        let env = env(&[
            ("IDENTITY_ENDPOINT", &format!("{}/msi/token", server.uri())),
            ("IDENTITY_HEADER", "h"),
            ("PATH", "/nonexistent"),
        ]);
        let endpoints = Endpoints::emulator(&url::Url::parse(&server.uri()).unwrap());
        let credential =
            Credential::from_env(&allowing(&server.uri(), &env), TENANT, &endpoints).unwrap();
        let (clock, _) = recording_clock(None);
        let az =
            kv_jit_effects::azure::AzureClient::new(TENANT, endpoints, credential, policy(clock))
                .unwrap();
        let err = az.resolve_principal("alice@contoso.com").await.unwrap_err();
        let text = err.to_string();
        for tried in [
            "GitHub Actions OIDC",
            "AZURE_CLIENT_SECRET",
            "managed identity (IDENTITY_ENDPOINT)",
            "HTTP 400",
            "Azure CLI",
            "az login",
        ] {
            assert!(text.contains(tried), "missing {tried:?} in: {text}");
        }
        assert!(!text.contains("\"h\""), "{text}");
    }

    #[tokio::test]
    async fn entra_rejection_is_a_credential_error_with_its_description() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
                "error_codes": [7000215],
            })))
            .expect(1)
            .mount(&server)
            .await;
        let (clock, _) = recording_clock(None);
        let az = client_with(&server.uri(), &secret_env(), policy(clock));
        let err = az.resolve_principal("alice@contoso.com").await.unwrap_err();
        assert!(matches!(err, AzureError::Credential(_)));
        assert!(err.to_string().contains("AADSTS7000215"), "{err}");
        assert!(err.to_string().contains("client secret"), "{err}");
        assert!(!err.to_string().contains("app-secret"), "{err}");
    }
}
