//! Azure credentials, chosen from the environment, with tokens cached per audience.
//!
//! Why not `azure_identity`: its authority host must be https and azure_core's bearer policy
//! refuses non-https URLs, but the emulator (and every test) is plain http on loopback; it also
//! has no GitHub Actions or environment credential, so kv-jit would still write the OIDC half.
//! The client-credentials grant is five form fields, so kv-jit speaks it directly with the same
//! reqwest client and retry policy as every other Azure call, against the configured authority.
//!
//! Order: an explicitly configured credential wins and its failure is final (a misconfigured
//! workflow must not silently fall back to something else):
//! 1. GitHub Actions OIDC: `ACTIONS_ID_TOKEN_REQUEST_URL` + `ACTIONS_ID_TOKEN_REQUEST_TOKEN` +
//!    `AZURE_CLIENT_ID`; the GitHub token (audience `api://AzureADTokenExchange` or the cloud's)
//!    is exchanged as a client assertion.
//! 2. `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET`.
//! 3. `AZURE_CLIENT_ID` + `AZURE_FEDERATED_TOKEN_FILE` (workload identity).
//!
//! Otherwise the fallbacks are tried in turn and the first that works is remembered:
//! 4. managed identity (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, or IMDS when
//!    `KV_JIT_MANAGED_IDENTITY=true`: never probed unasked),
//! 5. the Azure CLI (`az account get-access-token`), for local use.
//!
//! `AZURE_TENANT_ID`, when set, must equal the config's `tenant_id`.
//!
//! Before any of this, the endpoints are checked ([`super::cloud::check_allowed`]): every source
//! ends in a bearer token sent to the configured ARM and Graph hosts (and the first three send
//! the client secret or assertion to the configured authority), so a host only the repository
//! names never gets one. Managed identity and the Azure CLI are covered by the same check: their
//! endpoints come from the machine (IDENTITY_ENDPOINT, IMDS, `az`), but the token they return is
//! for the configured resource and goes to the configured host.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use url::Url;

use super::AzureError;
use super::cloud::{Endpoints, join};
use super::retry::{Call, Transport};
use crate::clock::{Clock, SystemClock, saturating_add};
// A secret string from the environment (client secret, OIDC request token, the managed
// identity header) is the crate's one secret-string type, whose `Debug` is `***`.
use crate::token::Token as Secret;

/// A bearer token and when it expires. `Debug` never shows it.
#[derive(Clone)]
pub struct AccessToken {
    secret: Arc<str>,
    expires_at: DateTime<Utc>,
}

impl AccessToken {
    /// A token good for `lifetime` from now on the wall clock. The client stamps the tokens it
    /// fetches with its own clock ([`AccessToken::expiring_at`]).
    pub fn new(secret: &str, lifetime: Duration) -> Self {
        Self::expiring_at(secret, saturating_add(SystemClock.now(), lifetime))
    }

    pub fn expiring_at(secret: &str, expires_at: DateTime<Utc>) -> Self {
        AccessToken {
            secret: secret.into(),
            expires_at,
        }
    }

    /// The token text, for an `Authorization` header and nothing else.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    /// Still good at `now` for at least five minutes (a call plus its retries).
    fn fresh(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > saturating_add(now, Duration::from_secs(300))
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

#[derive(Debug, Clone)]
enum Source {
    GithubOidc {
        request_url: Url,
        request_token: Secret,
        client_id: String,
    },
    ClientSecret {
        client_id: String,
        secret: Secret,
    },
    FederatedTokenFile {
        client_id: String,
        path: PathBuf,
    },
    ManagedIdentity {
        /// App Service / Container Apps style endpoint and header; `None` means IMDS.
        app_service: Option<(String, Secret)>,
        client_id: Option<String>,
    },
    AzureCli {
        path_env: Option<String>,
    },
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::GithubOidc { client_id, .. } => {
                format!("GitHub Actions OIDC (client {client_id})")
            }
            Source::ClientSecret { client_id, .. } => {
                format!("client secret (AZURE_CLIENT_SECRET, client {client_id})")
            }
            Source::FederatedTokenFile { client_id, path } => format!(
                "federated token file (AZURE_FEDERATED_TOKEN_FILE={}, client {client_id})",
                path.display()
            ),
            Source::ManagedIdentity {
                app_service: Some(_),
                ..
            } => "managed identity (IDENTITY_ENDPOINT)".into(),
            Source::ManagedIdentity { .. } => "managed identity (IMDS)".into(),
            Source::AzureCli { .. } => "Azure CLI (az account get-access-token)".into(),
        }
    }
}

