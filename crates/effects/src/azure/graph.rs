//! Microsoft Graph: a user principal name to its Entra object id, cached for the run.

use reqwest::Method;
use serde::Deserialize;

use super::cloud::join;
use super::retry::Call;
use super::{AzureClient, AzureError, Principal, PrincipalType};

pub(crate) async fn resolve_user(az: &AzureClient, upn: &str) -> Result<Principal, AzureError> {
    let key = upn.to_ascii_lowercase();
    // One request per user for the run: concurrent lookups of one UPN wait for the same answer,
    // lookups of different UPNs run in parallel (no lock is held across the request).
    az.users.get_or_try(&key, || lookup(az, upn)).await
}

async fn lookup(az: &AzureClient, upn: &str) -> Result<Principal, AzureError> {
    let what = format!("looking up user {upn} in Microsoft Graph");
    // The UPN is one path segment, percent-encoded (a B2B UPN carries `#`).
    let mut url = url::Url::parse(&join(&az.endpoints.graph, "/v1.0/users")).map_err(|e| {
        AzureError::Invalid {
            what: what.clone(),
            detail: e.to_string(),
        }
    })?;
    url.path_segments_mut()
        .map_err(|_| AzureError::Invalid {
            what: what.clone(),
            detail: "graph endpoint cannot take a path".into(),
        })?
        .push(upn);
    url.query_pairs_mut().append_pair("$select", "id");
    let token = az.graph_token().await?;
    let mut call = Call::new(Method::GET, url.to_string(), what.clone());
    call.bearer = Some(token.secret());
    let reply = az.transport.execute(&call).await?;
    match reply.status {
        200 => {
            #[derive(Deserialize)]
            struct User {
                id: String,
            }
            let user: User = reply.json(&what)?;
            let object_id =
                uuid::Uuid::parse_str(&user.id).map_err(|e| AzureError::BadResponse {
                    what: what.clone(),
                    detail: format!("user id `{}` is not a GUID: {e}", user.id),
                })?;
            let p = Principal {
                object_id,
                kind: PrincipalType::User,
            };
            Ok(p)
        }
        404 => Err(AzureError::UserNotFound {
            upn: upn.to_owned(),
            tenant: az.tenant_id.clone(),
        }),
        403 => {
            let (code, message) = reply.error();
            Err(AzureError::Api {
                what,
                status: 403,
                code,
                message: format!(
                    "{message} (the workflow identity needs the Microsoft Graph application permission User.Read.All)"
                ),
            })
        }
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
