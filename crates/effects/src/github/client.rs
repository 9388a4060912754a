//! The GitHub REST client: octocrab for transport, auth, base URI and `Link` paging; our own
//! response types and our own retry.
//!
//! Why not octocrab's typed models: they are strict (an unknown review state fails a whole list,
//! reference §1.4) and churn between minor versions. We read the few fields approval needs into
//! small serde types that ignore the rest. `tests/github_client.rs` still checks that octocrab's own
//! models read the emulator's JSON, so the emulator stays faithful.
//!
//! Why our own retry: octocrab's default retries every method, POST included, which duplicates
//! comments after a 502 (reference §1.4.1). We build without its `retry` feature and retry only
//! idempotent GETs, a bounded number of times, on the shared [`crate::backoff`] schedule and the
//! client's [`Clock`] ([`SystemClock`](crate::clock::SystemClock) unless [`GithubClient::with_clock`] says otherwise).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use http::header::HeaderName;
use octocrab::Octocrab;
use serde::Deserialize;

pub use kv_jit_core::github::{
    CommitPaths, GitRef, InvalidRepo, IssueComment, MAX_COMMIT_FILES, PullCommit, PullFile,
    PullRequest, Repo, Review, TeamMembership, TeamRepoPermissions, User,
};
use serde::de::DeserializeOwned;

use crate::backoff::{Backoff, Jitter, random_unit};
use crate::clock::Clock;
pub use crate::token::Token;

/// The REST API version we are written against, sent on every request.
pub const API_VERSION: &str = "2022-11-28";

/// The longest `Retry-After` we wait for; beyond it the error is returned.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Public github.com API, used when `GITHUB_API_URL` is unset.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Bounded retry of idempotent reads (transport errors, 5xx, 429).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total tries, the first included.
    pub attempts: u32,
    /// Wait before the second try; doubles after each.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(500),
        }
    }
}

impl RetryPolicy {
    /// `base_delay` doubled per retry, without jitter (one client, a few short waits), capped
    /// at [`MAX_RETRY_AFTER`]: no step is longer than the longest wait GitHub may ask for (with
    /// the default 4 attempts the steps are 0.5, 1 and 2 s, far below it).
    pub fn schedule(&self) -> Backoff {
        Backoff {
            initial: self.base_delay,
            max: MAX_RETRY_AFTER,
            jitter: Jitter::None,
        }
    }
}

/// What went wrong talking to GitHub.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("GitHub answered {status} to {route}: {message}")]
    Status {
        status: u16,
        route: String,
        message: String,
        /// Seconds from a `Retry-After` header (rate limits).
        retry_after: Option<u64>,
    },
    #[error("could not reach GitHub for {route}: {message}")]
    Transport { route: String, message: String },
    /// GitHub's REST budget for this token is used up (it answered 403/429 with
    /// `x-ratelimit-remaining: 0`, or the client saw none left and did not send the request).
    #[error("GitHub's API rate limit is used up ({route} not read): {limit}")]
    RateLimited { route: String, limit: RateLimit },
    #[error("unexpected GitHub response for {route}: {message}")]
    Decode { route: String, message: String },
    #[error("GitHub client setup: {0}")]
    Config(String),
}

impl From<InvalidRepo> for GithubError {
    fn from(e: InvalidRepo) -> GithubError {
        GithubError::Config(e.to_string())
    }
}

impl GithubError {
    /// The HTTP status, when GitHub answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            GithubError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// How long to wait before retrying, `None` when a retry is pointless. A `Retry-After` (429,
    /// or 403 for secondary rate limits) is honoured up to [`MAX_RETRY_AFTER`]; a longer one
    /// is not waited for.
    fn retry_delay(&self, backoff: Duration) -> Option<Duration> {
        match self {
            GithubError::Status {
                retry_after: Some(secs),
                status,
                ..
            } if *status == 429 || *status == 403 || *status >= 500 => {
                let wait = Duration::from_secs(*secs);
                (wait <= MAX_RETRY_AFTER).then(|| wait.max(backoff))
            }
            GithubError::Status { status, .. } if *status >= 500 || *status == 429 => Some(backoff),
            // The budget comes back at `x-ratelimit-reset`, not in seconds: never waited for.
            GithubError::RateLimited { .. } => None,
            GithubError::Transport { .. } => Some(backoff),
            _ => None,
        }
    }

