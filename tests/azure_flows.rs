//! End-to-end Azure flows against the in-process emulator.

#[path = "support/azure.rs"]
mod support;

use kv_jit_core::names::SecretName;
use kv_jit_effects::azure::{
    Azure, AzureError, ExpiryMode, RevokeOutcome, SecretStatus, arm, assignment_name,
};
use kv_jit_emulator::LogEntry;
use support::*;

fn paths(log: &[LogEntry]) -> Vec<String> {
    log.iter()
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

/// kv-jit's requests never touch the data plane (`/kv/...` in the emulator).
fn assert_no_data_plane(log: &[LogEntry]) {
    assert!(
        log.iter().all(|e| !e.path.starts_with("/kv/")),
        "kv-jit called the data plane: {:?}",
        paths(log)
    );
}

#[tokio::test]
async fn grant_get_list_revoke_with_data_plane_access_in_between() {
    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    let target = target("flowlibs-demo-kv", None);

    // Warm the token caches (ARM and Graph), then measure one grant.
    assert_eq!(
        az.check_secret(&target.vault, &SecretName::parse("demo-api-key").unwrap())
            .await
            .unwrap(),
        SecretStatus::Exists
    );
    az.resolve_principal("alice@contoso.com").await.unwrap();
    emu.core().clear_log();

    let alice = az.resolve_principal("alice@contoso.com").await.unwrap();
    assert_eq!(alice.object_id.to_string(), ALICE_OID);
    let status = az
        .check_secret(&target.vault, &SecretName::parse("demo-api-key").unwrap())
        .await
        .unwrap();
    assert_eq!(status, SecretStatus::Exists);
    let spec = grant_spec(
        "2026/alice-api-key",
        target.clone(),
        alice,
        ExpiryMode::Revoker,
    );
    let a = az.grant(&spec).await.unwrap();
    let grant_log = emu.core().log();
    assert!(grant_log.len() <= 4, "{:?}", paths(&grant_log));
    assert_no_data_plane(&grant_log);

    let name = assignment_name(TENANT, &target.scope(), "2026/alice-api-key");
    assert_eq!(a.name, name.to_string());
    assert_eq!(a.role, SECRETS_USER);
    assert!(a.scope.eq_ignore_ascii_case(&target.scope()));
    let marker = a.marker.as_ref().expect("kv-jit marker");
    assert_eq!(marker.request_id, "2026/alice-api-key");
    assert_eq!(a.principal_type.as_deref(), Some("User"));

    // Idempotent: the same grant again lands on the same assignment.
    let again = az.grant(&spec).await.unwrap();
    assert_eq!(again.id, a.id);

    let got = arm::get(&az, &target, "2026/alice-api-key").await.unwrap();
    assert_eq!(got.map(|g| g.id), Some(a.id.clone()));
    let managed = az.list_managed(&target).await.unwrap();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].id, a.id);

    // The requester reads the secret with their own identity while granted.
    let base = emu.base_url();
    assert_eq!(
        read_as(
            &base,
            "alice@contoso.com",
            "alice-pw",
            "flowlibs-demo-kv",
            "demo-api-key"
        )
        .await,
        (200, "s3cr3t-value".into())
    );

    emu.core().clear_log();
    assert_eq!(
        az.revoke(&revoke_spec(&spec)).await.unwrap(),
        RevokeOutcome::Deleted
    );
    let revoke_log = emu.core().log();
    assert_eq!(revoke_log.len(), 1, "{:?}", paths(&revoke_log));
    assert_eq!(revoke_log[0].method, "DELETE");
    assert_eq!(revoke_log[0].status, Some(200));

    assert_eq!(
        az.revoke(&revoke_spec(&spec)).await.unwrap(),
        RevokeOutcome::AlreadyGone
    );
    assert_eq!(
        read_as(
            &base,
            "alice@contoso.com",
            "alice-pw",
            "flowlibs-demo-kv",
            "demo-api-key"
        )
        .await,
        (403, "ForbiddenByRbac".into())
    );
    assert!(
        arm::get(&az, &target, "2026/alice-api-key")
            .await
            .unwrap()
            .is_none()
    );
    assert!(az.list_managed(&target).await.unwrap().is_empty());
}

