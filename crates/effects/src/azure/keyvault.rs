//! Key Vault through the management plane only: the vault resource (is RBAC authorization on?)
//! and the secret resource (does it exist?). ARM's secret resource never carries the value, and
//! this module builds no Key Vault data-plane URL at all.

use reqwest::Method;
use serde::Deserialize;

use super::retry::Call;
use super::{AzureClient, AzureError, SecretStatus, VaultRef};
use kv_jit_core::names::SecretName;

pub const API_VERSION: &str = "2024-11-01";

pub(crate) async fn check_secret(
    az: &AzureClient,
    vault: &VaultRef,
    secret: &SecretName,
) -> Result<SecretStatus, AzureError> {
    let what = format!("reading vault {}", vault.vault().as_str());
    let Some(body) = get(az, vault, &vault.scope(), &what).await? else {
        return Ok(SecretStatus::VaultMissing);
    };
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Vault {
        properties: VaultProperties,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct VaultProperties {
        #[serde(default)]
        enable_rbac_authorization: bool,
    }
    let v: Vault = serde_json::from_value(body).map_err(|e| AzureError::BadResponse {
        what: what.clone(),
        detail: e.to_string(),
    })?;
    if !v.properties.enable_rbac_authorization {
        return Ok(SecretStatus::VaultNotRbac);
    }
    let what = format!(
        "reading secret metadata {} in vault {}",
        secret.as_str(),
        vault.vault().as_str()
    );
    Ok(
        match get(az, vault, &vault.secret_scope(secret), &what).await? {
            Some(_) => SecretStatus::Exists,
            None => SecretStatus::SecretMissing,
        },
    )
}

/// GET an ARM resource: `Some(body)` on 200, `None` on 404.
async fn get(
    az: &AzureClient,
    vault: &VaultRef,
    resource_id: &str,
    what: &str,
) -> Result<Option<serde_json::Value>, AzureError> {
    let token = az.arm_token().await?;
    let mut call = Call::new(
        Method::GET,
        az.arm_url(resource_id, API_VERSION),
        what.to_owned(),
    );
    call.bearer = Some(token.secret());
    let reply = az.transport.execute(&call).await?;
    match reply.status {
        200 => reply.json(what).map(Some),
        404 => Ok(None),
        _ => {
            let (code, message) = reply.error();
            let target = super::Target {
                vault: vault.clone(),
                secret: None,
            };
            Err(super::arm::map_error(
                &reply,
                what.to_owned(),
                &target,
                code,
                message,
            ))
        }
    }
}
