//! `kv-jit validate` without `--offline`: the management-plane existence check against the
//! Azure emulator, located on the request's lines, and never a data-plane read.

mod support;

use support::{NOW, kv_jit};

const TENANT: &str = "11111111-1111-1111-1111-111111111111";
const SUB: &str = "22222222-2222-2222-2222-222222222222";

fn seed() -> String {
    format!(
        r#"
tenants:
  - id: {TENANT}
    apps:
      - {{ client_id: 33333333-3333-3333-3333-333333333333, object_id: 44444444-4444-4444-4444-444444444444, secret: app-secret }}
vaults:
  - {{ name: flowlibs-demo-kv, tenant: {TENANT}, subscription_id: {SUB}, resource_group: rg, secrets: {{ demo-api-key: v1 }} }}
  - {{ name: legacy-kv, tenant: {TENANT}, subscription_id: {SUB}, resource_group: rg, rbac: false, secrets: {{ old: v }} }}
"#
    )
}

fn config(url: &str) -> String {
    format!(
        "tenant_id: {TENANT}\ncloud:\n  authority_host: {url}\n  resource_manager: {url}\n  graph: {url}/graph\nvaults:\n  flowlibs-demo-kv:\n    subscription_id: {SUB}\n    resource_group: rg\n    secrets: [demo-api-key, demo-storage-key]\n    max_duration: 4h\n  legacy-kv:\n    subscription_id: {SUB}\n    resource_group: rg\n    secrets: [old]\n    max_duration: 1h\n  gone-kv:\n    subscription_id: {SUB}\n    resource_group: rg\n    secrets: [x]\n    max_duration: 1h\n"
    )
}

fn request(vault: &str, secret: &str) -> String {
    format!(
        "apiVersion: kv-jit/v1\nkind: AccessRequest\nrequester: alice@contoso.com\nvault: {vault}\nsecret: {secret}\nduration: 1h\njustification: Rotate the partner API client after INC-4821\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_secrets_and_non_rbac_vaults_are_flagged_on_their_lines() {
    let emu = kv_jit_emulator::spawn_at(
        kv_jit_emulator::Seed::from_yaml(&seed()).unwrap(),
        support::t0(),
    )
    .await
    .unwrap();
    let url = emu.base_url().trim_end_matches('/').to_owned();
    let tmp = tempfile::tempdir().unwrap();
    let w = |rel: &str, text: &str| {
        let p = tmp.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w(".github/kv-jit.yml", &config(&url));
    w(
        "requests/ok.yaml",
        &request("flowlibs-demo-kv", "demo-api-key"),
    );
    w(
        "requests/ok-twice.yaml",
        &request("flowlibs-demo-kv", "demo-api-key"),
    );
    w(
        "requests/missing.yaml",
        &request("flowlibs-demo-kv", "demo-storage-key"),
    );
    w("requests/legacy.yaml", &request("legacy-kv", "old"));
    w("requests/gone.yaml", &request("gone-kv", "x"));
    let dir = tmp.path().to_owned();
    let run = tokio::task::spawn_blocking(move || {
        kv_jit(
            &dir,
            &["validate", "--now", NOW],
            &[
                ("AZURE_CLIENT_ID", "33333333-3333-3333-3333-333333333333"),
                ("AZURE_TENANT_ID", TENANT),
                ("AZURE_CLIENT_SECRET", "app-secret"),
                ("KV_JIT_ALLOWED_ENDPOINTS", &url),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains(": error["))
        .collect();
    assert_eq!(
        errors,
        [
            "requests/gone.yaml:4:8: error[azure-check-failed]: vault `gone-kv` was not found in subscription 22222222-2222-2222-2222-222222222222 resource group rg",
            "requests/legacy.yaml:4:8: error[vault-not-rbac]: vault `legacy-kv` uses access policies, not Azure RBAC, so a role assignment would grant nothing",
            "requests/missing.yaml:5:9: error[secret-not-found]: vault `flowlibs-demo-kv` has no secret `demo-storage-key`",
        ]
    );
    let log = emu.core().log();
    // Management plane only: every secret lookup goes through ARM's provider path.
    assert!(
        log.iter()
            .all(|e| !e.path.contains("/secrets/")
                || e.path.contains("/providers/Microsoft.KeyVault/")),
        "{log:?}"
    );
    // One lookup per distinct (vault, secret): ok.yaml and ok-twice.yaml share one.
    let lookups = log
        .iter()
        .filter(|e| e.path.ends_with("/secrets/demo-api-key"))
        .count();
    assert_eq!(lookups, 1, "{log:?}");
}

/// Issue 8 §2: a pull request that moves `cloud.authority_host` in the checkout's config to a host
/// the operator did not list in KV_JIT_ALLOWED_ENDPOINTS gets nothing sent there (no client
/// secret, no assertion): the run stops before any token request, as a configuration error that
/// names the endpoint and the variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlisted_authority_host_gets_no_request_and_a_usage_error() {
    let emu = kv_jit_emulator::spawn_at(
        kv_jit_emulator::Seed::from_yaml(&seed()).unwrap(),
        support::t0(),
    )
    .await
    .unwrap();
    let url = emu.base_url().trim_end_matches('/').to_owned();
    let evil = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    evil.set_nonblocking(true).unwrap();
    let evil_url = format!("http://{}", evil.local_addr().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let w = |rel: &str, text: &str| {
        let p = tmp.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    let cfg = config(&url).replacen(
        &format!("authority_host: {url}"),
        &format!("authority_host: {evil_url}"),
        1,
    );
    assert!(cfg.contains(&evil_url));
    w(".github/kv-jit.yml", &cfg);
    w(
        "requests/ok.yaml",
        &request("flowlibs-demo-kv", "demo-api-key"),
    );
    let dir = tmp.path().to_owned();
    let allowed = url.clone();
    let run = tokio::task::spawn_blocking(move || {
        kv_jit(
            &dir,
            &["validate", "--now", NOW],
            &[
                ("AZURE_CLIENT_ID", "33333333-3333-3333-3333-333333333333"),
                ("AZURE_TENANT_ID", TENANT),
                ("AZURE_CLIENT_SECRET", "app-secret"),
                ("KV_JIT_ALLOWED_ENDPOINTS", &allowed),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains(&format!("cloud.authority_host: {evil_url}/")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("KV_JIT_ALLOWED_ENDPOINTS=\"{evil_url}\"")),
        "{}",
        run.stderr
    );
    assert!(
        matches!(evil.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the unlisted host was contacted"
    );
    assert!(emu.core().log().is_empty(), "{:?}", emu.core().log());
}