#[tokio::test]
async fn secret_scope_grant_covers_only_that_secret() {
    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    let spec = grant_spec(
        "2026/alice-one-secret",
        target("flowlibs-demo-kv", Some("demo-api-key")),
        user(ALICE_OID),
        ExpiryMode::Revoker,
    );
    let a = az.grant(&spec).await.unwrap();
    assert!(a.scope.ends_with("/secrets/demo-api-key"));
    let base = emu.base_url();
    assert_eq!(
        read_as(
            &base,
            "alice@contoso.com",
            "alice-pw",
            "flowlibs-demo-kv",
            "demo-api-key"
        )
        .await
        .0,
        200
    );
    assert_eq!(
        read_as(
            &base,
            "alice@contoso.com",
            "alice-pw",
            "flowlibs-demo-kv",
            "demo-connection-string"
        )
        .await,
        (403, "ForbiddenByRbac".into())
    );
    // Listing at the vault scope does not return the secret-scope assignment (not inherited).
    assert!(
        az.list_managed(&target("flowlibs-demo-kv", None))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(az.list_managed(&spec.target).await.unwrap().len(), 1);
}

#[tokio::test]
async fn check_secret_reports_each_status() {
    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    let s = |n: &str| SecretName::parse(n).unwrap();
    assert_eq!(
        az.check_secret(&vault("flowlibs-demo-kv"), &s("demo-api-key"))
            .await
            .unwrap(),
        SecretStatus::Exists
    );
    assert_eq!(
        az.check_secret(&vault("flowlibs-demo-kv"), &s("nope"))
            .await
            .unwrap(),
        SecretStatus::SecretMissing
    );
    assert_eq!(
        az.check_secret(&vault("no-such-kv"), &s("x"))
            .await
            .unwrap(),
        SecretStatus::VaultMissing
    );
    assert_eq!(
        az.check_secret(&vault("legacy-kv"), &s("old"))
            .await
            .unwrap(),
        SecretStatus::VaultNotRbac
    );
    let log = emu.core().log();
    assert_no_data_plane(&log);
    assert!(
        log.iter().all(|e| e.path.contains("/oauth2/")
            || e.path.contains("/providers/Microsoft.KeyVault/vaults/"))
    );
}

#[tokio::test]
async fn conflict_with_an_assignment_made_by_hand_returns_that_one() {
    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    let t = target("flowlibs-demo-kv", None);

    // Someone assigned the same role to alice by hand, under a random name, without a marker.
    let http = http();
    let tok: serde_json::Value = http
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "app-secret"),
            ("scope", &format!("{}/.default", emu.base_url())),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let by_hand = "0b5fe924-9a61-425c-96af-cfe6e287ca2d";
    let resp = http
        .put(format!(
            "{}{}/providers/Microsoft.Authorization/roleAssignments/{by_hand}?api-version=2022-04-01",
            emu.base_url(),
            t.scope()
        ))
        .bearer_auth(tok["access_token"].as_str().unwrap())
        .json(&serde_json::json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{SECRETS_USER}"),
            "principalId": ALICE_OID,
        }}))
        .send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 201);

    let spec = grant_spec(
        "2026/alice-dup",
        t.clone(),
        user(ALICE_OID),
        ExpiryMode::Revoker,
    );
    let a = az.grant(&spec).await.unwrap();
    assert_eq!(a.name, by_hand);
    assert!(
        a.marker.is_none(),
        "not kv-jit's: the engine must not delete it"
    );
    // Revoking our deterministic name leaves the hand-made assignment alone.
    assert_eq!(
        az.revoke(&revoke_spec(&spec)).await.unwrap(),
        RevokeOutcome::AlreadyGone
    );
    assert_eq!(
        read_as(
            &emu.base_url(),
            "alice@contoso.com",
            "alice-pw",
            "flowlibs-demo-kv",
            "demo-api-key"
        )
        .await
        .0,
        200
    );
    assert!(az.list_managed(&t).await.unwrap().is_empty());
}

