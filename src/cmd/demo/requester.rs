//! The demo's requester: Alice reading the secret with her own identity, as she would with
//! `az keyvault secret show`. kv-jit never does this (no secret value passes through it); the
//! demo plays the person who was granted access, against its own in-process emulator on
//! 127.0.0.1 only. This is the one file outside the emulator's data-plane module that builds a
//! Key Vault data-plane URL, and `tests/architecture.rs` names it as that one exception.

/// What the read answered: the status, and for a 200 only the value's length (never the value).
pub struct Read {
    pub status: u16,
    pub value_chars: Option<usize>,
    /// Key Vault's error code when it refused (`Forbidden`), and its inner code.
    pub error: Option<String>,
}

/// Signs in as `upn` (Entra's password grant, for the Key Vault audience) on the emulator at
/// `base`, then GETs the secret on the emulator's data plane.
pub async fn read_secret(
    http: &reqwest::Client,
    base: &str,
    tenant: &str,
    upn: &str,
    password: &str,
    vault: &str,
    secret: &str,
) -> Result<Read, String> {
    if !base.starts_with("http://127.0.0.1:") {
        return Err(format!(
            "the demo's requester reads only from its own emulator, not {base}"
        ));
    }
    let token: serde_json::Value = http
        .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
            ("username", upn),
            ("password", password),
            ("scope", "https://vault.azure.net/.default"),
        ])
        .send()
        .await
        .map_err(|e| format!("token request: {e}"))?
        .json()
        .await
        .map_err(|e| format!("token answer: {e}"))?;
    let access = token["access_token"]
        .as_str()
        .ok_or_else(|| format!("Entra gave no token: {token}"))?;
    let response = http
        .get(format!(
            "{base}/kv/{vault}/secrets/{secret}?api-version=7.4"
        ))
        .bearer_auth(access)
        .send()
        .await
        .map_err(|e| format!("secret read: {e}"))?;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let value_chars = body["value"].as_str().map(|v| v.chars().count());
    let error =
        body["error"]["code"].as_str().map(|code| {
            match body["error"]["innererror"]["code"].as_str() {
                Some(inner) => format!("{code} ({inner})"),
                None => code.to_owned(),
            }
        });
    Ok(Read {
        status,
        value_chars,
        error,
    })
}
