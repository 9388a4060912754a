//! Azure effects: credentials, ARM role assignments (plain and PIM), Key Vault metadata through
//! the management plane, and Microsoft Graph user lookup.
//!
//! The engine sees only its [`Azure`] port; [`AzureClient`] implements it over HTTP with one
//! retry policy ([`retry`]). The values it speaks are `kv_jit_core::azure`'s, re-exported here.
//! Nothing here reads a secret value: existence is checked through ARM's
//! `vaults/{v}/secrets/{s}` resource, which never carries the value, and no code builds a Key
//! Vault data-plane URL.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kv_jit_effects::azure::AzureError> {
//! use std::collections::HashMap;
//! use kv_jit_effects::azure::{AzureClient, Credential, cloud::Endpoints, retry::RetryPolicy};
//!
//! let env: HashMap<String, String> = std::env::vars().collect();
//! let tenant = "00000000-0000-0000-0000-000000000000";
//! let endpoints = Endpoints::named("AzureCloud").unwrap();
//! let credential = Credential::from_env(&env, tenant, &endpoints)?;
//! let client = AzureClient::new(tenant, endpoints, credential, RetryPolicy::default())?;
//! # let _ = client; Ok(()) }
//! ```

pub mod activity_log;
pub mod arm;
pub mod credential;
pub mod graph;
pub mod keyvault;
pub mod permissions;
pub mod pim;
pub mod retry;
pub mod role_definitions;

pub use credential::{AccessToken, Credential};
pub use kv_jit_core::azure::*;
pub use kv_jit_engine::ports::Azure;
pub use retry::RetryPolicy;

use kv_jit_core::names::SecretName;

/// [`Azure`] over HTTP: ARM, Graph, and the token endpoints of one tenant and cloud.
pub struct AzureClient {
    tenant_id: String,
    endpoints: Endpoints,
    credential: Credential,
    transport: retry::Transport,
    /// Graph lookups by lowercase UPN, for the run: one request per user, concurrent lookups of
    /// one user share it, different users go in parallel.
    users: crate::memo::Memo<String, Principal>,
    /// Key Vault metadata for the run: the vault's RBAC answer per vault scope, and whether a
    /// secret exists per secret scope (each read once, however many requests name it).
    vaults: crate::memo::Memo<String, Option<bool>>,
    secrets: crate::memo::Memo<String, bool>,
}

impl AzureClient {
    /// Refuses (with [`AzureError::EndpointNotAllowed`]) endpoints other than those `credential`
    /// was checked for: tokens go only where [`cloud::check_allowed`] said they may.
    pub fn new(
        tenant_id: &str,
        endpoints: Endpoints,
        credential: Credential,
        policy: RetryPolicy,
    ) -> Result<Self, AzureError> {
        if &endpoints != credential.endpoints() {
            return Err(AzureError::EndpointNotAllowed(format!(
                "the Azure client was given endpoints ({}, {}) other than those its credential was checked for ({}, {}); build both from the same config",
                endpoints.resource_manager,
                endpoints.graph,
                credential.endpoints().resource_manager,
                credential.endpoints().graph,
            )));
        }
        Ok(AzureClient {
            tenant_id: tenant_id.to_owned(),
            endpoints,
            credential,
            transport: retry::Transport::new(policy)?,
            users: Default::default(),
            vaults: Default::default(),
            secrets: Default::default(),
        })
    }

    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    pub(crate) async fn arm_token(&self) -> Result<AccessToken, AzureError> {
        self.credential
            .token(&self.transport, &self.endpoints.arm_scope())
            .await
    }

    pub(crate) async fn graph_token(&self) -> Result<AccessToken, AzureError> {
        self.credential
            .token(&self.transport, &self.endpoints.graph_scope())
            .await
    }

    pub(crate) fn arm_url(&self, path: &str, api_version: &str) -> String {
        format!(
            "{}?api-version={api_version}",
            cloud::join(&self.endpoints.resource_manager, path)
        )
    }
}

impl Azure for AzureClient {
    async fn check_secret(
        &self,
        vault: &VaultRef,
        secret: &SecretName,
    ) -> Result<SecretStatus, AzureError> {
        keyvault::check_secret(self, vault, secret).await
    }

    async fn resolve_principal(&self, upn: &str) -> Result<Principal, AzureError> {
        graph::resolve_user(self, upn).await
    }

    async fn grant(&self, spec: &GrantSpec) -> Result<Assignment, AzureError> {
        match spec.mode {
            ExpiryMode::Revoker => arm::grant(self, spec).await,
            ExpiryMode::Pim => pim::grant(self, spec).await,
        }
    }

    async fn revoke(&self, spec: &RevokeSpec) -> Result<RevokeOutcome, AzureError> {
        match spec.mode {
            ExpiryMode::Revoker => arm::revoke(self, spec).await,
            ExpiryMode::Pim => pim::revoke(self, spec).await,
        }
    }

    async fn list_managed(&self, target: &Target) -> Result<Vec<Assignment>, AzureError> {
        let all = arm::list_at_scope(self, &target.scope(), None).await?;
        Ok(all.into_iter().filter(|a| a.marker.is_some()).collect())
    }

    async fn list_managed_in_vault(&self, vault: &VaultRef) -> Result<Vec<Assignment>, AzureError> {
        let all = arm::list_within_scope(self, &vault.scope()).await?;
        Ok(all.into_iter().filter(|a| a.marker.is_some()).collect())
    }
}