/// Issue 8 §3: an extension's PUT hits 409 on the assignment kv-jit made for the grant it
/// extends, and Azure refuses the re-PUT that would rewrite its marker. The grant is still in
/// effect (never an error that loses it), and the answer says the marker is the old one.
#[tokio::test]
async fn a_refused_marker_rewrite_returns_the_grant_with_its_old_marker_and_says_so() {
    let emu = emulator("limits: { refuse_description_updates: true }").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    let t = target("flowlibs-demo-kv", None);
    let base = grant_spec(
        "2026/alice-base",
        t.clone(),
        user(ALICE_OID),
        ExpiryMode::Revoker,
    );
    let first = az.grant(&base).await.unwrap();
    assert_eq!(first.marker_not_updated, None);

    let mut ext = grant_spec(
        "2026/alice-more",
        t.clone(),
        user(ALICE_OID),
        ExpiryMode::Revoker,
    );
    ext.expires_at = base.expires_at + chrono::Duration::hours(2);
    let got = az.grant(&ext).await.expect("the grant is in effect");
    assert_eq!(got.name, first.name, "the shared assignment");
    let old = got.marker.clone().expect("still kv-jit's");
    assert_eq!(
        (old.request_id.as_str(), old.expires_at),
        ("2026/alice-base", base.expires_at),
        "the marker Azure holds is the old one"
    );
    let why = got
        .marker_not_updated
        .expect("says the marker was not updated");
    assert_eq!(why.wanted.request_id, "2026/alice-more");
    assert_eq!(why.wanted.expires_at, ext.expires_at);
    assert!(
        why.reason.contains("RoleAssignmentUpdateNotPermitted"),
        "{}",
        why.reason
    );
    assert_eq!(why.class, kv_jit_effects::azure::ErrorClass::Permanent);
    // Azure really kept the old marker.
    let held = az.list_managed(&t).await.unwrap();
    assert_eq!(held[0].marker, Some(old));

    // Where Azure allows the rewrite, the marker moves and nothing is flagged.
    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    az.grant(&base).await.unwrap();
    let got = az.grant(&ext).await.unwrap();
    assert_eq!(got.marker.unwrap().request_id, "2026/alice-more");
    assert_eq!(got.marker_not_updated, None);
}

#[tokio::test]
async fn list_follows_next_link_across_pages() {
    let emu = emulator("limits: { list_page_size: 2 }").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    let t = target("flowlibs-demo-kv", None);
    let users = [
        ALICE_OID,
        "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb",
        "cccccccc-cccc-cccc-cccc-cccccccccccc",
        "dddddddd-dddd-dddd-dddd-dddddddddddd",
        "eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee",
    ];
    for (i, u) in users.iter().enumerate() {
        az.grant(&grant_spec(
            &format!("2026/r{i}"),
            t.clone(),
            user(u),
            ExpiryMode::Revoker,
        ))
        .await
        .unwrap();
    }
    emu.core().clear_log();
    let managed = az.list_managed(&t).await.unwrap();
    assert_eq!(managed.len(), 5);
    let lists: Vec<_> = emu
        .core()
        .log()
        .into_iter()
        .filter(|e| e.method == "GET")
        .collect();
    assert_eq!(lists.len(), 3, "three pages of two");
    assert!(lists[1].query.as_deref().unwrap().contains("skipToken"));
}

#[tokio::test]
async fn pim_grant_expires_by_itself_when_the_clock_moves() {
    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    let base = emu.base_url();
    let mut spec = grant_spec(
        "2026/alice-pim",
        target("flowlibs-demo-kv", None),
        user(ALICE_OID),
        ExpiryMode::Pim,
    );
    spec.starts_at = emu.core().clock.now();
    spec.expires_at = spec.starts_at + chrono::Duration::hours(1);

    emu.core().clear_log();
    let a = az.grant(&spec).await.unwrap();
    let log = emu.core().log();
    // Token, GET of the request's name (404: not made yet), one PUT.
    assert_eq!(
        paths(&log)
            .iter()
            .map(|p| p.split(' ').next().unwrap())
            .collect::<Vec<_>>(),
        ["POST", "GET", "PUT"],
        "{:?}",
        paths(&log)
    );
    assert_eq!(log[1].status, Some(404));
    assert!(log[2].path.contains("/roleAssignmentScheduleRequests/"));
    assert_eq!(a.marker.unwrap().request_id, "2026/alice-pim");
    assert_eq!(
        read_as(
            &base,
            "alice@contoso.com",
            "alice-pw",
            "flowlibs-demo-kv",
            "demo-api-key"
        )
        .await
        .0,
        200
    );

    // A retried grant (same deterministic request name) reads the request it made: no second PUT.
    emu.core().clear_log();
    az.grant(&spec).await.unwrap();
    assert!(
        emu.core().log().iter().all(|e| e.method == "GET"),
        "{:?}",
        paths(&emu.core().log())
    );

    emu.core().clock.advance(chrono::Duration::hours(2));
    assert_eq!(
        read_as(
            &base,
            "alice@contoso.com",
            "alice-pw",
            "flowlibs-demo-kv",
            "demo-api-key"
        )
        .await,
        (403, "ForbiddenByRbac".into())
    );
    // Azure already ended it: the revoker's AdminRemove finds nothing, which is success.
    assert_eq!(
        az.revoke(&revoke_spec(&spec)).await.unwrap(),
        RevokeOutcome::AlreadyGone
    );
}

