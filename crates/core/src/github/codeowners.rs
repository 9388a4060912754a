//! CODEOWNERS as GitHub reads it.
//!
//! Written in-tree (about 200 lines) instead of taken from a crate: of the crates measured in the
//! reference only one passed the 34-case table, and it has a single release by a single author.
//! The whole table lives in `tests/codeowners.rs`.
//!
//! Rules (GitHub docs, "About code owners"):
//! - the file is looked up at `.github/`, the root, then `docs/`; the first found counts, and the
//!   copy on the pull request's *base* branch is the one that counts;
//! - gitignore-like patterns, but `!` negation, `[ ]` ranges and `\` escapes do not work: such lines
//!   are invalid and skipped (and reported);
//! - the last matching line wins; a line with a pattern and no owners un-owns what it matches;
//! - owners are `@user`, `@org/team` or an e-mail address; paths are case-sensitive, owner names are
//!   not (compare them with [`Owner::same_as`]).

use std::fmt;

/// Where GitHub looks for the file, in order; the first one found is used.
pub const LOCATIONS: [&str; 3] = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];

/// GitHub does not load a CODEOWNERS file of 3 MB or more.
pub const MAX_SIZE: usize = 3 * 1024 * 1024;

/// One owner named on a CODEOWNERS line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// `@login`
    User(String),
    /// `@org/team-slug`
    Team { org: String, slug: String },
    /// An e-mail address registered to a GitHub account.
    Email(String),
}

impl Owner {
    /// Case-insensitive equality: GitHub logins, org and team names ignore case.
    pub fn same_as(&self, other: &Owner) -> bool {
        self.to_string().eq_ignore_ascii_case(&other.to_string())
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::User(login) => write!(f, "@{login}"),
            Owner::Team { org, slug } => write!(f, "@{org}/{slug}"),
            Owner::Email(email) => f.write_str(email),
        }
    }
}

/// What the file says about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership<'a> {
    /// No line matches the path.
    Unmatched,
    /// The last matching line (1-based `line`) names no owners: the path is explicitly un-owned.
    Unowned { line: usize },
    /// The last matching line (1-based) and its owners, in file order.
    Owned { line: usize, owners: &'a [Owner] },
}

impl Ownership<'_> {
    /// The owners, empty when the path is unmatched or un-owned.
    pub fn owners(&self) -> &[Owner] {
        match self {
            Ownership::Owned { owners, .. } => owners,
            _ => &[],
        }
    }
}

/// A line GitHub skips, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CODEOWNERS line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, Clone)]
struct Rule {
    line: usize,
    /// Pattern segments; unanchored patterns start with `**`.
    segments: Vec<String>,
    /// A trailing `/`: matches only a directory (so only paths below it).
    dir_only: bool,
    owners: Vec<Owner>,
}

/// A parsed CODEOWNERS file: valid rules in file order plus the lines that were skipped.
#[derive(Debug, Clone, Default)]
pub struct Codeowners {
    rules: Vec<Rule>,
    errors: Vec<LineError>,
}

impl Codeowners {
    /// Parses the file text. Invalid lines are skipped (as GitHub does) and listed in
    /// [`Codeowners::errors`]; callers that must fail closed check that list.
    pub fn parse(text: &str) -> Codeowners {
        let mut out = Codeowners::default();
        if text.len() >= MAX_SIZE {
            out.errors.push(LineError {
                line: 0,
                message: format!(
                    "file is {} bytes; GitHub ignores CODEOWNERS of 3 MB or more",
                    text.len()
                ),
            });
            return out;
        }
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            match parse_line(raw.trim_end_matches('\r')) {
                Ok(Some((pattern, owners))) => {
                    let (segments, dir_only) = compile(pattern);
                    out.rules.push(Rule {
                        line,
                        segments,
                        dir_only,
                        owners,
                    });
                }
                Ok(None) => {}
                Err(message) => out.errors.push(LineError { line, message }),
            }
        }
        out
    }

    /// Lines GitHub would skip as invalid.
    pub fn errors(&self) -> &[LineError] {
        &self.errors
    }

    /// Who owns `path` (repository-relative, `/`-separated, no leading `/`): the last matching
    /// line wins.
    pub fn ownership(&self, path: &str) -> Ownership<'_> {
        let path: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        for rule in self.rules.iter().rev() {
            if rule_matches(rule, &path) {
                return if rule.owners.is_empty() {
                    Ownership::Unowned { line: rule.line }
                } else {
                    Ownership::Owned {
                        line: rule.line,
                        owners: &rule.owners,
                    }
                };
            }
        }
        Ownership::Unmatched
    }
}

