//! Azure's Activity Log (`Activity Logs - List`, `api-version=2015-04-01`), read-only:
//! `GET /subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values` with
//! `$filter=eventTimestamp ge '…' and eventTimestamp le '…' and resourceGroupName eq '…'` and
//! `$select`, following `nextLink` (on ARM only) with the ARM pager and retry policy. See
//! `docs/activity-log.md` for the contract, its sources and the permission it needs.
//!
//! The events come back as raw JSON values; what they mean is decided in
//! `kv_jit_core::audit::azure` (pure).

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;

use super::arm::get_pages;
use super::{AzureClient, AzureError, VaultRef};

pub const API_VERSION: &str = "2015-04-01";

/// The Activity Log keeps 90 days, and one query may span at most that.
pub const RETENTION_DAYS: i64 = 90;

/// The EventData properties check-azure reads (`caller` is not among those the API documents
/// for `$select`; the caller's ids are in `claims`).
pub const SELECT: &str = "authorization,claims,correlationId,eventTimestamp,operationName,properties,resourceGroupName,resourceId,status,subscriptionId";

/// The `$filter` for one resource group over `[since, until]`.
pub fn filter(since: DateTime<Utc>, until: DateTime<Utc>, resource_group: &str) -> String {
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    format!(
        "eventTimestamp ge '{}' and eventTimestamp le '{}' and resourceGroupName eq '{resource_group}'",
        at(since),
        at(until)
    )
}

/// Every event of the vault's resource group in `[since, until]` (the range at most
/// [`RETENTION_DAYS`]; the caller checks), newest first as Azure returns them.
pub async fn list(
    az: &AzureClient,
    vault: &VaultRef,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Value>, AzureError> {
    if until - since > Duration::days(RETENTION_DAYS) || since > until {
        return Err(AzureError::Invalid {
            what: "reading the Activity Log".into(),
            detail: format!("the window must run forwards and span at most {RETENTION_DAYS} days"),
        });
    }
    // The resource group name was checked by `VaultRef::new` (letters, digits, `-_.()`): no
    // quote can end the filter's string early.
    let mut url = url::Url::parse(&az.arm_url(
        &format!(
            "/subscriptions/{}/providers/Microsoft.Insights/eventtypes/management/values",
            vault.subscription_id()
        ),
        API_VERSION,
    ))
    .map_err(|e| AzureError::Invalid {
        what: "reading the Activity Log".into(),
        detail: e.to_string(),
    })?;
    url.query_pairs_mut()
        .append_pair("$filter", &filter(since, until, vault.resource_group()))
        .append_pair("$select", SELECT);
    let what = format!(
        "reading the Activity Log of resource group {} in subscription {}",
        vault.resource_group(),
        vault.subscription_id()
    );
    get_pages(az, url.to_string(), &what, 1000).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_is_one_of_the_patterns_azure_allows() {
        let f = filter(
            "2026-09-01T00:00:00Z".parse().unwrap(),
            "2026-11-27T09:00:00Z".parse().unwrap(),
            "rg-demo",
        );
        assert_eq!(
            f,
            "eventTimestamp ge '2026-09-01T00:00:00Z' and eventTimestamp le '2026-11-27T09:00:00Z' and resourceGroupName eq 'rg-demo'"
        );
    }
}