/// Where tokens come from, plus the per-audience cache.
pub struct Credential {
    tenant_id: String,
    /// The endpoints [`super::cloud::check_allowed`] approved; the only ones tokens go to.
    endpoints: Endpoints,
    /// An explicitly configured source; when set, it is the only one used.
    primary: Option<Source>,
    fallbacks: Vec<Source>,
    /// Why the explicit sources were not configured, for the error message.
    not_configured: Vec<String>,
    /// Index into `fallbacks` of the one that worked last.
    chosen: Mutex<Option<usize>>,
    cache: tokio::sync::Mutex<HashMap<String, AccessToken>>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("tenant_id", &self.tenant_id)
            .field("source", &self.describe())
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// Chooses the credential from `env` (pass `std::env::vars().collect()` in the binary, a
    /// literal map in tests). Fails on contradictory configuration, and with
    /// [`AzureError::EndpointNotAllowed`] when `endpoints` are neither a named cloud's nor allowed
    /// by the operator in [`super::cloud::ALLOWED_ENDPOINTS_VAR`] (nothing has been sent then).
    pub fn from_env(
        env: &HashMap<String, String>,
        tenant_id: &str,
        endpoints: &Endpoints,
    ) -> Result<Credential, AzureError> {
        super::cloud::check_allowed(endpoints, env)?;
        let get = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        if let Some(t) = get("AZURE_TENANT_ID")
            && !t.eq_ignore_ascii_case(tenant_id)
        {
            return Err(AzureError::Credential(format!(
                "AZURE_TENANT_ID is {t} but the config's tenant_id is {tenant_id}; make them agree"
            )));
        }
        let client_id = get("AZURE_CLIENT_ID").map(str::to_owned);
        let mut not_configured = Vec::new();
        let primary = match (
            &client_id,
            get("ACTIONS_ID_TOKEN_REQUEST_URL"),
            get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
            get("AZURE_CLIENT_SECRET"),
            get("AZURE_FEDERATED_TOKEN_FILE"),
        ) {
            (Some(id), Some(url), Some(token), _, _) => {
                let request_url = Url::parse(url).map_err(|e| {
                    AzureError::Credential(format!(
                        "ACTIONS_ID_TOKEN_REQUEST_URL is not a URL: {e}"
                    ))
                })?;
                Some(Source::GithubOidc {
                    request_url,
                    request_token: Secret::new(token),
                    client_id: id.clone(),
                })
            }
            (Some(id), _, _, Some(secret), _) => Some(Source::ClientSecret {
                client_id: id.clone(),
                secret: Secret::new(secret),
            }),
            (Some(id), _, _, _, Some(path)) => Some(Source::FederatedTokenFile {
                client_id: id.clone(),
                path: PathBuf::from(path),
            }),
            (None, url, token, secret, file) => {
                if url.is_some() && token.is_some() {
                    not_configured.push(
                        "GitHub Actions OIDC (the job has an id-token but AZURE_CLIENT_ID is not set)"
                            .into(),
                    );
                } else {
                    not_configured.push("GitHub Actions OIDC (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN not set; give the job `permissions: id-token: write`)".into());
                }
                if secret.is_some() || file.is_some() {
                    not_configured.push(
                        "AZURE_CLIENT_SECRET / AZURE_FEDERATED_TOKEN_FILE (AZURE_CLIENT_ID not set)"
                            .into(),
                    );
                } else {
                    not_configured.push("client secret or federated token file (AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE not set)".into());
                }
                None
            }
            (Some(_), _, _, None, None) => {
                not_configured.push("AZURE_CLIENT_ID is set but neither the GitHub OIDC variables, AZURE_CLIENT_SECRET nor AZURE_FEDERATED_TOKEN_FILE is; used as the managed identity's client id".into());
                None
            }
        };
        let app_service = match (get("IDENTITY_ENDPOINT"), get("IDENTITY_HEADER")) {
            (Some(e), Some(h)) => Some((e.to_owned(), Secret::new(h))),
            _ => None,
        };
        // The instance metadata address is probed only when asked: kv-jit must not send
        // traffic to 169.254.169.254 on machines that are not Azure VMs (laptops, CI, tests).
        let imds_opt_in =
            get("KV_JIT_MANAGED_IDENTITY").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let mut fallbacks = Vec::new();
        if app_service.is_some() || imds_opt_in {
            fallbacks.push(Source::ManagedIdentity {
                app_service,
                client_id,
            });
        } else {
            not_configured.push("managed identity (IDENTITY_ENDPOINT/IDENTITY_HEADER not set; on an Azure VM runner set KV_JIT_MANAGED_IDENTITY=true to use its metadata endpoint)".into());
        }
        fallbacks.push(Source::AzureCli {
            path_env: env.get("PATH").cloned(),
        });
        Ok(Credential {
            tenant_id: tenant_id.to_owned(),
            endpoints: endpoints.clone(),
            primary,
            fallbacks,
            not_configured,
            chosen: Mutex::new(None),
            cache: Default::default(),
        })
    }

