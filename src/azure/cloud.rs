//! Which Azure cloud to talk to: endpoints are configuration, never constants elsewhere.

use std::net::IpAddr;

use url::Url;

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

    /// The OAuth scope for ARM tokens.
    pub fn arm_scope(&self) -> String {
        scope_of(&self.resource_manager)
    }

    /// The OAuth scope for Microsoft Graph tokens.
    pub fn graph_scope(&self) -> String {
        scope_of(&self.graph)
    }
}

/// `https://management.azure.com/` → `https://management.azure.com/.default`.
fn scope_of(url: &Url) -> String {
    format!("{}/.default", url.as_str().trim_end_matches('/'))
}

/// Joins a base URL (which may have a path, like the emulator's `/graph`) and a path that
/// starts with `/`, without `Url::join`'s habit of dropping the base's last segment.
pub(crate) fn join(base: &Url, path: &str) -> String {
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