#[tokio::test]
async fn pim_early_revoke_removes_access() {
    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    let base = emu.base_url();
    let mut spec = grant_spec(
        "2026/alice-pim-early",
        target("flowlibs-demo-kv", None),
        user(ALICE_OID),
        ExpiryMode::Pim,
    );
    spec.starts_at = emu.core().clock.now();
    spec.expires_at = spec.starts_at + chrono::Duration::hours(4);
    az.grant(&spec).await.unwrap();

    // PIM refuses to end an assignment in its first five minutes; the error says so.
    let err = az.revoke(&revoke_spec(&spec)).await.unwrap_err();
    assert!(err.to_string().contains("ActiveDurationTooShort"), "{err}");
    assert!(err.to_string().contains("next revoke run"), "{err}");

    emu.core().clock.advance(chrono::Duration::minutes(10));
    emu.core().clear_log();
    assert_eq!(
        az.revoke(&revoke_spec(&spec)).await.unwrap(),
        RevokeOutcome::Deleted
    );
    // The schedule, the request that made it (kv-jit's marker for this request), the removal's
    // name (not made yet), the removal.
    let log = emu.core().log();
    assert_eq!(log.len(), 4, "{:?}", paths(&log));
    assert!(log[0].path.ends_with("/roleAssignmentSchedules"));
    assert_eq!(log[3].method, "PUT");
    assert_eq!(
        read_as(
            &base,
            "alice@contoso.com",
            "alice-pw",
            "flowlibs-demo-kv",
            "demo-api-key"
        )
        .await,
        (403, "ForbiddenByRbac".into())
    );
}

#[tokio::test]
async fn github_oidc_token_is_exchanged_as_client_assertion() {
    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let base = emu.base_url();
    let env = env(&[
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_TENANT_ID", TENANT),
        (
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            &format!("{base}/actions/oidc/token?api-version=2.0"),
        ),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-token"),
    ]);
    let az = client_with(&base, &env, policy(clock));
    az.check_secret(
        &vault("flowlibs-demo-kv"),
        &SecretName::parse("demo-api-key").unwrap(),
    )
    .await
    .unwrap();
    let log = emu.core().log();
    assert_eq!(log[0].path, "/actions/oidc/token");
    let q = log[0].query.as_deref().unwrap();
    assert!(
        q.contains("api-version=2.0") && q.contains("audience=api%3A%2F%2FAzureADTokenExchange"),
        "{q}"
    );
    assert_eq!(log[1].path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(log[1].status, Some(200));
}

#[tokio::test]
async fn github_oidc_with_unmatched_subject_names_the_fix() {
    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let base = emu.base_url();
    let env = env(&[
        ("AZURE_CLIENT_ID", "55555555-5555-5555-5555-555555555555"),
        (
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            &format!("{base}/actions/oidc/token?api-version=2.0"),
        ),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-token"),
    ]);
    let az = client_with(&base, &env, policy(clock));
    let err = az.resolve_principal("alice@contoso.com").await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, AzureError::Credential(_)), "{text}");
    assert!(text.contains("GitHub Actions OIDC"), "{text}");
    assert!(text.contains("AADSTS700213"), "{text}");
    assert!(text.contains(SUBJECT), "{text}");
}

#[tokio::test]
async fn federated_token_file_is_read_for_each_exchange() {
    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let base = emu.base_url();
    let jwt: serde_json::Value = http()
        .get(format!(
            "{base}/actions/oidc/token?audience=api://AzureADTokenExchange"
        ))
        .bearer_auth("gh-request-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("kv-jit-fed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, jwt["value"].as_str().unwrap()).unwrap();
    let env = env(&[
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap()),
    ]);
    let az = client_with(&base, &env, policy(clock));
    let p = az.resolve_principal("alice@contoso.com").await.unwrap();
    assert_eq!(p.object_id.to_string(), ALICE_OID);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn tokens_are_cached_per_audience_and_graph_lookups_per_run() {
    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    for _ in 0..3 {
        az.resolve_principal("Alice@Contoso.com").await.unwrap();
        az.check_secret(
            &vault("flowlibs-demo-kv"),
            &SecretName::parse("demo-api-key").unwrap(),
        )
        .await
        .unwrap();
    }
    let log = emu.core().log();
    let tokens = log
        .iter()
        .filter(|e| e.path.ends_with("/oauth2/v2.0/token"))
        .count();
    let graph = log.iter().filter(|e| e.path.starts_with("/graph/")).count();
    assert_eq!(
        tokens,
        2,
        "one ARM token and one Graph token: {:?}",
        paths(&log)
    );
    assert_eq!(graph, 1);
}