    fn from_octocrab(route: &str, error: octocrab::Error) -> GithubError {
        let route = route.to_owned();
        match error {
            // GitHub's primary rate limit: 403 or 429 with nothing remaining (its reference:
            // "you will receive a 403 Forbidden or 429 Too Many Requests response, and the
            // x-ratelimit-remaining header will be 0").
            octocrab::Error::GitHub { source, .. }
                if matches!(source.status_code.as_u16(), 403 | 429)
                    && source
                        .headers
                        .as_ref()
                        .and_then(RateLimit::from_headers)
                        .is_some_and(|l| l.remaining == Some(0)) =>
            {
                GithubError::RateLimited {
                    route,
                    limit: source
                        .headers
                        .as_ref()
                        .and_then(RateLimit::from_headers)
                        .unwrap_or_default(),
                }
            }
            octocrab::Error::GitHub { source, .. } => GithubError::Status {
                status: source.status_code.as_u16(),
                retry_after: source
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(http::header::RETRY_AFTER))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok()),
                route,
                message: source.message,
            },
            octocrab::Error::Hyper { .. }
            | octocrab::Error::Service { .. }
            | octocrab::Error::Http { .. } => GithubError::Transport {
                route,
                message: error.to_string(),
            },
            other => GithubError::Decode {
                route,
                message: other.to_string(),
            },
        }
    }
}

#[derive(Deserialize)]
struct ContentFile {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct CommitDetail {
    #[serde(default)]
    files: Vec<PullFile>,
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get(http::header::LINK)?.to_str().ok()?;
    value.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
    })
}

#[derive(Deserialize)]
struct MembershipBody {
    state: String,
}