    /// The endpoints this credential was checked for and will send tokens to.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Which source will be (or was) used, for logs and `--format json` reports.
    pub fn describe(&self) -> String {
        if let Some(p) = &self.primary {
            return p.name();
        }
        match *self.chosen.lock().expect("credential lock") {
            Some(i) => self.fallbacks[i].name(),
            None => "managed identity or Azure CLI (first that works)".into(),
        }
    }

    /// A token for `scope` (e.g. `https://management.azure.com/.default`), from the cache when
    /// it has more than five minutes left on the transport's clock.
    pub(crate) async fn token(
        &self,
        tx: &Transport,
        scope: &str,
    ) -> Result<AccessToken, AzureError> {
        // Held across the fetch so concurrent callers wait for one fetch instead of racing.
        let mut cache = self.cache.lock().await;
        if let Some(t) = cache.get(scope).filter(|t| t.fresh(tx.now())) {
            return Ok(t.clone());
        }
        let token = self.fetch(tx, scope).await?;
        cache.insert(scope.to_owned(), token.clone());
        Ok(token)
    }

    async fn fetch(&self, tx: &Transport, scope: &str) -> Result<AccessToken, AzureError> {
        if let Some(source) = &self.primary {
            return self
                .fetch_from(tx, source, scope)
                .await
                .map_err(|e| match e {
                    AzureError::Credential(m) => {
                        AzureError::Credential(format!("{}: {m}", source.name()))
                    }
                    other => other,
                });
        }
        let start = self.chosen.lock().expect("credential lock").unwrap_or(0);
        let mut tried = self.not_configured.clone();
        for i in (start..self.fallbacks.len()).chain(0..start) {
            let source = &self.fallbacks[i];
            match self.fetch_from(tx, source, scope).await {
                Ok(t) => {
                    *self.chosen.lock().expect("credential lock") = Some(i);
                    return Ok(t);
                }
                Err(e) => tried.push(format!("{}: {e}", source.name())),
            }
        }
        Err(AzureError::Credential(format!(
            "none of the credential sources worked; tried: {}. In GitHub Actions set AZURE_CLIENT_ID and grant `id-token: write`; locally run `az login`",
            tried.join("; ")
        )))
    }

    async fn fetch_from(
        &self,
        tx: &Transport,
        source: &Source,
        scope: &str,
    ) -> Result<AccessToken, AzureError> {
        match source {
            Source::GithubOidc {
                request_url,
                request_token,
                client_id,
            } => {
                let assertion = self
                    .github_assertion(tx, request_url, request_token)
                    .await?;
                self.exchange(tx, client_id, scope, Grant::Assertion(&assertion))
                    .await
            }
            Source::ClientSecret { client_id, secret } => {
                self.exchange(tx, client_id, scope, Grant::Secret(secret.secret()))
                    .await
            }
            Source::FederatedTokenFile { client_id, path } => {
                // Re-read on every exchange: the platform rotates the file.
                let assertion = tokio::fs::read_to_string(path).await.map_err(|e| {
                    AzureError::Credential(format!("cannot read {}: {e}", path.display()))
                })?;
                self.exchange(tx, client_id, scope, Grant::Assertion(assertion.trim()))
                    .await
            }
            Source::ManagedIdentity {
                app_service,
                client_id,
            } => managed_identity(tx, app_service.as_ref(), client_id.as_deref(), scope).await,
            Source::AzureCli { path_env } => {
                azure_cli(tx, path_env.as_deref(), &self.tenant_id, scope).await
            }
        }
    }

    /// GET `{ACTIONS_ID_TOKEN_REQUEST_URL}&audience=…` with the request token → `{"value": jwt}`.
    async fn github_assertion(
        &self,
        tx: &Transport,
        request_url: &Url,
        request_token: &Secret,
    ) -> Result<String, AzureError> {
        let mut url = request_url.clone();
        url.query_pairs_mut()
            .append_pair("audience", &self.endpoints.token_exchange_audience);
        let mut call = Call::new(
            Method::GET,
            url.to_string(),
            "GitHub OIDC token request".into(),
        );
        call.bearer = Some(request_token.secret());
        call.headers
            .push(("accept", "application/json; api-version=2.0".into()));
        call.token = true;
        let reply = tx.execute(&call).await?;
        if !reply.is_success() {
            return Err(AzureError::Credential(format!(
                "GitHub refused the OIDC token request (HTTP {}); does the job have `permissions: id-token: write`?",
                reply.status
            )));
        }
        #[derive(serde::Deserialize)]
        struct Value {
            value: String,
        }
        Ok(reply.json::<Value>("GitHub OIDC token request")?.value)
    }

