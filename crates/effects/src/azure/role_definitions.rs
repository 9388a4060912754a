//! `GET {scope}/providers/Microsoft.Authorization/roleDefinitions/{id}?api-version=2022-04-01`:
//! a role's definition, read for its data actions (`audit check-azure` judges what a role may do
//! with Key Vault data from them, so custom roles count too). Read-only.

use reqwest::Method;
use serde::Deserialize;

use super::retry::Call;
use super::{AzureClient, AzureError};

pub const API_VERSION: &str = "2022-04-01";

/// What `audit check-azure` needs of a role definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinition {
    pub id: String,
    pub name: String,
    pub data_actions: Vec<String>,
    pub not_data_actions: Vec<String>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    name: String,
    properties: RawProperties,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProperties {
    #[serde(default)]
    role_name: String,
    #[serde(default)]
    permissions: Vec<RawPermission>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPermission {
    #[serde(default)]
    data_actions: Vec<String>,
    #[serde(default)]
    not_data_actions: Vec<String>,
}

/// The definition of `role` (a GUID, checked) as seen at `scope`; `None` when Azure has none.
pub async fn get(
    az: &AzureClient,
    scope: &str,
    role: &str,
) -> Result<Option<RoleDefinition>, AzureError> {
    let what = format!("reading role definition {role}");
    let role = uuid::Uuid::parse_str(role).map_err(|_| AzureError::Invalid {
        what: what.clone(),
        detail: format!("role definition id `{role}` is not a GUID"),
    })?;
    let url = az.arm_url(
        &format!("{scope}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
        API_VERSION,
    );
    let token = az.arm_token().await?;
    let mut call = Call::new(Method::GET, url, what.clone());
    call.bearer = Some(token.secret());
    let reply = az.transport.execute(&call).await?;
    match reply.status {
        200 => {
            let raw: Raw = reply.json(&what)?;
            let (mut data, mut not_data) = (Vec::new(), Vec::new());
            for p in raw.properties.permissions {
                data.extend(p.data_actions);
                not_data.extend(p.not_data_actions);
            }
            Ok(Some(RoleDefinition {
                id: if raw.name.is_empty() {
                    role.to_string()
                } else {
                    raw.name
                },
                name: raw.properties.role_name,
                data_actions: data,
                not_data_actions: not_data,
            }))
        }
        404 => Ok(None),
        _ => {
            let (code, message) = reply.error();
            Err(AzureError::Api {
                what,
                status: reply.status,
                code,
                message,
            })
        }
    }
}
