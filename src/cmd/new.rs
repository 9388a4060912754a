//! `kv-jit new`: scaffolds a request file that already passes `validate`, from flags or prompts.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::Exit;
use crate::cli::NewArgs;
use crate::output;
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
            output::stderr(&format!(
                "error: missing {}\n  help: pass them as flags, e.g. kv-jit new --secret demo-api-key --duration 2h --justification \"...\"\n",
                missing
                    .iter()
                    .map(|m| format!("--{m}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return Exit::Usage;
        }
        if let Err(e) = args.prompt(&config) {
            output::stderr(&format!("error: {e}\n"));
            return Exit::Usage;
        }
    }
    let (Some(vault), Some(secret), Some(duration), Some(justification), Some(requester)) = (
        &args.vault,
        &args.secret,
        &args.duration,
        &args.justification,
        &args.requester,
    ) else {
        output::stderr("error: a required value is still missing\n");
        return Exit::Usage;
    };
    let id = match &args.id {
        Some(id) => id.clone(),
        None => default_id(requester, secret, now),
    };
    let id = match RequestId::parse(&id) {
        Ok(id) => id,
        Err(m) => {
            output::stderr(&format!("error: --id: {m}\n"));
            return Exit::Usage;
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
        output::stdout(&render(&sink.diags, format, annotate));
        output::stderr(
            "error: the request would not validate; nothing was written (positions refer to the file it would have written)\n",
        );
        return Exit::Usage;
    }
    if let Some(parent) = path.parent()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        output::stderr(&format!("error: cannot create {}: {e}\n", parent.display()));
        return Exit::Usage;
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
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            output::stderr(&format!(
                "error: {shown} already exists; kv-jit never overwrites a request\n  help: pick another --id\n"
            ));
            Exit::Usage
        }
        Err(e) => {
            output::stderr(&format!("error: cannot write {shown}: {e}\n"));
            Exit::Usage
        }
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
            requester: a.requester.clone().or_else(git_email),
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

    fn prompt(&mut self, config: &Config) -> std::io::Result<()> {
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        let mut ask = |label: &str, slot: &mut Option<String>| -> std::io::Result<()> {
            while slot.is_none() {
                output::stderr(&format!("{label}: "));
                let _ = std::io::stderr().flush();
                match lines.next() {
                    Some(line) => {
                        let line = line?;
                        let line = line.trim();
                        if !line.is_empty() {
                            *slot = Some(line.to_owned());
                        }
                    }
                    None => return Err(std::io::Error::other(format!("no answer for {label}"))),
                }
            }
            Ok(())
        };
        let vaults: Vec<String> = config.vaults.keys().map(|v| v.to_string()).collect();
        ask(&format!("vault ({})", vaults.join(", ")), &mut self.vault)?;
        let allowed = self
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
        ask(&format!("secret ({allowed})"), &mut self.secret)?;
        ask("duration (e.g. 30m, 2h)", &mut self.duration)?;
        ask("justification", &mut self.justification)?;
        ask(
            "requester (your Entra sign-in, e.g. alice@contoso.com)",
            &mut self.requester,
        )?;
        Ok(())
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

    #[test]
    fn default_id_is_a_valid_id() {
        let now: DateTime<Utc> = "2026-11-27T09:05:00Z".parse().unwrap();
        let id = default_id("Alice.Smith@contoso.com", "demo-api-key", now);
        assert_eq!(id, "2026/alice-smith-demo-api-key-11270905");
        assert!(RequestId::parse(&id).is_ok());
    }
}
