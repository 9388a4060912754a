//! `kv-jit new`: scaffolds a request file that already passes `validate`, from flags or prompts.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::Exit;
use crate::cli::NewArgs;
use crate::output::{self, Fatal};
use kv_jit_core::config::Config;
use kv_jit_core::diag::{Format, Sink, render};
use kv_jit_core::request::{RequestId, parse_raw};

pub fn run(
    args: &NewArgs,
    config_path: &Path,
    now: DateTime<Utc>,
    format: Format,
    annotate: bool,
) -> Exit {
    if let Some(number) = args.from_issue {
        return super::from_issue::run(number, &args.dir, config_path, now, format, annotate);
    }
    let config = match super::load_config(config_path, format, annotate) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut args = NewArgsFilled::from(args, &config);
    let interactive = std::io::stdin().is_terminal();
    let missing = args.missing();
    if !missing.is_empty() {
        if !interactive {
            let list = missing
                .iter()
                .map(|m| format!("--{m}"))
                .collect::<Vec<_>>()
                .join(", ");
            // Who the request is for is never guessed: only a `git config user.email` the
            // config's identities know stands in for --requester.
            let help = if missing.contains(&"requester") {
                let why = match git_email() {
                    Some(e) => format!(
                        "`git config user.email` is `{}`, which the config's identities do not map to a GitHub login",
                        kv_jit_core::names::escape(&e)
                    ),
                    None => "`git config user.email` is not set".to_owned(),
                };
                format!(
                    "kv-jit new will not guess who the request is for ({why}): pass --requester with your Entra user principal name, e.g. --requester alice@contoso.com"
                )
            } else {
                "pass them as flags, e.g. kv-jit new --secret demo-api-key --duration 2h --justification \"...\"".to_owned()
            };
            return output::fatal(Fatal::usage("usage", format!("missing {list}")).help(help));
        }
        if let Err(e) = args.prompt(&config, now) {
            return output::fatal(Fatal::usage("usage", e.to_string()));
        }
    }
    let (Some(vault), Some(secret), Some(duration), Some(justification), Some(requester)) = (
        &args.vault,
        &args.secret,
        &args.duration,
        &args.justification,
        &args.requester,
    ) else {
        return output::fatal(Fatal::usage("usage", "a required value is still missing"));
    };
    let id = match &args.id {
        Some(id) => id.clone(),
        None => default_id(requester, secret, now),
    };
    let id = match RequestId::parse(&id) {
        Ok(id) => id,
        Err(m) => {
            return output::fatal(Fatal::usage("invalid-argument", format!("--id: {m}")));
        }
    };
    let path = args.dir.join(format!("{id}.yaml"));
    let text = render_request(
        &path,
        &args,
        vault,
        secret,
        duration,
        justification,
        requester,
    );

    // The scaffold must pass the same checks as a filed request, so problems show now, not in CI.
    let shown = path.to_string_lossy().replace('\\', "/");
    let mut sink = Sink::new(shown.clone());
    let valid = parse_raw(text.as_bytes(), &mut sink).and_then(|raw| {
        kv_jit_core::policy::check(&raw, Some(id.clone()), &config, Some(now), &mut sink)
    });
    if valid.is_none() {
        if format != Format::Json {
            output::stdout(&render(&sink.diags, format, annotate));
        }
        return output::fatal(
            Fatal::usage(
                "request-invalid",
                "the request would not validate; nothing was written (positions refer to the file it would have written)",
            )
            .diagnostics(sink.diags),
        );
    }
    if let Some(parent) = path.parent()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        return output::fatal(Fatal::usage(
            "write-failed",
            format!("cannot create {}: {e}", parent.display()),
        ));
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path);
    match file.and_then(|mut f| f.write_all(text.as_bytes())) {
        Ok(()) => {
            output::stdout(&format!("{shown}\n"));
            output::stderr(&format!(
                "created {shown}: commit it on a branch and open a pull request\n"
            ));
            Exit::Ok
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => output::fatal(
            Fatal::usage(
                "file-exists",
                format!("{shown} already exists; kv-jit never overwrites a request"),
            )
            .help("pick another --id"),
        ),
        Err(e) => output::fatal(Fatal::usage(
            "write-failed",
            format!("cannot write {shown}: {e}"),
        )),
    }
}

struct NewArgsFilled {
    vault: Option<String>,
    secret: Option<String>,
    duration: Option<String>,
    justification: Option<String>,
    requester: Option<String>,
    role: Option<String>,
    start: Option<String>,
    ticket: Option<String>,
    id: Option<String>,
    dir: PathBuf,
}