/// The token cache ages on the client's clock: the emulator's tokens live 3599 s and are
/// replaced five minutes before they expire, however fast the test runs.
#[tokio::test]
async fn a_cached_token_is_refreshed_when_the_clients_clock_nears_its_expiry() {
    let emu = emulator("").await;
    let (clock, _) = recording_clock(Some(emu.core().clock.clone()));
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    let token_requests = || {
        emu.core()
            .log()
            .iter()
            .filter(|e| e.path.ends_with("/oauth2/v2.0/token"))
            .count()
    };
    // A listing (never cached, unlike the secret check) needs a token every time.
    let at_vault = target("flowlibs-demo-kv", None);
    let check = || az.list_managed(&at_vault);
    check().await.unwrap();
    assert_eq!(token_requests(), 1);
    // 3599 s − 300 s = 54 min 59 s of use: still cached one second before.
    emu.core().clock.advance(chrono::Duration::seconds(3298));
    check().await.unwrap();
    assert_eq!(token_requests(), 1);
    emu.core().clock.advance(chrono::Duration::seconds(1));
    check().await.unwrap();
    assert_eq!(token_requests(), 2, "refreshed at 54 min 59 s");
}

/// A TCP listener on loopback that only records whether anyone connected.
fn silent_listener() -> (std::net::TcpListener, String) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

fn nobody_connected(l: &std::net::TcpListener) -> bool {
    matches!(l.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Issue 8 §2: a config (editable by any pull request) that moves `authority_host` to a host the
/// operator did not allow must not receive the GitHub OIDC assertion or the client secret. The
/// credential is refused before any request: neither that host nor GitHub's OIDC endpoint nor
/// Azure sees one.
#[tokio::test]
async fn an_authority_host_outside_the_allow_list_gets_no_request_at_all() {
    let emu = emulator("").await;
    let base = emu.base_url();
    let (listener, evil) = silent_listener();
    let mut endpoints =
        kv_jit_effects::azure::Endpoints::emulator(&url::Url::parse(&base).unwrap());
    endpoints.authority_host = url::Url::parse(&evil).unwrap();
    for env in [
        env(&[
            ("AZURE_CLIENT_ID", CLIENT_ID),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                &format!("{base}/actions/oidc/token?api-version=2.0"),
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-token"),
            ("KV_JIT_ALLOWED_ENDPOINTS", &base),
        ]),
        env(&[
            ("AZURE_CLIENT_ID", CLIENT_ID),
            ("AZURE_CLIENT_SECRET", "app-secret"),
            ("KV_JIT_ALLOWED_ENDPOINTS", &base),
        ]),
        // Managed identity and the Azure CLI would send their tokens to the configured hosts too.
        env(&[
            ("IDENTITY_ENDPOINT", &format!("{base}/msi/token")),
            ("IDENTITY_HEADER", "h"),
            ("PATH", "/nonexistent"),
        ]),
    ] {
        let err =
            kv_jit_effects::azure::Credential::from_env(&env, TENANT, &endpoints).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, AzureError::EndpointNotAllowed(_)), "{text}");
        assert!(err.is_configuration());
        assert_eq!(err.class(), kv_jit_effects::azure::ErrorClass::Permanent);
        assert!(
            text.contains(&format!("cloud.authority_host: {evil}/")),
            "{text}"
        );
        assert!(text.contains("KV_JIT_ALLOWED_ENDPOINTS="), "{text}");
    }
    assert!(
        nobody_connected(&listener),
        "the unlisted host was contacted"
    );
    assert!(
        emu.core().log().is_empty(),
        "{:?}",
        paths(&emu.core().log())
    );
}

