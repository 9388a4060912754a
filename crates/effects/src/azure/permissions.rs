//! What `kv-jit doctor` asks Azure, read-only: whether the credential yields a token for ARM,
//! whether the identity can read a vault and the vault uses RBAC authorization, and the
//! identity's effective permissions on the vault (`Permissions - List For Resource`,
//! `GET {vaultId}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01`). No
//! call here writes anything; judging the answers is `kv_jit_core::doctor::permissions`'s.

use reqwest::Method;
use serde::Deserialize;

use super::retry::Call;
use super::{AzureClient, AzureError, VaultRef};
use kv_jit_core::doctor::permissions::Permission;

pub const API_VERSION: &str = "2022-04-01";

/// Asks the credential for an ARM token (Entra's answer, not a cached guess).
pub async fn arm_token(az: &AzureClient) -> Result<(), AzureError> {
    az.arm_token().await.map(|_| ())
}

/// Asks the credential for a Graph token.
pub async fn graph_token(az: &AzureClient) -> Result<(), AzureError> {
    az.graph_token().await.map(|_| ())
}

/// What the vault resource says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultState {
    /// ARM answered 404: no such vault (or it is in another resource group or subscription).
    Missing,
    /// The vault, and whether `enableRbacAuthorization` is on.
    Found { rbac: bool },
}

/// `GET` the vault resource through the management plane (`Microsoft.KeyVault/vaults/{v}`).
pub async fn vault(az: &AzureClient, vault: &VaultRef) -> Result<VaultState, AzureError> {
    let what = format!("reading vault {}", vault.vault().as_str());
    let token = az.arm_token().await?;
    let mut call = Call::new(
        Method::GET,
        az.arm_url(&vault.scope(), super::keyvault::API_VERSION),
        what.clone(),
    );
    call.bearer = Some(token.secret());
    let reply = az.transport.execute(&call).await?;
    match reply.status {
        200 => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Vault {
                properties: Properties,
            }
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Properties {
                #[serde(default)]
                enable_rbac_authorization: bool,
            }
            let v: Vault = reply.json(&what)?;
            Ok(VaultState::Found {
                rbac: v.properties.enable_rbac_authorization,
            })
        }
        404 => Ok(VaultState::Missing),
        status => {
            let (code, message) = reply.error();
            Err(AzureError::Api {
                what,
                status,
                code,
                message,
            })
        }
    }
}

/// The caller's effective permissions on the vault, every page.
pub async fn on_vault(az: &AzureClient, vault: &VaultRef) -> Result<Vec<Permission>, AzureError> {
    let what = format!("listing permissions on vault {}", vault.vault().as_str());
    let first = az.arm_url(
        &format!(
            "{}/providers/Microsoft.Authorization/permissions",
            vault.scope()
        ),
        API_VERSION,
    );
    super::arm::get_pages(az, first, &what, 100).await
}