impl NewArgsFilled {
    fn from(a: &NewArgs, config: &Config) -> Self {
        let only_vault = (config.vaults.len() == 1)
            .then(|| config.vaults.keys().next().expect("one").to_string());
        Self {
            vault: a.vault.clone().or(only_vault),
            secret: a.secret.clone(),
            duration: a.duration.clone(),
            justification: a.justification.clone(),
            // `git config user.email` only when it is a UPN the identities map binds to a
            // login: a work address that differs from the Entra sign-in is a wrong guess.
            requester: a.requester.clone().or_else(|| {
                git_email()
                    .filter(|e| !config.identities.is_empty() && known_requester(config, e).is_ok())
            }),
            role: a.role.clone(),
            start: a.start.clone(),
            ticket: a.ticket.clone(),
            id: a.id.clone(),
            dir: a.dir.clone(),
        }
    }

    fn missing(&self) -> Vec<&'static str> {
        [
            ("vault", &self.vault),
            ("secret", &self.secret),
            ("duration", &self.duration),
            ("justification", &self.justification),
            ("requester", &self.requester),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k)
        .collect()
    }

    fn prompt(&mut self, config: &Config, now: DateTime<Utc>) -> std::io::Result<()> {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut out = std::io::stderr();
        prompt_missing(self, config, now, &mut input, &mut out)
    }
}

/// How many answers one question takes before `new` gives up (a stuck script, not a person).
const MAX_TRIES: usize = 5;

/// Asks for every value still missing, in order (vault, secret, duration, justification,
/// requester), over any reader and writer: the terminal in `new`, strings in tests. Each answer
/// is checked by the same rules `validate` applies (the request so far is rendered and checked,
/// and the problems on the answer's own line count); a bad answer is asked again with the
/// reason. End of input, or [`MAX_TRIES`] bad answers, is an error.
fn prompt_missing(
    args: &mut NewArgsFilled,
    config: &Config,
    now: DateTime<Utc>,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let vaults: Vec<String> = config.vaults.keys().map(|v| v.to_string()).collect();
    if args.vault.is_none() {
        let label = format!("vault ({})", vaults.join(", "));
        args.vault = Some(ask(input, out, &label, |v| {
            args.check("vault", v, config, now)
        })?);
    }
    if args.secret.is_none() {
        let allowed = args
            .vault
            .as_deref()
            .and_then(|v| kv_jit_core::names::VaultName::parse(v).ok())
            .and_then(|v| config.vaults.get(&v))
            .map(|p| {
                p.secrets
                    .value
                    .iter()
                    .map(|s| s.text.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let label = format!("secret ({allowed})");
        args.secret = Some(ask(input, out, &label, |v| {
            args.check("secret", v, config, now)
        })?);
    }
    if args.duration.is_none() {
        args.duration = Some(ask(input, out, "duration (e.g. 30m, 2h)", |v| {
            args.check("duration", v, config, now)
        })?);
    }
    if args.justification.is_none() {
        args.justification = Some(ask(input, out, "justification", |v| {
            args.check("justification", v, config, now)
        })?);
    }
    if args.requester.is_none() {
        args.requester = Some(ask(
            input,
            out,
            "requester (your Entra sign-in, e.g. alice@contoso.com)",
            |v| {
                args.check("requester", v, config, now)?;
                known_requester(config, v).map(|()| v.to_owned())
            },
        )?);
    }
    Ok(())
}

/// One question: prints `label: `, reads a line, and asks again (saying why) until `check`
/// accepts the trimmed answer. Returns what `check` returned.
fn ask(
    input: &mut impl BufRead,
    out: &mut impl Write,
    label: &str,
    check: impl Fn(&str) -> Result<String, String>,
) -> std::io::Result<String> {
    for _ in 0..MAX_TRIES {
        write!(out, "{label}: ")?;
        out.flush()?;
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            writeln!(out)?;
            return Err(std::io::Error::other(format!(
                "no answer for {label} (end of input)"
            )));
        }
        let answer = line.trim();
        if answer.is_empty() {
            writeln!(out, "  an answer is needed")?;
            continue;
        }
        match check(answer) {
            Ok(v) => return Ok(v),
            Err(reason) => writeln!(out, "  {reason}; try again")?,
        }
    }
    Err(std::io::Error::other(format!(
        "no valid answer for {label} after {MAX_TRIES} tries"
    )))
}

/// Whether `upn` is one the config's identities map binds to a GitHub login (any UPN when the
/// map is empty): the PR check refuses a requester the PR author is not bound to.
fn known_requester(config: &Config, upn: &str) -> Result<(), String> {
    if config.identities.is_empty()
        || config
            .identities
            .values()
            .any(|u| u.to_string().eq_ignore_ascii_case(upn))
    {
        return Ok(());
    }
    Err(format!(
        "`{}` is not in the config's identities, so the PR check would refuse it; give the user principal name your GitHub login is mapped to",
        kv_jit_core::names::escape(upn)
    ))
}

impl NewArgsFilled {
    /// The problems `validate` finds on `key`'s line of the request rendered with the values
    /// given so far plus `value` for `key` (fields still missing only add problems elsewhere).
    fn check(
        &self,
        key: &str,
        value: &str,
        config: &Config,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        let q = |s: &str| serde_json::to_string(s).expect("strings serialize");
        let fields = [
            ("requester", &self.requester),
            ("vault", &self.vault),
            ("secret", &self.secret),
            ("duration", &self.duration),
            ("justification", &self.justification),
            ("role", &self.role),
            ("start", &self.start),
            ("ticket", &self.ticket),
        ];
        let mut text = String::from("apiVersion: kv-jit/v1\nkind: AccessRequest\n");
        let mut line_of_key = 0;
        for (k, v) in fields {
            let v = if k == key { Some(value) } else { v.as_deref() };
            if let Some(v) = v {
                if k == key {
                    line_of_key = text.lines().count() + 1;
                }
                text.push_str(&format!("{k}: {}\n", q(v)));
            }
        }
        let mut sink = Sink::new("answer".to_owned());
        if let Some(raw) = parse_raw(text.as_bytes(), &mut sink) {
            kv_jit_core::policy::check(&raw, None, config, Some(now), &mut sink);
        }
        let problem = sink.diags.iter().find(|d| {
            d.line as usize == line_of_key && d.severity == kv_jit_core::diag::Severity::Error
        });
        match problem {
            None => Ok(value.to_owned()),
            Some(d) => Err(match &d.help {
                Some(h) => format!("{} ({h})", d.message),
                None => d.message.clone(),
            }),
        }
    }
}

fn git_email() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["config", "user.email"])
        .output()
        .ok()?;
    let email = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !email.is_empty()).then_some(email)
}