/// Without the operator's allow-list the emulator's (explicit) endpoints are refused too, and a
/// client cannot be handed endpoints its credential was not checked for.
#[tokio::test]
async fn explicit_endpoints_need_the_operator_allow_list_and_the_client_keeps_to_them() {
    let emu = emulator("").await;
    let base = emu.base_url();
    let endpoints = kv_jit_effects::azure::Endpoints::emulator(&url::Url::parse(&base).unwrap());
    let err =
        kv_jit_effects::azure::Credential::from_env(&secret_env(), TENANT, &endpoints).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("KV_JIT_ALLOWED_ENDPOINTS=\"{base}\"")),
        "{err}"
    );

    let named = kv_jit_effects::azure::Endpoints::named("AzureCloud").unwrap();
    let credential =
        kv_jit_effects::azure::Credential::from_env(&secret_env(), TENANT, &named).unwrap();
    let (clock, _) = recording_clock(None);
    let refused =
        kv_jit_effects::azure::AzureClient::new(TENANT, endpoints, credential, policy(clock));
    assert!(matches!(refused, Err(AzureError::EndpointNotAllowed(_))));
    assert!(emu.core().log().is_empty());
}

/// Belt and braces next to the request-log assertions: the client's source builds no Key Vault
/// data-plane URL (vault DNS suffixes, data-plane api-versions, or a `/secrets/` path outside
/// the ARM resource id).

#[test]
fn access_tokens_never_print() {
    let t = kv_jit_effects::azure::AccessToken::new(
        "eyJ0eXAiOiJKV1Qi.secret",
        std::time::Duration::from_secs(60),
    );
    assert_eq!(format!("{t:?}"), "AccessToken(***)");
    assert_eq!(format!("{:?}", Some(t)), "Some(AccessToken(***))");
}

// ---------------------------------------------------------------------------------------------
// PIM mode by the spec (issue 8 §3), and revoker mode never touching PIM.