/// `Ok(None)` for blank and comment lines; `Err` for a line GitHub skips.
fn parse_line(line: &str) -> Result<Option<(&str, Vec<Owner>)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut tokens = line.split_whitespace();
    let pattern = tokens.next().unwrap_or_default();
    if pattern.starts_with('!') {
        return Err(format!(
            "invalid pattern `{pattern}`: `!` negation is not supported"
        ));
    }
    if pattern.contains(['[', ']']) {
        return Err(format!(
            "invalid pattern `{pattern}`: `[ ]` character ranges are not supported"
        ));
    }
    if pattern.contains('\\') {
        return Err(format!(
            "invalid pattern `{pattern}`: `\\` escapes are not supported"
        ));
    }
    if pattern.contains("***") || pattern == "/" {
        return Err(format!("invalid pattern `{pattern}`"));
    }
    let mut owners = Vec::new();
    for token in tokens {
        if token.starts_with('#') {
            break; // inline comment
        }
        owners.push(parse_owner(token)?);
    }
    Ok(Some((pattern, owners)))
}

fn parse_owner(token: &str) -> Result<Owner, String> {
    let invalid = || {
        Err(format!(
            "invalid owner `{token}`: expected @user, @org/team or an e-mail address"
        ))
    };
    if let Some(name) = token.strip_prefix('@') {
        return match name.split_once('/') {
            None if user_login_ok(name) => Ok(Owner::User(name.to_owned())),
            Some((org, slug))
                if plain_login_ok(org)
                    && !slug.is_empty()
                    && slug
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
            {
                Ok(Owner::Team {
                    org: org.to_owned(),
                    slug: slug.to_owned(),
                })
            }
            _ => invalid(),
        };
    }
    match token.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.contains('@') =>
        {
            Ok(Owner::Email(token.to_owned()))
        }
        _ => invalid(),
    }
}

/// A GitHub account or organization name: ASCII letters, digits and `-`, not starting with `-`,
/// at most 39 characters. (New accounts also cannot end with `-` or hold `--`, but older ones
/// can, so those are accepted.)
fn plain_login_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 39
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
}

/// A user login: a plain login, or an Enterprise Managed User's `handle_shortcode` (the
/// normalized IdP handle, one `_`, the enterprise's alphanumeric short code; the setup user is
/// `shortcode_admin`), 39 characters in all at most.
fn user_login_ok(s: &str) -> bool {
    match s.split_once('_') {
        None => plain_login_ok(s),
        Some((handle, shortcode)) => {
            s.len() <= 39
                && plain_login_ok(handle)
                && !shortcode.is_empty()
                && shortcode.chars().all(|c| c.is_ascii_alphanumeric())
        }
    }
}

/// CODEOWNERS as GitHub picks it: the first of [`LOCATIONS`] that `read` finds (`read` returns
/// the file's text at whatever commit or branch the caller trusts), with its path. Pure, so the
/// grant path can read local git and the PR check the contents API with the same rule.
pub fn pick(mut read: impl FnMut(&str) -> Option<String>) -> Option<(String, Codeowners)> {
    LOCATIONS
        .iter()
        .find_map(|path| read(path).map(|text| (path.to_string(), Codeowners::parse(&text))))
}

/// Turns a pattern into segments. A pattern with a `/` at its start or middle is anchored at the
/// root; otherwise it matches at any depth (a leading `**`).
fn compile(pattern: &str) -> (Vec<String>, bool) {
    let dir_only = pattern.ends_with('/');
    let trimmed = pattern.trim_end_matches('/');
    let anchored = trimmed.contains('/');
    let mut segments: Vec<String> = Vec::new();
    if !anchored {
        segments.push("**".into());
    }
    segments.extend(
        trimmed
            .trim_start_matches('/')
            .split('/')
            .map(str::to_owned),
    );
    (segments, dir_only)
}

fn rule_matches(rule: &Rule, path: &[&str]) -> bool {
    // A final lone `*` matches the files of that one directory only (`docs/*` does not reach
    // `docs/a/b.md`, GitHub docs); any other pattern also matches everything below a match.
    let below = rule.segments.last().is_none_or(|s| s != "*");
    match_segments(&rule.segments, path, below, rule.dir_only)
}

fn match_segments(pattern: &[String], path: &[&str], below: bool, dir_only: bool) -> bool {
    match pattern.split_first() {
        None => {
            if path.is_empty() {
                !dir_only
            } else {
                below
            }
        }
        Some((first, rest)) if first == "**" => {
            if rest.is_empty() {
                return !path.is_empty();
            }
            (0..=path.len()).any(|skip| match_segments(rest, &path[skip..], below, dir_only))
        }
        Some((first, rest)) => match path.split_first() {
            Some((segment, tail)) if glob(first, segment) => {
                match_segments(rest, tail, below, dir_only)
            }
            _ => false,
        },
    }
}

/// `*` (any run) and `?` (one character) within one path segment; case-sensitive. Greedy
/// matching that backtracks only to the last `*`, so it is linear-ish even on hostile patterns.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}
