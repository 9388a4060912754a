//! Every error kv-jit can get from Azure, and the one place that sorts them into permanent and
//! transient ([`AzureError::class`]).
//!
//! The sort answers one question for the engine: *can a later run, doing exactly the same thing,
//! succeed without anyone changing anything?* Transient: yes (throttling, outages, replication
//! lag, a PIM request still being processed), so the engine retries on its next scheduled run.
//! Permanent: no (a missing secret, a vault without RBAC, a refused permission, an invalid
//! name), so the engine records the refusal once, with the fix, instead of retrying every five
//! minutes until the window ends.
//!
//! Within one call the transport already retried the HTTP statuses in [`retried_in_call`] with
//! backoff; what reaches the caller is the final answer.
//!
//! Choices, with their sources:
//! - **429 and 5xx, timeouts, refused or reset connections** are transient. ARM answers 429 with
//!   `Retry-After` when a bucket is empty (learn.microsoft.com/azure/azure-resource-manager/
//!   management/request-limits-and-throttling); the token endpoint being down is an outage like
//!   any other (the transport turns it into [`AzureError::Unavailable`], never a credential error).
//!   Entra's OAuth error `temporarily_unavailable` (RFC 6749 §5.2 / §4.1.2.1) is transient too.
//! - **400** (invalid names or bodies, `RoleAssignmentUpdateNotPermitted`, `UnmatchedPrincipalType`)
//!   and **404** (vault, secret, resource group or subscription not found) are permanent: the same
//!   request gets the same answer.
//! - **403** is permanent, including ARM's `AuthorizationFailed` and Azure Policy's
//!   `RequestDisallowedByPolicy`. The RBAC troubleshooting page says a role granted moments ago can
//!   take up to 10 minutes to apply and that AuthorizationFailed may ask to "refresh your
//!   credentials" (learn.microsoft.com/azure/role-based-access-control/troubleshooting). But every
//!   kv-jit run is a fresh process with a token *just issued*, so "403 on a fresh token" is the
//!   normal shape of a missing role, not a sign of propagation; treating it as transient would turn
//!   every misconfigured vault into a retry loop. The message names the role to give
//!   ([`super::TOOL_ROLE`]); after fixing it the operator re-runs, and a request the engine
//!   refused is filed again.
//! - **401** `InvalidAuthenticationToken*` (wrong tenant or audience) is permanent: the
//!   configuration is wrong. `ExpiredAuthenticationToken` is transient (a new token fixes it).
//! - **409** is transient (ARM uses it for a conflicting operation in flight; a
//!   `RoleAssignmentExists` that cannot be resolved yet is list replication lag), except
//!   `ScopeLocked` (a resource lock: permanent until someone removes it).
//! - ARM's `PrincipalNotFound` after kv-jit already resolved the principal through Graph is Entra
//!   replication lag (the troubleshooting page says so), hence transient.
//! - PIM's `ActiveDurationTooShort` on an early removal is transient: PIM refuses to end an
//!   assignment in its first five minutes, and a later run succeeds.
//! - PIM request statuses: see [`pim_status_class`].

use std::time::Duration;

use super::TOOL_ROLE;

/// Whether a later run doing the same thing may succeed without anyone changing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The same request gets the same answer: record it once, with the fix.
    Permanent,
    /// Throttling, outages, lag, processing: retry on a later run.
    Transient,
}

