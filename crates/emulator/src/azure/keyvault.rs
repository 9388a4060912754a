//! The Key Vault management plane (ARM): a vault, and a secret's metadata. Like the real
//! service, the secret resource never carries the value (that is the data plane's, in
//! [`super::data_plane`], which also owns the shape of the data-plane URIs a vault and a secret
//! name here); this is what kv-jit checks a secret's existence with.

use axum::Json;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::arm::{api_version_error, method_not_allowed, not_found};
use super::{AzureState, Token, arm_error, data_plane};

/// `GET /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{v}[/secrets/{n}]`
/// (`path`), after ARM authenticated the caller.
pub(super) fn get(
    st: &AzureState,
    token: &Token,
    method: &Method,
    path: &str,
    api: &str,
) -> Response {
    if *method != Method::GET {
        return method_not_allowed();
    }
    const KV_API: &[&str] = &["2023-07-01", "2024-11-01"];
    if !KV_API.contains(&api) {
        return api_version_error(api, KV_API);
    }
    let info = match st.resolve_scope(path) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if !token.tenant.eq_ignore_ascii_case(&info.tenant) {
        return arm_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationTokenTenant",
            "The access token is from the wrong issuer.",
        );
    }
    let Some(vi) = info.vault else {
        return not_found(path);
    };
    let v = &st.vaults[vi];
    let vault_id = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{}",
        v.subscription_id, v.resource_group, v.name
    );
    let vault_uri = data_plane::vault_uri(&st.base, &v.name);
    match info.secret {
        None => Json(json!({
            "id": vault_id,
            "name": v.name,
            "type": "Microsoft.KeyVault/vaults",
            "location": v.location,
            "tags": {},
            "properties": {
                "tenantId": v.tenant,
                "sku": {"family": "A", "name": "standard"},
                "enableRbacAuthorization": v.rbac,
                "vaultUri": vault_uri,
                "publicNetworkAccess": "Enabled",
                "provisioningState": "Succeeded",
            }
        }))
        .into_response(),
        Some(name) => {
            // The management-plane secret model has a `value`, but the service never returns it.
            Json(json!({
                "id": format!("{vault_id}/secrets/{name}"),
                "name": name,
                "type": "Microsoft.KeyVault/vaults/secrets",
                "location": v.location,
                "properties": {
                    "attributes": {"enabled": true, "created": 1_700_000_000, "updated": 1_700_000_000},
                    "secretUri": data_plane::secret_uri(&st.base, &v.name, &name, None),
                    "secretUriWithVersion": data_plane::secret_uri(&st.base, &v.name, &name, Some(data_plane::VERSION)),
                }
            }))
            .into_response()
        }
    }
}