/// An ARM token of the workflow app, for arranging Azure behind kv-jit's back.
async fn arm_token(base: &str) -> String {
    let tok: serde_json::Value = http()
        .post(format!("{base}/{TENANT}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "app-secret"),
            ("scope", &format!("{base}/.default")),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tok["access_token"].as_str().unwrap().to_owned()
}

/// A standing Secrets User assignment for `principal` at `t`, made by hand (no marker).
async fn assign_by_hand(base: &str, t: &kv_jit_effects::azure::Target, principal: &str) {
    let resp = http()
        .put(format!(
            "{base}{}/providers/Microsoft.Authorization/roleAssignments/0b5fe924-9a61-425c-96af-cfe6e287ca2d?api-version=2022-04-01",
            t.scope()
        ))
        .bearer_auth(arm_token(base).await)
        .json(&serde_json::json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{SECRETS_USER}"),
            "principalId": principal,
            "principalType": "User",
            "description": "carol's standing access, made by hand",
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
}

async fn alice_reads(base: &str) -> u16 {
    read_as(
        base,
        "alice@contoso.com",
        "alice-pw",
        "flowlibs-demo-kv",
        "demo-api-key",
    )
    .await
    .0
}

fn pim_spec(request: &str, hours: i64) -> kv_jit_effects::azure::GrantSpec {
    let mut spec = grant_spec(
        request,
        target("flowlibs-demo-kv", None),
        user(ALICE_OID),
        ExpiryMode::Pim,
    );
    spec.expires_at = spec.starts_at + chrono::Duration::hours(hours);
    spec
}

fn schedule_request_calls(log: &[LogEntry]) -> Vec<String> {
    log.iter()
        .filter(|e| e.path.contains("/roleAssignmentScheduleRequests"))
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

/// The spec's pending states are not access: the grant says "pending, not active", is
/// transient (the next run reads the same request again), and alice cannot read.
#[tokio::test]
async fn pim_pending_states_are_not_recorded_as_granted() {
    for status in [
        "PendingProvisioning",
        "Accepted",
        "PendingEvaluation",
        "PendingScheduleCreation",
    ] {
        let emu = emulator(&format!("limits: {{ pim_status: {status} }}")).await;
        let (clock, waits) = recording_clock(Some(emu.core().clock.clone()));
        let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
        let err = az.grant(&pim_spec("2026/alice-pim", 2)).await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, AzureError::PimPending { .. }),
            "{status}: {text}"
        );
        assert!(
            text.contains(status) && text.contains("pending, not active"),
            "{text}"
        );
        assert_eq!(
            err.class(),
            kv_jit_effects::azure::ErrorClass::Transient,
            "{status}"
        );
        // Read again a few times (on the virtual clock) before giving up for this run.
        let gets = emu
            .core()
            .log()
            .iter()
            .filter(|e| e.method == "GET" && e.path.contains("/roleAssignmentScheduleRequests/"))
            .count();
        assert_eq!(gets, 1 + 3, "{status}");
        assert_eq!(waits.lock().unwrap().len(), 3);
        assert_eq!(alice_reads(&emu.base_url()).await, 403, "{status}");
    }
}

/// Every failure status of the spec's enum is a failure, not only the four the code knew.
#[tokio::test]
async fn pim_failure_statuses_beyond_denied_failed_canceled_revoked_are_failures() {
    for status in [
        "AdminDenied",
        "TimedOut",
        "Invalid",
        "FailedAsResourceIsLocked",
        "Denied",
    ] {
        let emu = emulator(&format!("limits: {{ pim_status: {status} }}")).await;
        let (clock, _) = recording_clock(None);
        let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
        let err = az.grant(&pim_spec("2026/alice-pim", 2)).await.unwrap_err();
        assert!(
            matches!(err, AzureError::PimFailed { .. }),
            "{status}: {err}"
        );
        assert!(err.to_string().contains(status), "{err}");
        assert_eq!(
            err.class(),
            kv_jit_effects::azure::ErrorClass::Permanent,
            "{status}"
        );
    }
}

/// A request waiting for a PIM approver is refused (permanent) and cancelled, so nobody can
/// approve it after kv-jit recorded the refusal.
#[tokio::test]
async fn pim_awaiting_approval_is_refused_and_cancelled() {
    let emu = emulator("limits: { pim_status: PendingApproval }").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    let err = az.grant(&pim_spec("2026/alice-pim", 2)).await.unwrap_err();
    assert!(matches!(err, AzureError::PimPending { .. }), "{err}");
    assert_eq!(err.class(), kv_jit_effects::azure::ErrorClass::Permanent);
    assert!(err.to_string().contains("cancelled it"), "{err}");
    let log = emu.core().log();
    let cancel = log
        .iter()
        .find(|e| e.method == "POST" && e.path.ends_with("/cancel"))
        .expect("the pending request is cancelled");
    assert_eq!(cancel.status, Some(200));
    let again = az.grant(&pim_spec("2026/alice-pim", 2)).await.unwrap_err();
    assert!(
        matches!(again, AzureError::PimFailed { ref status, .. } if status == "Canceled"),
        "{again}"
    );
}

/// The spec wants a new schedule-request name per request; the old code reused one name per
/// request id, so a second window for the same id got the first (stored, expired) request back.
#[tokio::test]
async fn pim_request_names_are_new_for_every_request_body() {
    let scope = target("flowlibs-demo-kv", None).scope();
    let a = pim_spec("2026/alice-pim", 1);
    let mut b = pim_spec("2026/alice-pim", 1);
    b.starts_at += chrono::Duration::hours(3);
    b.expires_at += chrono::Duration::hours(3);
    let name = |s: &kv_jit_effects::azure::GrantSpec| {
        kv_jit_effects::azure::pim::request_name(
            TENANT,
            &scope,
            &kv_jit_effects::azure::pim::assign_body(s),
        )
    };
    assert_eq!(name(&a), name(&a.clone()), "a retry repeats its name");
    assert_ne!(name(&a), name(&b), "another window, another name");
    let removal = kv_jit_effects::azure::pim::request_name(
        TENANT,
        &scope,
        &kv_jit_effects::azure::pim::remove_body(&revoke_spec(&a)),
    );
    assert_ne!(removal, name(&a));

    let emu = emulator("").await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&emu.base_url(), &secret_env(), policy(clock));
    az.grant(&a).await.unwrap();
    // PIM ends the first window; the second window of the same id is a new request.
    emu.core().clock.set(b.starts_at);
    assert_eq!(alice_reads(&emu.base_url()).await, 403);
    emu.core().clear_log();
    let got = az.grant(&b).await.unwrap();
    assert_eq!(got.marker.unwrap().expires_at, b.expires_at);
    assert_eq!(
        alice_reads(&emu.base_url()).await,
        200,
        "the second window is in effect"
    );
    let calls = schedule_request_calls(&emu.core().log());
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("PUT") && c.ends_with(&name(&b).to_string())),
        "{calls:?}"
    );
}

