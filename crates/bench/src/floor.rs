//! The floor: the least any client must do for the same writes. Only the role-assignment PUTs
//! (or DELETEs), at the same scopes, the same concurrency, against the same kind of server with
//! the same latency; one token for all; pacing itself naively (a 429 waits its `Retry-After`,
//! then tries again). No approval checks, no Graph, no metadata, no ledger.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::world::{self, Spec};

#[derive(Debug, Clone, Copy, Default)]
pub struct FloorRun {
    pub wall: Duration,
    pub throttled: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Put,
    Delete,
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .build()
        .expect("an HTTP client")
}

/// An ARM token of the workflow's app from the emulator.
pub async fn arm_token(http: &reqwest::Client, base: &str) -> Result<String, String> {
    let v: serde_json::Value = http
        .post(format!("{base}/{}/oauth2/v2.0/token", world::TENANT))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", world::CLIENT_ID),
            ("client_secret", world::APP_SECRET),
            ("scope", &format!("{base}/.default")),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    v["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no token: {v}"))
}

fn url(base: &str, spec: &Spec, k: usize) -> String {
    let it = world::item(spec, k);
    let name = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, it.id.as_bytes());
    format!(
        "{base}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{}/secrets/s-{:04}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01",
        world::vault_subscription(spec, it.vault),
        world::resource_group(it.vault),
        world::vault_name(it.vault),
        it.secret
    )
}

/// Every request's PUT (or DELETE), `concurrency` at once.
pub async fn run(base: &str, spec: &Spec, op: Op, concurrency: usize) -> Result<FloorRun, String> {
    let http = client();
    let token = arm_token(&http, base).await?;
    let throttled = AtomicU64::new(0);
    let started = Instant::now();
    let results: Vec<Result<(), String>> = futures_util::stream::iter(0..spec.requests)
        .map(|k| {
            let (http, token, throttled) = (&http, &token, &throttled);
            async move {
                let it = world::item(spec, k);
                let sub = world::vault_subscription(spec, it.vault);
                let body = serde_json::json!({"properties": {
                    "roleDefinitionId": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{}", world::ROLE_ID),
                    "principalId": world::user_oid(it.requester),
                    "principalType": "User",
                    "description": format!("floor {}", it.id),
                }});
                loop {
                    let req = match op {
                        Op::Put => http.put(url(base, spec, k)).json(&body),
                        Op::Delete => http.delete(url(base, spec, k)),
                    };
                    let resp = req
                        .bearer_auth(token)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let status = resp.status().as_u16();
                    if status == 429 {
                        throttled.fetch_add(1, Ordering::Relaxed);
                        let wait = resp
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<u64>().ok())
                            .unwrap_or(1);
                        tokio::time::sleep(Duration::from_secs(wait)).await;
                        continue;
                    }
                    if !(200..300).contains(&status) && status != 404 {
                        return Err(format!("{op:?} {k}: {status} {}", resp.text().await.unwrap_or_default()));
                    }
                    return Ok(());
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let wall = started.elapsed();
    if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
        return Err(e);
    }
    Ok(FloorRun {
        wall,
        throttled: throttled.load(Ordering::Relaxed),
    })
}
