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
    // Read once per run: the vault per vault, the secret per secret (metadata only).
    let rbac = az
        .vaults
        .get_or_try(&vault.scope().to_ascii_lowercase(), || {
            vault_rbac(az, vault)
        })
        .await?;
    match rbac {
        None => return Ok(SecretStatus::VaultMissing),
        Some(false) => return Ok(SecretStatus::VaultNotRbac),
        Some(true) => {}
    }
    let scope = vault.secret_scope(secret);
    let exists = az
        .secrets
        .get_or_try(&scope.to_ascii_lowercase(), || async {
            let what = format!(
                "reading secret metadata {} in vault {}",
                secret.as_str(),
                vault.vault().as_str()
            );
            Ok::<_, AzureError>(get(az, vault, &scope, &what).await?.is_some())
        })
        .await?;
    Ok(if exists {
        SecretStatus::Exists
    } else {
        SecretStatus::SecretMissing
    })
}

/// Whether the vault uses RBAC authorization; `None` when it does not exist.
async fn vault_rbac(az: &AzureClient, vault: &VaultRef) -> Result<Option<bool>, AzureError> {
    let what = format!("reading vault {}", vault.vault().as_str());
    let Some(body) = get(az, vault, &vault.scope(), &what).await? else {
        return Ok(None);
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
    Ok(Some(v.properties.enable_rbac_authorization))
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