fn default_id(requester: &str, secret: &str, now: DateTime<Utc>) -> String {
    let local: String = requester
        .split('@')
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "{}/{local}-{secret}-{}",
        now.format("%Y"),
        now.format("%m%d%H%M")
    )
}

/// Values are written as JSON strings, which are valid YAML double-quoted scalars: whatever a
/// flag holds, it stays one value and cannot add keys.
fn render_request(
    path: &Path,
    a: &NewArgsFilled,
    vault: &str,
    secret: &str,
    duration: &str,
    justification: &str,
    requester: &str,
) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("strings serialize");
    let mut out = format!("# yaml-language-server: $schema={}\n", schema_ref(path));
    out.push_str("apiVersion: kv-jit/v1\nkind: AccessRequest\n");
    out.push_str(&format!("requester: {}\n", q(requester)));
    out.push_str(&format!("vault: {}\n", q(vault)));
    out.push_str(&format!("secret: {}\n", q(secret)));
    out.push_str(&format!("duration: {}\n", q(duration)));
    out.push_str(&format!("justification: {}\n", q(justification)));
    for (key, value) in [
        ("role", &a.role),
        ("start", &a.start),
        ("ticket", &a.ticket),
    ] {
        if let Some(v) = value {
            out.push_str(&format!("{key}: {}\n", q(v)));
        }
    }
    out
}