/// An extension whose AdminAssign is answered RoleAssignmentExists (the base's assignment is
/// active) moves the base schedule's end with AdminExtend; before, access ended with the base.
#[tokio::test]
async fn pim_extension_answered_role_assignment_exists_is_extended() {
    let emu = emulator("").await;
    let base_url = emu.base_url();
    let (clock, _) = recording_clock(None);
    let az = client_with(&base_url, &secret_env(), policy(clock));
    let base = pim_spec("2026/alice-pim", 2);
    az.grant(&base).await.unwrap();
    let mut ext = pim_spec("2026/alice-pim-more", 2);
    ext.starts_at = base.expires_at;
    ext.expires_at = base.expires_at + chrono::Duration::hours(2);
    emu.core().clock.advance(chrono::Duration::minutes(90));
    emu.core().clear_log();
    let got = az.grant(&ext).await.unwrap();
    let m = got.marker.expect("kv-jit's marker");
    assert_eq!(
        (m.request_id.as_str(), m.expires_at),
        ("2026/alice-pim-more", ext.expires_at)
    );
    let calls = schedule_request_calls(&emu.core().log());
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("PUT")).count(),
        2,
        "the AdminAssign (409) and the AdminExtend: {calls:?}"
    );
    // Past the base's end, inside the extension: still readable. Past the extension: not.
    emu.core()
        .clock
        .set(base.expires_at + chrono::Duration::minutes(30));
    assert_eq!(alice_reads(&base_url).await, 200);
    emu.core()
        .clock
        .set(ext.expires_at + chrono::Duration::minutes(1));
    assert_eq!(alice_reads(&base_url).await, 403);
}

/// PIM mode never claims, extends or removes an assignment kv-jit did not make: a standing
/// assignment made by hand survives a PIM grant's 409 and its revoke (the old revoke sent
/// AdminRemove by principal, role and scope, which removed it).
#[tokio::test]
async fn pim_never_extends_or_removes_an_assignment_kv_jit_did_not_make() {
    let emu = emulator("").await;
    let base_url = emu.base_url();
    let t = target("flowlibs-demo-kv", None);
    assign_by_hand(&base_url, &t, ALICE_OID).await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&base_url, &secret_env(), policy(clock));
    let spec = pim_spec("2026/alice-pim", 2);
    let got = az.grant(&spec).await.unwrap();
    assert!(got.marker.is_none(), "not kv-jit's: {got:?}");
    emu.core().clock.advance(chrono::Duration::minutes(30));
    emu.core().clear_log();
    assert_eq!(
        az.revoke(&revoke_spec(&spec)).await.unwrap(),
        RevokeOutcome::AlreadyGone
    );
    let calls = schedule_request_calls(&emu.core().log());
    assert!(calls.iter().all(|c| !c.starts_with("PUT")), "{calls:?}");
    assert_eq!(
        alice_reads(&base_url).await,
        200,
        "the standing access survives"
    );
}

/// Issue 8 §3: in revoker (ARM) mode the client's revoke is a DELETE of kv-jit's own name and
/// nothing else; a 204 ("already gone") never turns into a PIM request.
#[tokio::test]
async fn revoker_mode_revoke_never_sends_a_pim_request() {
    let emu = emulator("").await;
    let base_url = emu.base_url();
    let t = target("flowlibs-demo-kv", None);
    assign_by_hand(&base_url, &t, ALICE_OID).await;
    let (clock, _) = recording_clock(None);
    let az = client_with(&base_url, &secret_env(), policy(clock));
    let spec = grant_spec(
        "2026/carol-jit",
        t.clone(),
        user(ALICE_OID),
        ExpiryMode::Revoker,
    );
    assert!(az.grant(&spec).await.unwrap().marker.is_none());
    emu.core().clock.advance(chrono::Duration::hours(3));
    emu.core().clear_log();
    assert_eq!(
        az.revoke(&revoke_spec(&spec)).await.unwrap(),
        RevokeOutcome::AlreadyGone
    );
    let log = emu.core().log();
    assert_eq!(paths(&log).len(), 1, "{:?}", paths(&log));
    assert_eq!(
        (log[0].method.as_str(), log[0].status),
        ("DELETE", Some(204))
    );
    assert!(schedule_request_calls(&log).is_empty());
    assert_eq!(alice_reads(&base_url).await, 200);
}
