//! Which Azure cloud to talk to: endpoints are configuration, never constants elsewhere.
//!
//! Trust: the config file lives in the repository, and anyone who can open a pull request can
//! edit it. So an endpoint the file names receives a credential only when it is a named cloud's
//! ([`Endpoints::named`]) or when the operator allows it outside the repository, in the
//! workflow's environment: [`ALLOWED_ENDPOINTS_VAR`] lists the allowed origins (and any explicit
//! token exchange audience, verbatim). [`check_allowed`] enforces it; `kv_jit_effects::azure::Credential::from_env`
//! calls it before it builds anything that could send a token, and `AzureClient::new`
//! refuses endpoints other than the ones the credential was checked for, so no path skips it.

use std::collections::HashMap;
use std::net::IpAddr;

use url::Url;

use super::AzureError;

/// The environment variable (set by the operator in the workflow, never read from the
/// repository) that allows explicit endpoints: origins (`scheme://host[:port]`) and token
/// exchange audiences, separated by commas or whitespace.
pub const ALLOWED_ENDPOINTS_VAR: &str = "KV_JIT_ALLOWED_ENDPOINTS";

/// The named clouds, in the order error messages list them.
pub const NAMED_CLOUDS: [&str; 3] = ["AzureCloud", "AzureUSGovernment", "AzureChinaCloud"];

/// The endpoints of one Azure cloud (or of the emulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Entra ID authority; tokens come from `{authority_host}/{tenant}/oauth2/v2.0/token`.
    pub authority_host: Url,
    /// Azure Resource Manager; also the token audience for ARM (`{resource_manager}/.default`).
    pub resource_manager: Url,
    /// Microsoft Graph; also its token audience (`{graph}/.default`).
    pub graph: Url,
    /// The audience GitHub's OIDC token is requested for before the Entra exchange.
    pub token_exchange_audience: String,
}

impl Endpoints {
    /// The well-known clouds, by the names `az cloud list` uses.
    pub fn named(name: &str) -> Option<Endpoints> {
        let (authority, arm, graph, audience) = match name {
            "AzureCloud" => (
                "https://login.microsoftonline.com",
                "https://management.azure.com",
                "https://graph.microsoft.com",
                "api://AzureADTokenExchange",
            ),
            "AzureUSGovernment" => (
                "https://login.microsoftonline.us",
                "https://management.usgovcloudapi.net",
                "https://graph.microsoft.us",
                "api://AzureADTokenExchangeUSGov",
            ),
            "AzureChinaCloud" => (
                "https://login.chinacloudapi.cn",
                "https://management.chinacloudapi.cn",
                "https://microsoftgraph.chinacloudapi.cn",
                "api://AzureADTokenExchangeChina",
            ),
            _ => return None,
        };
        let url = |s: &str| Url::parse(s).expect("built-in cloud URLs parse");
        Some(Endpoints {
            authority_host: url(authority),
            resource_manager: url(arm),
            graph: url(graph),
            token_exchange_audience: audience.to_owned(),
        })
    }

    /// Endpoints that all point at one server (the emulator): ARM at the root, Graph under
    /// `/graph`, so the two still have distinct token audiences.
    pub fn emulator(base: &Url) -> Endpoints {
        let root = base.as_str().trim_end_matches('/');
        let url = |s: String| Url::parse(&s).expect("emulator base URL extends cleanly");
        Endpoints {
            authority_host: url(root.to_owned()),
            resource_manager: url(root.to_owned()),
            graph: url(format!("{root}/graph")),
            token_exchange_audience: "api://AzureADTokenExchange".to_owned(),
        }
    }

    /// The named cloud these endpoints are exactly, if any.
    pub fn cloud_name(&self) -> Option<&'static str> {
        NAMED_CLOUDS
            .into_iter()
            .find(|n| Endpoints::named(n).as_ref() == Some(self))
    }

    /// The OAuth scope for ARM tokens.
    pub fn arm_scope(&self) -> String {
        scope_of(&self.resource_manager)
    }

    /// The OAuth scope for Microsoft Graph tokens.
    pub fn graph_scope(&self) -> String {
        scope_of(&self.graph)
    }
}