/// What went wrong talking to Azure, worded so the reader knows what to fix.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    /// No usable credential, or Entra refused the one configured. A configuration error.
    #[error("no Azure credential: {0}")]
    Credential(String),
    /// The config names an endpoint (or token exchange audience) that is neither a named cloud's
    /// nor allowed by the operator in [`super::cloud::ALLOWED_ENDPOINTS_VAR`]. Raised before any token request.
    #[error("{0}")]
    EndpointNotAllowed(String),
    #[error(
        "{what} was refused (AuthorizationFailed): the workflow identity needs {TOOL_ROLE} on vault {vault}; Azure said: {message}"
    )]
    AuthorizationFailed {
        what: String,
        vault: String,
        message: String,
    },
    #[error(
        "{what} failed (RoleAssignmentLimitExceeded): subscription {subscription} has reached its role-assignment limit (4,000; 2,000 in sovereign clouds); remove stale assignments or use vault scope instead of per-secret scope"
    )]
    LimitExceeded { what: String, subscription: String },
    #[error("no such user {upn} in tenant {tenant}")]
    UserNotFound { upn: String, tenant: String },
    #[error(
        "{what} failed (PrincipalNotFound) after {attempts} attempts: principal {principal_id} is not in tenant {tenant}; check the identity mapping, or wait for Entra replication if the user is new"
    )]
    PrincipalNotFound {
        what: String,
        principal_id: String,
        tenant: String,
        attempts: u32,
    },
    #[error(
        "{what} was throttled by Azure (429) {attempts} times{}; the run will pick it up again next time",
        retry_after.map(|d| format!(", last asked to wait {}s", d.as_secs())).unwrap_or_default()
    )]
    Throttled {
        what: String,
        attempts: u32,
        retry_after: Option<Duration>,
    },
    #[error("{what} failed after {attempts} attempts: {last}")]
    Unavailable {
        what: String,
        attempts: u32,
        last: String,
    },
    #[error("{what} failed: HTTP {status} {code}: {message}")]
    Api {
        what: String,
        status: u16,
        code: String,
        message: String,
    },
    /// Azure answered something kv-jit cannot read (a body that does not parse).
    #[error("{what}: unexpected response: {detail}")]
    BadResponse { what: String, detail: String },
    /// kv-jit refuses to send or follow something: an input that cannot go into a URL or marker,
    /// or a server answer that would send the token elsewhere (a foreign `nextLink`).
    #[error("{what}: {detail}")]
    Invalid { what: String, detail: String },
    /// PIM accepted the schedule request `name` but has not made the access active: it is
    /// pending (`status` is one of PIM's pending states). Access is NOT granted. `detail` says
    /// what happens next (the next run asks again, or kv-jit cancelled a request that waits for
    /// a PIM approver).
    #[error("{what}: PIM request {name} is {status}: access is pending, not active; {detail}")]
    PimPending {
        what: String,
        name: String,
        status: String,
        detail: String,
    },
    /// PIM answered the schedule request `name` with a failure status.
    #[error("{what}: PIM request {name} ended {status}: PIM did not grant it")]
    PimFailed {
        what: String,
        name: String,
        status: String,
    },
}

impl AzureError {
    /// The one sort of every Azure error into permanent and transient; see the module doc for
    /// each choice and its source.
    pub fn class(&self) -> ErrorClass {
        use ErrorClass::*;
        match self {
            AzureError::Throttled { .. }
            | AzureError::Unavailable { .. }
            | AzureError::PrincipalNotFound { .. }
            | AzureError::BadResponse { .. } => Transient,
            AzureError::Api { status, code, .. } => classify(*status, code),
            AzureError::PimPending { status, .. } => pim_status_class(status),
            AzureError::Credential(_)
            | AzureError::EndpointNotAllowed(_)
            | AzureError::AuthorizationFailed { .. }
            | AzureError::LimitExceeded { .. }
            | AzureError::UserNotFound { .. }
            | AzureError::Invalid { .. }
            | AzureError::PimFailed { .. } => Permanent,
        }
    }

    /// Worth retrying on a later run: `class() == Transient` (kept for existing callers).
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// A configuration or usage error (exit code 2): no credential, or an endpoint the operator
    /// did not allow. Nothing kv-jit does per request can fix it.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            AzureError::Credential(_) | AzureError::EndpointNotAllowed(_)
        )
    }
}

/// An HTTP error answer (status and the envelope's `code`) sorted into its class.
pub fn classify(status: u16, code: &str) -> ErrorClass {
    use ErrorClass::*;
    match (status, code) {
        (_, "ActiveDurationTooShort") => Transient,
        (_, "ExpiredAuthenticationToken") => Transient,
        (_, "RetryableErrorDueToAnotherOperation" | "AnotherOperationInProgress") => Transient,
        (_, "ScopeLocked") => Permanent,
        (408 | 409 | 429, _) => Transient,
        (500..=599, _) => Transient,
        _ => Permanent,
    }
}

/// The statuses the transport retries within one call (with backoff and `Retry-After`) before
/// it gives the caller the answer. A subset of [`ErrorClass::Transient`]: a 409, for one, goes
/// straight back, because `RoleAssignmentExists` is an answer the caller resolves.
pub fn retried_in_call(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// How far a PIM schedule request's `status` got, by the spec's status enum
/// (`RoleAssignmentScheduleRequest.json`, api-version 2020-10-01, 22 values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PimStatus {
    /// Access is active (`Provisioned`) or scheduled and will start on its own (`Granted`,
    /// `ScheduleCreated`): the request is done.
    Done,
    /// PIM is still working on it.
    Pending,
    /// It waits for a human decision in PIM.
    AwaitingApproval,
    /// It ended without access.
    Failed,
}

