//! Shared fixtures for the Azure tests: a seed, a client wired to the emulator, a virtual clock
//! that records waits (and moves the emulator's clock) instead of sleeping.
#![allow(dead_code)]

#[path = "time.rs"]
pub mod time;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kv_jit_core::names::{SecretName, VaultName};
use kv_jit_effects::azure::cloud::ALLOWED_ENDPOINTS_VAR;
use kv_jit_effects::azure::retry::RetryPolicy;
use kv_jit_effects::azure::{
    AzureClient, Credential, Endpoints, ExpiryMode, GrantSpec, Principal, PrincipalType,
    RevokeSpec, Target, VaultRef,
};
use kv_jit_effects::clock::{Clock, ManualClock, Sleep};
use kv_jit_emulator::{EmulatorHandle, Seed};

pub const TENANT: &str = "11111111-1111-1111-1111-111111111111";
pub const SUB: &str = "22222222-2222-2222-2222-222222222222";
pub const RG: &str = "rg-flowlibs-demo";
pub const CLIENT_ID: &str = "33333333-3333-3333-3333-333333333333";
pub const APP_OID: &str = "44444444-4444-4444-4444-444444444444";
pub const ALICE_OID: &str = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
pub const SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";
pub const SUBJECT: &str = "repo:contoso/access:ref:refs/heads/main";

pub fn seed_yaml(limits: &str) -> String {
    format!(
        r#"
tenants:
  - id: {TENANT}
    apps:
      - client_id: {CLIENT_ID}
        object_id: {APP_OID}
        name: kv-jit-workflow
        secret: app-secret
        federated_subjects: ["{SUBJECT}"]
      - client_id: 55555555-5555-5555-5555-555555555555
        object_id: 66666666-6666-6666-6666-666666666666
        federated_subjects: ["repo:contoso/other:ref:refs/heads/main"]
    users:
      - {{ upn: alice@contoso.com, id: {ALICE_OID}, password: alice-pw }}
      - {{ upn: bob@contoso.com, id: bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb }}
      - {{ upn: carol@contoso.com, id: cccccccc-cccc-cccc-cccc-cccccccccccc }}
      - {{ upn: dave@contoso.com, id: dddddddd-dddd-dddd-dddd-dddddddddddd }}
      - {{ upn: erin@contoso.com, id: eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee }}
vaults:
  - name: flowlibs-demo-kv
    tenant: {TENANT}
    subscription_id: {SUB}
    resource_group: {RG}
    secrets:
      demo-api-key: s3cr3t-value
      demo-connection-string: Server=db;Password=pw
  - name: legacy-kv
    tenant: {TENANT}
    subscription_id: {SUB}
    resource_group: {RG}
    rbac: false
    secrets: {{ old: value }}
  - name: locked-kv
    tenant: {TENANT}
    subscription_id: {SUB}
    resource_group: {RG}
    admins: [99999999-9999-9999-9999-999999999999]
    secrets: {{ demo-api-key: v }}
actions_oidc:
  request_token: gh-request-token
  subject: {SUBJECT}
{limits}
"#
    )
}

pub async fn emulator(limits: &str) -> EmulatorHandle {
    let seed = Seed::from_yaml(&seed_yaml(limits)).expect("test seed parses");
    kv_jit_emulator::spawn_at(seed, time::t0())
        .await
        .expect("emulator starts")
}

/// The client's clock in these tests: virtual, standing at [`time::t0`] (or, when given, the
/// emulator's clock, so both sides agree on "now"). Every wait is recorded and moves that clock
/// forward at once, so token buckets refill, PIM schedules advance, tokens age and call budgets
/// run out exactly as if the time had passed.
struct RecordingClock {
    own: ManualClock,
    emulator: Option<Arc<kv_jit_emulator::Clock>>,
    waits: Arc<Mutex<Vec<Duration>>>,
}

impl Clock for RecordingClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        match &self.emulator {
            Some(c) => c.now(),
            None => self.own.now(),
        }
    }

    fn sleep(&self, d: Duration) -> Sleep {
        self.waits.lock().unwrap().push(d);
        match &self.emulator {
            Some(c) => c.advance(chrono::Duration::from_std(d).unwrap()),
            None => self.own.advance(d),
        }
        Box::pin(std::future::ready(()))
    }
}