/// Refuses endpoints a credential must not go to, before any token request: each of
/// `authority_host`, `resource_manager` and `graph` must be exactly that endpoint of a named cloud,
/// or have its origin listed in [`ALLOWED_ENDPOINTS_VAR`]; `token_exchange_audience` must be a
/// named cloud's or listed verbatim. Every refused endpoint is named, with the variable to set.
pub fn check_allowed(
    endpoints: &Endpoints,
    env: &HashMap<String, String>,
) -> Result<(), AzureError> {
    let named: Vec<Endpoints> = NAMED_CLOUDS
        .iter()
        .filter_map(|n| Endpoints::named(n))
        .collect();
    let listed: Vec<&str> = env
        .get(ALLOWED_ENDPOINTS_VAR)
        .map(|v| {
            v.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let allowed_origins: Vec<String> = listed.iter().filter_map(|t| origin_entry(t)).collect();
    let mut refused = Vec::new();
    let mut to_list = Vec::new();
    let fields = |e: &Endpoints| {
        [
            ("authority_host", e.authority_host.clone()),
            ("resource_manager", e.resource_manager.clone()),
            ("graph", e.graph.clone()),
        ]
    };
    for (i, (field, url)) in fields(endpoints).into_iter().enumerate() {
        if named.iter().any(|n| same_url(&fields(n)[i].1, &url)) {
            continue;
        }
        let origin = url.origin().ascii_serialization();
        if !allowed_origins.contains(&origin) {
            refused.push(format!("`cloud.{field}: {url}` (origin {origin})"));
            if !to_list.contains(&origin) {
                to_list.push(origin);
            }
        }
    }
    let audience = &endpoints.token_exchange_audience;
    if !named.iter().any(|n| &n.token_exchange_audience == audience)
        && !listed.contains(&audience.as_str())
    {
        refused.push(format!("`cloud.token_exchange_audience: {audience}`"));
        to_list.push(audience.clone());
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(AzureError::EndpointNotAllowed(format!(
        "the config's cloud section names endpoints that are not allowed: {}. Credentials go only \
         to a named cloud ({}) or to endpoints the operator allows outside the repository: set \
         {ALLOWED_ENDPOINTS_VAR}=\"{}\" in the workflow's environment (not in the config), or use \
         a named cloud",
        refused.join(", "),
        NAMED_CLOUDS.join(", "),
        to_list.join(" "),
    )))
}

/// An allow-list entry as an origin: `https://host[:port]` with nothing after it (a trailing `/`
/// is fine). Anything else (an audience such as `api://…`) is not an origin.
fn origin_entry(entry: &str) -> Option<String> {
    let url = Url::parse(entry).ok()?;
    let bare = matches!(url.scheme(), "http" | "https")
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    bare.then(|| url.origin().ascii_serialization())
}

/// Equal up to a trailing `/` (which `Url` adds to a bare host).
fn same_url(a: &Url, b: &Url) -> bool {
    a.as_str().trim_end_matches('/') == b.as_str().trim_end_matches('/')
}

/// `https://management.azure.com/` → `https://management.azure.com/.default`.
fn scope_of(url: &Url) -> String {
    format!("{}/.default", url.as_str().trim_end_matches('/'))
}

/// Joins a base URL (which may have a path, like the emulator's `/graph`) and a path that
/// starts with `/`, without `Url::join`'s habit of dropping the base's last segment.
pub fn join(base: &Url, path: &str) -> String {
    format!("{}{}", base.as_str().trim_end_matches('/'), path)
}

/// Parses an explicit endpoint from config: https anywhere, plain http only on loopback
/// (the emulator and tests), because a token sent over http elsewhere is a token leaked.
pub fn parse_endpoint_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| {
        format!("`{s}` is not a URL ({e}); write it in full, e.g. https://management.azure.com")
    })?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{s}` has a query or fragment; an endpoint is a scheme, host and optional path"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "`{s}` carries credentials; remove the user:password@ part"
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(format!(
            "`{s}` uses plain http on a non-loopback host; use https (http is allowed only for \
             127.0.0.1, ::1 and localhost, i.e. the emulator)"
        )),
        other => Err(format!(
            "`{s}` uses the `{other}` scheme; endpoints must be https://"
        )),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn named_clouds() {
        let gov = Endpoints::named("AzureUSGovernment").unwrap();
        assert_eq!(
            gov.arm_scope(),
            "https://management.usgovcloudapi.net/.default"
        );
        assert_eq!(
            gov.token_exchange_audience,
            "api://AzureADTokenExchangeUSGov"
        );
        assert_eq!(
            Endpoints::named("AzureCloud").unwrap().graph_scope(),
            "https://graph.microsoft.com/.default"
        );
        assert!(Endpoints::named("AzureChinaCloud").is_some());
        assert!(Endpoints::named("azurecloud").is_none());
    }

    #[test]
    fn http_only_on_loopback() {
        assert!(parse_endpoint_url("https://management.azure.com").is_ok());
        assert!(parse_endpoint_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_endpoint_url("http://127.8.0.1").is_ok());
        assert!(parse_endpoint_url("http://[::1]:9000/graph").is_ok());
        assert!(parse_endpoint_url("http://localhost:1").is_ok());
        let err = parse_endpoint_url("http://management.azure.com").unwrap_err();
        assert!(err.contains("use https"), "{err}");
        assert!(parse_endpoint_url("http://10.0.0.1").is_err());
        assert!(parse_endpoint_url("http://localhost.evil.com").is_err());
        assert!(parse_endpoint_url("ftp://127.0.0.1").is_err());
        assert!(parse_endpoint_url("management.azure.com").is_err());
        assert!(parse_endpoint_url("https://u:p@management.azure.com").is_err());
    }

    fn env(allowed: Option<&str>) -> HashMap<String, String> {
        allowed
            .map(|v| (ALLOWED_ENDPOINTS_VAR.to_owned(), v.to_owned()))
            .into_iter()
            .collect()
    }

    #[test]
    fn named_clouds_need_no_allow_list() {
        for name in NAMED_CLOUDS {
            let e = Endpoints::named(name).unwrap();
            assert_eq!(e.cloud_name(), Some(name));
            assert!(check_allowed(&e, &env(None)).is_ok(), "{name}");
        }
        // Spelled out explicitly, a named cloud's endpoints are still that cloud's.
        let mut e = Endpoints::named("AzureCloud").unwrap();
        e.resource_manager = Url::parse("https://management.azure.com/").unwrap();
        assert!(check_allowed(&e, &env(None)).is_ok());
        // Another cloud's audience is a named default too.
        e.token_exchange_audience = "api://AzureADTokenExchangeUSGov".into();
        assert!(check_allowed(&e, &env(None)).is_ok());
    }

    #[test]
    fn explicit_endpoint_outside_the_allow_list_is_refused_and_named() {
        let mut e = Endpoints::named("AzureCloud").unwrap();
        e.authority_host = Url::parse("https://login.evil.example").unwrap();
        let err = check_allowed(&e, &env(None)).unwrap_err().to_string();
        assert!(
            err.contains("cloud.authority_host: https://login.evil.example/"),
            "{err}"
        );
        assert!(
            err.contains("KV_JIT_ALLOWED_ENDPOINTS=\"https://login.evil.example\""),
            "{err}"
        );
        assert!(!err.contains("resource_manager"), "{err}");
        // Listed elsewhere does not count; listed exactly does.
        let other = env(Some("https://login.other.example"));
        assert!(check_allowed(&e, &other).is_err());
        let ok = env(Some("https://graph.example, https://login.evil.example/"));
        assert!(check_allowed(&e, &ok).is_ok());
        // A path on a named cloud's host is not that cloud's endpoint (it changes the scope).
        let mut p = Endpoints::named("AzureCloud").unwrap();
        p.resource_manager = Url::parse("https://management.azure.com/other").unwrap();
        assert!(check_allowed(&p, &env(None)).is_err());
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let e = Endpoints::emulator(&Url::parse("http://127.0.0.1:4000").unwrap());
        assert!(check_allowed(&e, &env(Some("http://127.0.0.1:4000"))).is_ok());
        assert!(check_allowed(&e, &env(Some("http://127.0.0.1:4001"))).is_err());
        assert!(check_allowed(&e, &env(Some("https://127.0.0.1:4000"))).is_err());
        assert!(check_allowed(&e, &env(Some("http://127.0.0.1:4000/graph"))).is_err());
        assert!(check_allowed(&e, &env(Some(""))).is_err());
        let mut https = Endpoints::named("AzureCloud").unwrap();
        https.graph = Url::parse("https://graph.example:443/v").unwrap();
        assert!(check_allowed(&https, &env(Some("https://graph.example"))).is_ok());
    }

    #[test]
    fn an_explicit_audience_must_be_listed_verbatim() {
        let mut e = Endpoints::named("AzureCloud").unwrap();
        e.token_exchange_audience = "api://attacker-chosen".into();
        let err = check_allowed(&e, &env(None)).unwrap_err().to_string();
        assert!(
            err.contains("cloud.token_exchange_audience: api://attacker-chosen"),
            "{err}"
        );
        assert!(check_allowed(&e, &env(Some("api://attacker-chosen"))).is_ok());
        assert!(check_allowed(&e, &env(Some("api://attacker"))).is_err());
    }

    #[test]
    fn emulator_endpoints_have_distinct_audiences() {
        let e = Endpoints::emulator(&Url::parse("http://127.0.0.1:4000/").unwrap());
        assert_eq!(e.arm_scope(), "http://127.0.0.1:4000/.default");
        assert_eq!(e.graph_scope(), "http://127.0.0.1:4000/graph/.default");
        assert_eq!(
            join(&e.graph, "/v1.0/users"),
            "http://127.0.0.1:4000/graph/v1.0/users"
        );
    }
}