/// Sorts a schedule request's `status`. The spec lists the values without their meaning; the
/// sort reads their names: `Provisioned`, `Granted` and `ScheduleCreated` are the success states
/// (the spec's own example answers `Provisioned`; Graph's PIM docs name `Granted`, `Provisioned`
/// and `ScheduleCreated` as the non-pending, non-failed ones); `Denied`, `Failed`, `Canceled`,
/// `Revoked`, `AdminDenied`, `TimedOut`, `Invalid` and `FailedAsResourceIsLocked` are failures;
/// `PendingApproval`, `PendingAdminDecision` and `PendingApprovalProvisioning` wait for a PIM
/// approver; everything else (`Accepted`, `PendingEvaluation`, `PendingProvisioning`,
/// `ProvisioningStarted`, `AdminApproved`, `PendingScheduleCreation`,
/// `PendingExternalProvisioning`, `PendingRevocation`, and any value the spec adds later) is
/// still being processed. An unknown value is never success.
pub fn pim_status(status: &str) -> PimStatus {
    match status {
        "Provisioned" | "Granted" | "ScheduleCreated" => PimStatus::Done,
        "Denied"
        | "Failed"
        | "Canceled"
        | "Revoked"
        | "AdminDenied"
        | "TimedOut"
        | "Invalid"
        | "FailedAsResourceIsLocked" => PimStatus::Failed,
        "PendingApproval" | "PendingAdminDecision" | "PendingApprovalProvisioning" => {
            PimStatus::AwaitingApproval
        }
        _ => PimStatus::Pending,
    }
}

/// Processing states are transient (a later run reads the same request again by its name and
/// finds it finished). Approval states are permanent: kv-jit's approval is the pull request's
/// review, a PIM approver is a second gate kv-jit cannot pass, and a request left waiting could
/// be approved long after kv-jit recorded a refusal, so kv-jit cancels it.
pub fn pim_status_class(status: &str) -> ErrorClass {
    match pim_status(status) {
        PimStatus::Pending => ErrorClass::Transient,
        PimStatus::Done | PimStatus::Failed | PimStatus::AwaitingApproval => ErrorClass::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_sort_into_classes() {
        use ErrorClass::*;
        for (status, code, class) in [
            (429, "", Transient),
            (500, "", Transient),
            (503, "ServiceUnavailable", Transient),
            (408, "", Transient),
            (409, "Conflict", Transient),
            (409, "ScopeLocked", Permanent),
            (400, "InvalidRoleAssignmentId", Permanent),
            (400, "RoleAssignmentUpdateNotPermitted", Permanent),
            (400, "ActiveDurationTooShort", Transient),
            (401, "InvalidAuthenticationTokenTenant", Permanent),
            (401, "ExpiredAuthenticationToken", Transient),
            (403, "RequestDisallowedByPolicy", Permanent),
            (403, "AuthorizationFailed", Permanent),
            (404, "ResourceNotFound", Permanent),
        ] {
            assert_eq!(classify(status, code), class, "{status} {code}");
        }
    }

    #[test]
    fn every_spec_pim_status_has_a_sort_and_only_three_succeed() {
        // The 22 values of the 2020-10-01 spec's status enum.
        let all = [
            "Accepted",
            "PendingEvaluation",
            "Granted",
            "Denied",
            "PendingProvisioning",
            "Provisioned",
            "PendingRevocation",
            "Revoked",
            "Canceled",
            "Failed",
            "PendingApprovalProvisioning",
            "PendingApproval",
            "FailedAsResourceIsLocked",
            "PendingAdminDecision",
            "AdminApproved",
            "AdminDenied",
            "TimedOut",
            "ProvisioningStarted",
            "Invalid",
            "PendingScheduleCreation",
            "ScheduleCreated",
            "PendingExternalProvisioning",
        ];
        let done: Vec<_> = all
            .iter()
            .filter(|s| pim_status(s) == PimStatus::Done)
            .collect();
        assert_eq!(done, [&"Granted", &"Provisioned", &"ScheduleCreated"]);
        let failed = all
            .iter()
            .filter(|s| pim_status(s) == PimStatus::Failed)
            .count();
        assert_eq!(failed, 8);
        assert_eq!(pim_status("SomethingNew"), PimStatus::Pending);
        assert_eq!(
            pim_status_class("PendingProvisioning"),
            ErrorClass::Transient
        );
        assert_eq!(pim_status_class("PendingApproval"), ErrorClass::Permanent);
    }
}