/// A [`RecordingClock`] and its log of waits.
pub fn recording_clock(
    emulator: Option<Arc<kv_jit_emulator::Clock>>,
) -> (Arc<dyn Clock>, Arc<Mutex<Vec<Duration>>>) {
    let waits = Arc::new(Mutex::new(Vec::new()));
    let clock = RecordingClock {
        own: ManualClock::new(time::t0()),
        emulator,
        waits: waits.clone(),
    };
    (Arc::new(clock), waits)
}

pub fn policy(clock: Arc<dyn Clock>) -> RetryPolicy {
    RetryPolicy {
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        ..RetryPolicy::default()
    }
    .with_clock(clock)
}

pub fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn secret_env() -> HashMap<String, String> {
    env(&[
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_CLIENT_SECRET", "app-secret"),
    ])
}

/// A client of `env`'s identity against the server at `base`, which the operator's allow-list
/// ([`ALLOWED_ENDPOINTS_VAR`]) names, as a workflow pointed at the emulator would.
pub fn client_with(base: &str, env: &HashMap<String, String>, policy: RetryPolicy) -> AzureClient {
    let endpoints = Endpoints::emulator(&url::Url::parse(base).unwrap());
    let env = allowing(base, env);
    let credential = Credential::from_env(&env, TENANT, &endpoints).expect("credential");
    AzureClient::new(TENANT, endpoints, credential, policy).expect("client")
}

/// `env` plus [`ALLOWED_ENDPOINTS_VAR`] naming `base`'s origin (the emulator or a mock server).
pub fn allowing(base: &str, env: &HashMap<String, String>) -> HashMap<String, String> {
    let mut env = env.clone();
    let origin = url::Url::parse(base)
        .unwrap()
        .origin()
        .ascii_serialization();
    env.entry(ALLOWED_ENDPOINTS_VAR.to_owned())
        .or_insert(origin);
    env
}

pub fn vault(name: &str) -> VaultRef {
    VaultRef::new(SUB, RG, VaultName::parse(name).unwrap()).unwrap()
}

pub fn target(vault_name: &str, secret: Option<&str>) -> Target {
    Target {
        vault: vault(vault_name),
        secret: secret.map(|s| SecretName::parse(s).unwrap()),
    }
}

pub fn user(oid: &str) -> Principal {
    Principal {
        object_id: oid.parse().unwrap(),
        kind: PrincipalType::User,
    }
}

pub fn grant_spec(
    request_id: &str,
    target: Target,
    principal: Principal,
    mode: ExpiryMode,
) -> GrantSpec {
    let now = time::t0();
    GrantSpec {
        request_id: request_id.into(),
        target,
        role: SECRETS_USER.parse().unwrap(),
        principal,
        starts_at: now,
        expires_at: now + chrono::Duration::hours(2),
        mode,
        justification: Some("INC-4821".into()),
    }
}

pub fn revoke_spec(g: &GrantSpec) -> RevokeSpec {
    RevokeSpec {
        name: None,
        request_id: g.request_id.clone(),
        target: g.target.clone(),
        role: g.role,
        principal: g.principal,
        mode: g.mode,
    }
}

/// A plain HTTP client for the test's own calls (the demo requester, control endpoints).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Reads a secret value through the emulated data plane as a user (password grant), the way
/// the requester would: returns the status and the error code or value.
pub async fn read_as(
    base: &str,
    upn: &str,
    password: &str,
    vault: &str,
    secret: &str,
) -> (u16, String) {
    let http = http();
    let tok: serde_json::Value = http
        .post(format!("{base}/{TENANT}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", upn),
            ("password", password),
            ("scope", "https://vault.azure.net/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tok["access_token"].as_str().unwrap();
    let resp = http
        .get(format!(
            "{base}/kv/{vault}/secrets/{secret}?api-version=7.4"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    let text = if status == 200 {
        body["value"].as_str().unwrap_or_default().to_owned()
    } else {
        body["error"]["innererror"]["code"]
            .as_str()
            .or(body["error"]["code"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    (status, text)
}