/// An issue (or a pull request, which the issues API shows too), as far as kv-jit reads one.
#[derive(Debug, Clone, Deserialize)]
pub struct Issue {
    pub number: u64,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub user: Option<User>,
    /// `open` or `closed`.
    pub state: String,
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Present exactly when the issue is a pull request.
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
    #[serde(default)]
    pub html_url: Option<String>,
    /// `{api}/repos/{owner}/{name}`: GitHub redirects a transferred issue to its new home.
    #[serde(default)]
    pub repository_url: Option<String>,
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Issue {
    /// Whether GitHub says this issue lives in `repo` (a transferred issue is answered from its
    /// new repository, under another number). Unknown counts as no.
    pub fn is_in(&self, repo: &Repo) -> bool {
        self.repository_url.as_deref().is_some_and(|u| {
            u.to_ascii_lowercase().ends_with(&format!(
                "/repos/{}/{}",
                repo.owner.to_ascii_lowercase(),
                repo.name.to_ascii_lowercase()
            ))
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub name: String,
}

impl Issue {
    /// The retrospective rules' view.
    pub fn facts(&self) -> kv_jit_core::approval::retrospective::IssueFacts {
        kv_jit_core::approval::retrospective::IssueFacts {
            number: self.number,
            title: self.title.clone(),
            body: self.body.clone(),
            labels: self.labels.iter().map(|l| l.name.clone()).collect(),
            closed: self.state == "closed",
            is_pull: self.pull_request.is_some(),
            created_at: self.created_at,
        }
    }
}

/// GitHub's primary rate limit as its `x-ratelimit-*` headers last said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub used: Option<u64>,
    /// When the budget is renewed, in UTC epoch seconds.
    pub reset: Option<i64>,
}

impl RateLimit {
    /// The `x-ratelimit-*` headers of an answer; `None` when it has no `x-ratelimit-remaining`.
    pub fn from_headers(headers: &http::HeaderMap) -> Option<RateLimit> {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        let remaining = num("x-ratelimit-remaining")?;
        Some(RateLimit {
            limit: num("x-ratelimit-limit").and_then(|v| u64::try_from(v).ok()),
            remaining: u64::try_from(remaining).ok(),
            used: num("x-ratelimit-used").and_then(|v| u64::try_from(v).ok()),
            reset: num("x-ratelimit-reset"),
        })
    }

    /// When the budget is renewed.
    pub fn reset_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.reset
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.remaining, self.limit) {
            (Some(r), Some(l)) => write!(f, "{r} of {l} calls left")?,
            (Some(r), None) => write!(f, "{r} calls left")?,
            _ => f.write_str("no budget known")?,
        }
        if let Some(at) = self.reset_at() {
            write!(
                f,
                ", renewed at {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )?;
        }
        Ok(())
    }
}

/// The client's count of requests and its view of the rate limit, shared by its clones.
#[derive(Debug, Default)]
struct Budget {
    /// Requests sent (every attempt).
    calls: AtomicU64,
    /// The last headers, lowered by each request sent since (never raised within one window).
    seen: Mutex<Option<RateLimit>>,
}

impl Budget {
    /// Counts a request about to be sent; refuses it when the budget is known to be used up.
    fn take(&self, route: &str, now: chrono::DateTime<chrono::Utc>) -> Result<(), GithubError> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(limit) = seen.as_mut()
            && let Some(left) = limit.remaining
        {
            // Past the reset the budget is renewed: send, and learn the new one.
            let renewed = limit.reset.is_some_and(|r| now.timestamp() >= r);
            if left == 0 && !renewed {
                return Err(GithubError::RateLimited {
                    route: route.to_owned(),
                    limit: *limit,
                });
            }
            limit.remaining = Some(left.saturating_sub(1));
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// An answer's headers: a new window (a later reset) replaces the view; within a window the
    /// remaining count only goes down (requests still in flight were counted already).
    fn observe(&self, headers: &http::HeaderMap) {
        let Some(new) = RateLimit::from_headers(headers) else {
            return;
        };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        *seen = Some(match *seen {
            Some(old) if old.reset >= new.reset => RateLimit {
                remaining: match (old.remaining, new.remaining) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => b.or(a),
                },
                ..new
            },
            _ => new,
        });
    }
}

/// The GitHub client.
#[derive(Clone)]
pub struct GithubClient {
    octocrab: Octocrab,
    retry: RetryPolicy,
    /// Waits between retries go through it.
    clock: Arc<dyn Clock>,
    budget: Arc<Budget>,
}

impl fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubClient")
            .field("octocrab", &self.octocrab)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl GithubClient {
    /// `api_url` is `GITHUB_API_URL` (`https://api.github.com`, `https://HOST/api/v3` on GHES, or
    /// the emulator); `token` is `GITHUB_TOKEN` or an App/PAT token. Call inside a Tokio runtime.
    ///
    /// Plain `http://` is refused except on loopback (the emulator): the token would travel in clear.
    pub fn new(api_url: &str, token: Token) -> Result<GithubClient, GithubError> {
        let api_url = api_url.trim_end_matches('/');
        if let Some(rest) = api_url.strip_prefix("http://") {
            let host = rest.split('/').next().unwrap_or("");
            let host = host.rsplit_once(':').map_or(host, |(h, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    host
                }
            });
            let loopback = host == "localhost"
                || host == "[::1]"
                || host
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(GithubError::Config(format!(
                    "GITHUB_API_URL `{api_url}` is plain http; only https (or loopback http for the emulator) is allowed"
                )));
            }
        } else if !api_url.starts_with("https://") {
            return Err(GithubError::Config(format!(
                "GITHUB_API_URL `{api_url}` must be an https:// URL"
            )));
        }
        let octocrab = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| GithubError::Config(format!("GITHUB_API_URL `{api_url}`: {e}")))?
            .personal_token(token.secret().to_owned())
            .add_header(
                HeaderName::from_static("x-github-api-version"),
                API_VERSION.into(),
            )
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(crate::testing::http_timeout(Duration::from_secs(30))))
            .build()
            .map_err(|e| GithubError::Config(e.to_string()))?;
        Ok(GithubClient {
            octocrab,
            retry: RetryPolicy::default(),
            clock: crate::testing::retry_clock(),
            budget: Arc::default(),
        })
    }

    /// Replaces the retry policy (tests use a zero delay).
    pub fn with_retry(mut self, retry: RetryPolicy) -> GithubClient {
        self.retry = retry;
        self
    }

    /// Waits on `clock` instead of the wall clock (tests: a virtual one).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> GithubClient {
        self.clock = clock;
        self
    }

    /// The underlying octocrab client, for calls this module does not wrap (not counted).
    pub fn octocrab(&self) -> &Octocrab {
        &self.octocrab
    }

    /// Requests this client (and its clones) sent, every retry included.
    pub fn calls(&self) -> u64 {
        self.budget.calls.load(Ordering::Relaxed)
    }

    /// The rate limit as GitHub's last answer said, less the requests sent since; `None` before
    /// any answer carried the headers.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        *self.budget.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether at least `calls` more requests fit the known budget (true while none is known).
    pub fn can_afford(&self, calls: u64) -> bool {
        self.rate_limit()
            .and_then(|l| l.remaining)
            .is_none_or(|left| left >= calls)
    }

    /// Asks GitHub for the rate limit (`GET /rate_limit`, which GitHub does not count), so the
    /// budget is known before the first counted request. Best effort: an error leaves it unknown.
    pub async fn refresh_rate_limit(&self) {
        let route = "/rate_limit";
        if let Ok(response) = self.octocrab._get_with_headers(route, None).await
            && let Ok(response) = octocrab::map_github_error(response).await
        {
            self.budget.observe(response.headers());
        }
    }

    /// Whether the budget is known to be used up.
    pub fn rate_limited(&self) -> bool {
        !self.can_afford(1)
    }

    async fn retrying<T, F, Fut>(&self, route: &str, call: F) -> Result<T, GithubError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, octocrab::Error>>,
    {
        let schedule = self.retry.schedule();
        let mut attempt = 1;
        loop {
            self.budget.take(route, self.clock.now())?;
            let result = call().await.map_err(|e| {
                if let octocrab::Error::GitHub { source, .. } = &e
                    && let Some(h) = &source.headers
                {
                    self.budget.observe(h);
                }
                GithubError::from_octocrab(route, e)
            });
            let wait = match &result {
                Err(e) if attempt < self.retry.attempts.max(1) => {
                    e.retry_delay(schedule.delay(attempt, random_unit()))
                }
                _ => None,
            };
            match wait {
                Some(wait) => {
                    self.clock.sleep(wait).await;
                    attempt += 1;
                }
                None => return result,
            }
        }
    }

    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        route: &str,
    ) -> Result<T, GithubError> {
        let (_, body) = self.get_raw(route, None).await?;
        Self::decode(route, &body)
    }

    /// A GET whose headers matter (`Link` on a paged object, a custom media type): the headers
    /// and the body text of a 2xx answer.
    async fn get_raw(
        &self,
        route: &str,
        accept: Option<&'static str>,
    ) -> Result<(http::HeaderMap, String), GithubError> {
        self.retrying(route, || async {
            let headers = accept.map(|a| {
                let mut h = http::HeaderMap::new();
                h.insert(http::header::ACCEPT, http::HeaderValue::from_static(a));
                h
            });
            let response = self.octocrab._get_with_headers(route, headers).await?;
            let response = octocrab::map_github_error(response).await?;
            let headers = response.headers().clone();
            self.budget.observe(&headers);
            let body = self.octocrab.body_to_string(response).await?;
            Ok((headers, body))
        })
        .await
    }

    fn decode<T: DeserializeOwned>(route: &str, body: &str) -> Result<T, GithubError> {
        serde_json::from_str(body).map_err(|e| GithubError::Decode {
            route: route.to_owned(),
            message: e.to_string(),
        })
    }

    /// Every item of a paged list: 100 per page, following `Link: rel="next"`.
    pub(crate) async fn get_all<T: DeserializeOwned>(
        &self,
        route: &str,
    ) -> Result<Vec<T>, GithubError> {
        let sep = if route.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{route}{sep}per_page=100"));
        let mut items = Vec::new();
        while let Some(page) = next.take() {
            let (headers, body) = self.get_raw(&page, None).await?;
            let mut got: Vec<T> = Self::decode(&page, &body)?;
            items.append(&mut got);
            next = next_link(&headers);
        }
        Ok(items)
    }

    /// The text of `path` at `git_ref` (sha or branch), `None` when the file does not exist.
    pub async fn file_text(
        &self,
        repo: &Repo,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<String>, GithubError> {
        let route = format!(
            "/repos/{repo}/contents/{}?ref={}",
            encode(path),
            encode(git_ref)
        );
        let file: ContentFile = match self.get_json(&route).await {
            Ok(file) => file,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        let decode = |message: String| GithubError::Decode {
            route: route.clone(),
            message,
        };
        if file.kind != "file" {
            return Err(decode(format!("`{path}` is a {}, not a file", file.kind)));
        }
        if file.encoding.as_deref() != Some("base64") {
            return Err(decode(format!(
                "`{path}` is too large for the contents API"
            )));
        }
        let compact: String = file
            .content
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| decode(format!("bad base64: {e}")))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| decode(format!("`{path}` is not UTF-8")))
    }

    pub async fn pull(&self, repo: &Repo, number: u64) -> Result<PullRequest, GithubError> {
        self.get_json(&format!("/repos/{repo}/pulls/{number}"))
            .await
    }

    /// Pull requests associated with a commit (for a commit on the default branch: the merged PR
    /// that brought it).
    pub async fn pulls_for_commit(
        &self,
        repo: &Repo,
        sha: &str,
    ) -> Result<Vec<PullRequest>, GithubError> {
        self.get_all(&format!("/repos/{repo}/commits/{}/pulls", encode(sha)))
            .await
    }

    /// All reviews, in chronological order.
    pub async fn reviews(&self, repo: &Repo, number: u64) -> Result<Vec<Review>, GithubError> {
        self.get_all(&format!("/repos/{repo}/pulls/{number}/reviews"))
            .await
    }

    /// All files the pull request changes (GitHub caps this at 3000).
    pub async fn pull_files(&self, repo: &Repo, number: u64) -> Result<Vec<PullFile>, GithubError> {
        self.get_all(&format!("/repos/{repo}/pulls/{number}/files"))
            .await
    }

    /// The commits on the pull request's branch (GitHub caps this at 250).
    pub async fn pull_commits(
        &self,
        repo: &Repo,
        number: u64,
    ) -> Result<Vec<PullCommit>, GithubError> {
        self.get_all(&format!("/repos/{repo}/pulls/{number}/commits"))
            .await
    }

    /// The paths one commit changes (renames give both names), over every page: GitHub answers
    /// the commit with its first files and `Link`s to the pages holding the rest, up to
    /// [`MAX_COMMIT_FILES`] (check [`CommitPaths::maybe_truncated`]).
    pub async fn commit_paths(&self, repo: &Repo, sha: &str) -> Result<CommitPaths, GithubError> {
        let mut route = format!("/repos/{repo}/commits/{}?per_page=100", encode(sha));
        let mut out = CommitPaths {
            paths: Vec::new(),
            files_listed: 0,
        };
        // Bounded whatever the `Link`s say: 3000 files at 100 a page, plus slack.
        for _ in 0..(MAX_COMMIT_FILES / 100 + 5) {
            let (headers, body) = self.get_raw(&route, None).await?;
            let detail: CommitDetail = Self::decode(&route, &body)?;
            out.files_listed += detail.files.len();
            out.paths.extend(
                detail
                    .files
                    .into_iter()
                    .flat_map(|f| std::iter::once(f.filename).chain(f.previous_filename)),
            );
            match next_link(&headers) {
                Some(next) => route = next,
                None => return Ok(out),
            }
        }
        Err(GithubError::Decode {
            route,
            message: "the pages of the commit's files do not end".into(),
        })
    }

    /// The repository's default branch (`GET /repos/{owner}/{repo}`).
    pub async fn default_branch(&self, repo: &Repo) -> Result<String, GithubError> {
        #[derive(Deserialize)]
        struct Body {
            default_branch: String,
        }
        let body: Body = self.get_json(&format!("/repos/{repo}")).await?;
        Ok(body.default_branch)
    }

    /// What team `@org/slug` may do in `repo`; `None` when it has no access (GitHub answers 404;
    /// the caller has already seen the team, so the 404 is about the repository).
    pub async fn team_repo_permissions(
        &self,
        org: &str,
        slug: &str,
        repo: &Repo,
    ) -> Result<Option<TeamRepoPermissions>, GithubError> {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            permissions: Option<TeamRepoPermissions>,
        }
        let route = format!(
            "/orgs/{}/teams/{}/repos/{}/{}",
            encode(org),
            encode(slug),
            encode(&repo.owner),
            encode(&repo.name)
        );
        match self
            .get_raw(&route, Some("application/vnd.github.v3.repository+json"))
            .await
        {
            Ok((_, body)) => {
                let body: Body = Self::decode(&route, &body)?;
                // Without `permissions` nothing says the team may write: none.
                Ok(Some(body.permissions.unwrap_or_default()))
            }
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Membership of `login` in `@org/slug`. Reads the team first: a 404 on the membership alone
    /// cannot tell "not a member" from "this token cannot see the team", so an invisible team is
    /// an error (the caller fails closed) rather than a "no".
    pub async fn team_membership(
        &self,
        org: &str,
        slug: &str,
        login: &str,
    ) -> Result<TeamMembership, GithubError> {
        self.get_json::<serde_json::Value>(&format!(
            "/orgs/{}/teams/{}",
            encode(org),
            encode(slug)
        ))
        .await?;
        let route = format!(
            "/orgs/{}/teams/{}/memberships/{}",
            encode(org),
            encode(slug),
            encode(login)
        );
        match self.get_json::<MembershipBody>(&route).await {
            Ok(body) if body.state == "active" => Ok(TeamMembership::Active),
            Ok(_) => Ok(TeamMembership::Pending),
            Err(e) if e.status() == Some(404) => Ok(TeamMembership::NotMember),
            Err(e) => Err(e),
        }
    }

    /// The legacy `permission` (`admin`, `write`, `read`, `none`) of `login` on the repository;
    /// a non-collaborator (404) is `none`.
    pub async fn collaborator_permission(
        &self,
        repo: &Repo,
        login: &str,
    ) -> Result<String, GithubError> {
        #[derive(Deserialize)]
        struct Body {
            permission: String,
        }
        let route = format!("/repos/{repo}/collaborators/{}/permission", encode(login));
        match self.get_json::<Body>(&route).await {
            Ok(body) => Ok(body.permission),
            Err(e) if e.status() == Some(404) => Ok("none".into()),
            Err(e) => Err(e),
        }
    }

    pub async fn issue_comments(
        &self,
        repo: &Repo,
        number: u64,
    ) -> Result<Vec<IssueComment>, GithubError> {
        self.get_all(&format!("/repos/{repo}/issues/{number}/comments"))
            .await
    }

    /// Issue (or pull request) `number`.
    pub async fn issue(&self, repo: &Repo, number: u64) -> Result<Issue, GithubError> {
        self.get_json(&format!("/repos/{repo}/issues/{number}"))
            .await
    }

    /// Every issue (and pull request) carrying `label`, open and closed.
    pub async fn issues_labelled(
        &self,
        repo: &Repo,
        label: &str,
    ) -> Result<Vec<Issue>, GithubError> {
        self.get_all(&format!(
            "/repos/{repo}/issues?state=all&labels={}",
            encode(label)
        ))
        .await
    }

    /// Opens an issue. Never retried: a retry after a lost answer would open it twice (callers
    /// look for it first, and the next run finds it).
    pub async fn create_issue(
        &self,
        repo: &Repo,
        title: &str,
        body: &str,
        labels: &[&str],
    ) -> Result<Issue, GithubError> {
        let route = format!("/repos/{repo}/issues");
        self.budget.take(&route, self.clock.now())?;
        self.octocrab
            .post(
                &route,
                Some(&serde_json::json!({ "title": title, "body": body, "labels": labels })),
            )
            .await
            .map_err(|e| GithubError::from_octocrab(&route, e))
    }

    /// Creates a comment. Never retried: a retry after a lost answer would post it twice.
    pub async fn create_comment(
        &self,
        repo: &Repo,
        number: u64,
        body: &str,
    ) -> Result<IssueComment, GithubError> {
        let route = format!("/repos/{repo}/issues/{number}/comments");
        self.budget.take(&route, self.clock.now())?;
        self.octocrab
            .post(&route, Some(&serde_json::json!({ "body": body })))
            .await
            .map_err(|e| GithubError::from_octocrab(&route, e))
    }

    /// Replaces a comment's body (PATCH; idempotent, but kept single-shot like create).
    pub async fn update_comment(
        &self,
        repo: &Repo,
        id: u64,
        body: &str,
    ) -> Result<IssueComment, GithubError> {
        let route = format!("/repos/{repo}/issues/comments/{id}");
        self.budget.take(&route, self.clock.now())?;
        self.octocrab
            .patch(&route, Some(&serde_json::json!({ "body": body })))
            .await
            .map_err(|e| GithubError::from_octocrab(&route, e))
    }
}

/// Percent-encodes everything but unreserved characters and `/` (octocrab does not encode paths).
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