/// The committed schema, relative to the new file (editors resolve it against the file).
fn schema_ref(path: &Path) -> String {
    let depth = path.parent().map_or(0, |p| {
        p.components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .count()
    });
    format!("{}{}", "../".repeat(depth), super::schema::COMMITTED_PATH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_ref_climbs_to_the_root() {
        assert_eq!(
            schema_ref(Path::new("requests/2026/a.yaml")),
            "../../schema/request.schema.json"
        );
        assert_eq!(
            schema_ref(Path::new("requests/a.yaml")),
            "../schema/request.schema.json"
        );
    }

    fn example_config() -> Config {
        let mut sink = Sink::new(".github/kv-jit.yml".to_owned());
        kv_jit_core::config::parse(include_bytes!("../../.github/kv-jit.yml"), &mut sink)
            .expect("the example config parses")
    }

    fn empty_args() -> NewArgsFilled {
        NewArgsFilled {
            vault: None,
            secret: None,
            duration: None,
            justification: None,
            requester: None,
            role: None,
            start: None,
            ticket: None,
            id: None,
            dir: PathBuf::from("requests"),
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-11-27T09:05:00Z".parse().unwrap()
    }

    /// Runs the prompts over `answers`; returns the filled values and what was written.
    fn converse(answers: &str) -> (std::io::Result<()>, NewArgsFilled, String) {
        let config = example_config();
        let mut args = empty_args();
        let mut out = Vec::new();
        let r = prompt_missing(&mut args, &config, now(), &mut answers.as_bytes(), &mut out);
        (r, args, String::from_utf8(out).unwrap())
    }

    #[test]
    fn every_prompt_re_asks_a_bad_answer_with_the_reason() {
        let (r, args, said) = converse(
            "nope-kv\nflowlibs-demo-kv\ndemo/../x\nnot-listed\ndemo-api-key\n9h\nforever\n2h\nshort\n\nRotate the partner API client after INC-4821\nalice\nmallory@contoso.com\nalice@contoso.com\n",
        );
        r.unwrap();
        assert_eq!(args.vault.as_deref(), Some("flowlibs-demo-kv"));
        assert_eq!(args.secret.as_deref(), Some("demo-api-key"));
        assert_eq!(args.duration.as_deref(), Some("2h"));
        assert_eq!(
            args.justification.as_deref(),
            Some("Rotate the partner API client after INC-4821")
        );
        assert_eq!(args.requester.as_deref(), Some("alice@contoso.com"));
        let reasons: Vec<&str> = said
            .lines()
            .filter(|l| l.contains("try again") || l.contains("needed"))
            .collect();
        assert_eq!(reasons.len(), 9, "{said}");
        for (i, part) in [
            "nope-kv",    // an unknown vault
            "`/`",        // a character a secret name cannot hold
            "not-listed", // not on the allow-list
            "4h",         // over the vault's max
            "forever",    // not a duration
            "too short",  // the justification
            "an answer is needed",
            "`alice`",    // not a UPN
            "identities", // a UPN nobody is bound to
        ]
        .iter()
        .enumerate()
        {
            assert!(
                reasons[i].contains(part),
                "reason {i} lacks `{part}`: {}",
                reasons[i]
            );
        }
        assert!(said.starts_with("vault (flowlibs-demo-kv): "), "{said}");
    }

    #[test]
    fn the_prompts_give_up_at_the_end_of_input_or_after_too_many_tries() {
        let (r, args, _) = converse("flowlibs-demo-kv\n");
        assert!(r.unwrap_err().to_string().contains("end of input"));
        assert_eq!(args.vault.as_deref(), Some("flowlibs-demo-kv"));
        let (r, _, said) = converse(&"nope\n".repeat(MAX_TRIES + 1));
        assert!(r.unwrap_err().to_string().contains("after 5 tries"));
        assert_eq!(said.matches("try again").count(), MAX_TRIES);
    }

    #[test]
    fn only_a_known_git_email_stands_in_for_the_requester() {
        let config = example_config();
        assert!(known_requester(&config, "Alice@Contoso.com").is_ok());
        assert!(known_requester(&config, "alice@gmail.com").is_err());
    }

    #[test]
    fn every_rendered_request_ends_with_a_newline() {
        let mut a = empty_args();
        for (role, start, ticket) in [
            (None, None, None),
            (Some("secrets-user"), None, None),
            (None, Some("2026-11-28T09:00:00Z"), Some("INC-1")),
        ] {
            a.role = role.map(Into::into);
            a.start = start.map(Into::into);
            a.ticket = ticket.map(Into::into);
            let text = render_request(
                Path::new("requests/2026/a.yaml"),
                &a,
                "flowlibs-demo-kv",
                "demo-api-key",
                "2h",
                "multi\nline justification",
                "alice@contoso.com",
            );
            assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{text:?}");
        }
    }

    #[test]
    fn default_id_is_a_valid_id() {
        let now: DateTime<Utc> = "2026-11-27T09:05:00Z".parse().unwrap();
        let id = default_id("Alice.Smith@contoso.com", "demo-api-key", now);
        assert_eq!(id, "2026/alice-smith-demo-api-key-11270905");
        assert!(RequestId::parse(&id).is_ok());
    }
}