    /// The OAuth 2.0 client-credentials grant at `{authority}/{tenant}/oauth2/v2.0/token`.
    async fn exchange(
        &self,
        tx: &Transport,
        client_id: &str,
        scope: &str,
        grant: Grant<'_>,
    ) -> Result<AccessToken, AzureError> {
        let url = join(
            &self.endpoints.authority_host,
            &format!("/{}/oauth2/v2.0/token", self.tenant_id),
        );
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", scope),
        ];
        match grant {
            Grant::Secret(s) => form.push(("client_secret", s)),
            Grant::Assertion(a) => {
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ));
                form.push(("client_assertion", a));
            }
        }
        let mut call = Call::new(Method::POST, url, "Entra token request".into());
        call.form = Some(&form);
        call.token = true;
        let reply = tx.execute(&call).await?;
        if !reply.is_success() {
            #[derive(serde::Deserialize)]
            struct EntraError {
                #[serde(default)]
                error: String,
                #[serde(default)]
                error_description: String,
            }
            let parsed = serde_json::from_slice::<EntraError>(&reply.body).ok();
            let detail = parsed
                .as_ref()
                .map(|e| format!("{}: {}", e.error, e.error_description))
                .unwrap_or_else(|| format!("HTTP {}", reply.status));
            // RFC 6749's `temporarily_unavailable`: an outage, not a refusal.
            if parsed
                .as_ref()
                .is_some_and(|e| e.error == "temporarily_unavailable")
            {
                return Err(AzureError::Unavailable {
                    what: "Entra token request".into(),
                    attempts: 1,
                    last: detail,
                });
            }
            let check = match parsed.as_ref().map(|e| e.error.as_str()) {
                Some("invalid_client" | "unauthorized_client") => {
                    "check AZURE_CLIENT_ID and its secret, or the app's federated credential (issuer, subject, audience)"
                }
                Some("invalid_request" | "invalid_scope") => {
                    "check AZURE_TENANT_ID / tenant_id and the config's cloud endpoints"
                }
                _ => "check AZURE_CLIENT_ID, AZURE_TENANT_ID and the credential",
            };
            return Err(AzureError::Credential(format!(
                "Entra at {} refused the token request for {scope}: {detail}; {check}",
                self.endpoints.authority_host
            )));
        }
        parse_token(&reply.body, tx.now())
    }
}

impl super::AzureClient {
    /// Signs in for the management plane now (the token is cached for the calls that follow):
    /// a credential that does not work is then a configuration error before any work starts,
    /// rather than one failure per item.
    pub async fn sign_in(&self) -> Result<(), AzureError> {
        self.arm_token().await.map(|_| ())
    }
}

enum Grant<'a> {
    Secret(&'a str),
    Assertion(&'a str),
}

/// `{"access_token", "expires_in"}` received at `now`; managed identity sends numbers as strings.
fn parse_token(body: &[u8], now: DateTime<Utc>) -> Result<AccessToken, AzureError> {
    #[derive(serde::Deserialize)]
    struct TokenReply {
        access_token: String,
        #[serde(default)]
        expires_in: Option<serde_json::Value>,
    }
    let t: TokenReply = serde_json::from_slice(body).map_err(|e| {
        AzureError::Credential(format!("token endpoint answered without a token: {e}"))
    })?;
    let secs = match &t.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or(600);
    Ok(AccessToken::expiring_at(
        &t.access_token,
        saturating_add(now, Duration::from_secs(secs)),
    ))
}

async fn managed_identity(
    tx: &Transport,
    app_service: Option<&(String, Secret)>,
    client_id: Option<&str>,
    scope: &str,
) -> Result<AccessToken, AzureError> {
    let resource = scope.trim_end_matches("/.default");
    let (base, version, header) = match app_service {
        Some((endpoint, h)) => (
            endpoint.as_str(),
            "2019-08-01",
            ("x-identity-header", h.secret().to_owned()),
        ),
        // IMDS is link-local plain http by platform design; it is not configurable.
        None => (
            "http://169.254.169.254/metadata/identity/oauth2/token",
            "2018-02-01",
            ("metadata", "true".to_owned()),
        ),
    };
    let mut url = Url::parse(base)
        .map_err(|e| AzureError::Credential(format!("IDENTITY_ENDPOINT is not a URL: {e}")))?;
    url.query_pairs_mut()
        .append_pair("api-version", version)
        .append_pair("resource", resource);
    if let Some(id) = client_id {
        url.query_pairs_mut().append_pair("client_id", id);
    }
    let mut call = Call::new(Method::GET, url.to_string(), "managed identity".into());
    call.headers.push(header);
    let reply = tx
        .probe(&call, Duration::from_secs(2))
        .await
        .map_err(AzureError::Credential)?;
    if !reply.is_success() {
        return Err(AzureError::Credential(format!(
            "managed identity endpoint answered HTTP {}",
            reply.status
        )));
    }
    parse_token(&reply.body, tx.now())
}

async fn azure_cli(
    tx: &Transport,
    path_env: Option<&str>,
    tenant_id: &str,
    scope: &str,
) -> Result<AccessToken, AzureError> {
    let mut cmd = tokio::process::Command::new("az");
    cmd.args([
        "account",
        "get-access-token",
        "--output",
        "json",
        "--scope",
        scope,
        "--tenant",
        tenant_id,
    ])
    // The PATH from the given environment decides where `az` is looked up (hermetic tests).
    .env("PATH", path_env.unwrap_or(""))
    .stdin(std::process::Stdio::null())
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .map_err(|_| AzureError::Credential("`az` did not answer within 60 s".into()))?
        .map_err(|e| AzureError::Credential(format!("`az` could not be run: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(AzureError::Credential(format!(
            "`az account get-access-token` failed ({}); run `az login`",
            stderr.lines().next().unwrap_or("no message").trim()
        )));
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct CliToken {
        access_token: String,
        #[serde(default, rename = "expires_on")]
        expires_on: Option<i64>,
    }
    let t: CliToken = serde_json::from_slice(&out.stdout)
        .map_err(|e| AzureError::Credential(format!("`az` printed no token: {e}")))?;
    // Older CLIs print only a local-time `expiresOn`; assume a short life rather than parse it.
    let now = tx.now();
    let lifetime = t
        .expires_on
        .map(|e| e - now.timestamp())
        .filter(|s| *s > 0)
        .map(|s| s as u64)
        .unwrap_or(600);
    Ok(AccessToken::expiring_at(
        &t.access_token,
        saturating_add(now, Duration::from_secs(lifetime)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let t = AccessToken::new("eyJ-very-secret", Duration::from_secs(60));
        assert_eq!(format!("{t:?}"), "AccessToken(***)");
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "***");
        let env: HashMap<String, String> = [
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_CLIENT_SECRET", "hunter2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let c = Credential::from_env(&env, "t", &Endpoints::named("AzureCloud").unwrap()).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn a_token_is_fresh_until_five_minutes_before_it_expires() {
        let t0: DateTime<Utc> = "2026-11-27T09:00:00Z".parse().unwrap();
        let min = chrono::Duration::minutes;
        let t = parse_token(br#"{"access_token":"x","expires_in":"600"}"#, t0).unwrap();
        assert_eq!(t.expires_at(), t0 + min(10));
        assert!(t.fresh(t0));
        assert!(t.fresh(t0 + min(5) - chrono::Duration::seconds(1)));
        assert!(!t.fresh(t0 + min(5)));
        assert!(!t.fresh(t0 + min(60)));
        // No lifetime given: ten minutes.
        let t = parse_token(br#"{"access_token":"x"}"#, t0).unwrap();
        assert_eq!(t.expires_at(), t0 + min(10));
    }

    #[test]
    fn chooses_explicit_sources_in_order() {
        let cloud = Endpoints::named("AzureCloud").unwrap();
        let env = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let oidc = env(&[
            ("AZURE_CLIENT_ID", "app"),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://x/y?a=b"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "tok"),
            ("AZURE_CLIENT_SECRET", "s"),
        ]);
        let c = Credential::from_env(&oidc, "t", &cloud).unwrap();
        assert!(c.describe().starts_with("GitHub Actions OIDC"));
        let file = env(&[
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
        ]);
        let c = Credential::from_env(&file, "t", &cloud).unwrap();
        assert!(c.describe().starts_with("federated token file"));
        let none = env(&[]);
        let c = Credential::from_env(&none, "t", &cloud).unwrap();
        assert!(c.describe().contains("Azure CLI"));
        let wrong_tenant = env(&[("AZURE_TENANT_ID", "other")]);
        assert!(Credential::from_env(&wrong_tenant, "t", &cloud).is_err());
    }
}
