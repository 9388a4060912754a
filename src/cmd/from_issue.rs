//! `kv-jit new --from-issue N`: the request workflow's step. Reads issue N through the GitHub
//! API (never from the event payload or a shell variable), refuses anything but an open issue
//! carrying the form's label, binds the requester to the **issue's author** through the config's
//! `identities` (the form has no requester field: nobody can ask for someone else), parses the
//! form's rendered body, validates the request like any other, and writes
//! `<dir>/issue-N.yaml` with `issue: N` (never overwriting). It prints the path on stdout; the
//! workflow commits it to a branch and opens the pull request.

use std::path::Path;

use chrono::{DateTime, Utc};

use kv_jit_core::diag::{Format, Sink, render};
use kv_jit_core::request::{RequestId, issue_form};

use super::pr::GithubEnv;
use crate::Exit;
use crate::output;

pub fn run(
    number: u64,
    dir: &Path,
    config_path: &Path,
    now: DateTime<Utc>,
    format: Format,
    annotate: bool,
) -> Exit {
    let config = match super::load_config(config_path, format, annotate) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let env: std::collections::HashMap<String, String> = std::env::vars().collect();
    let github = match GithubEnv::from_env(&env) {
        Ok(g) => g,
        Err(e) => {
            return fail(
                &format!("--from-issue reads the issue through GitHub: {e}"),
                Exit::Usage,
            );
        }
    };
    let runtime = super::runtime();
    let _guard = runtime.enter();
    let client = match github.client() {
        Ok(c) => c,
        Err(e) => return fail(&e, Exit::Usage),
    };
    let issue = match runtime.block_on(client.issue(&github.repo, number)) {
        Ok(i) => i,
        Err(e) => return fail(&format!("cannot read issue #{number}: {e}"), Exit::Problems),
    };
    if issue.number != number || !issue.is_in(&github.repo) {
        return fail(
            &format!("issue #{number} is not an issue of this repository (transferred?)"),
            Exit::Problems,
        );
    }
    if issue.pull_request.is_some() {
        return fail(
            &format!("#{number} is a pull request, not an issue"),
            Exit::Problems,
        );
    }
    if issue.state != "open" {
        return fail(
            &format!("issue #{number} is {}", issue.state),
            Exit::Problems,
        );
    }
    if !issue
        .labels
        .iter()
        .any(|l| l.name.eq_ignore_ascii_case(issue_form::LABEL))
    {
        return fail(
            &format!(
                "issue #{number} does not carry the `{}` label of the request form",
                issue_form::LABEL
            ),
            Exit::Problems,
        );
    }
    let Some(author) = issue.user.as_ref().map(|u| u.login.clone()) else {
        return fail(&format!("issue #{number} has no author"), Exit::Problems);
    };
    let Some(requester) = config
        .identities
        .iter()
        .find(|(login, _)| login.eq_ignore_ascii_case(&author))
        .map(|(_, upn)| upn.to_string())
    else {
        return fail(
            &format!(
                "@{author} opened issue #{number} but is not in `identities`, so cannot request access"
            ),
            Exit::Problems,
        );
    };
    let fields = issue_form::parse(issue.body.as_deref().unwrap_or_default());
    let text = issue_form::to_yaml(&fields, &requester, number);
    let id = format!("issue-{number}");
    let Ok(request_id) = RequestId::parse(&id) else {
        return fail("bad request id", Exit::Problems);
    };
    let path = dir.join(format!("{id}.yaml"));
    let shown = path.to_string_lossy().replace('\\', "/");
    let mut sink = Sink::new(shown.clone());
    let valid = kv_jit_core::request::parse_raw(text.as_bytes(), &mut sink).and_then(|raw| {
        kv_jit_core::policy::check(&raw, Some(request_id), &config, Some(now), &mut sink)
    });
    if valid.is_none() {
        output::stdout(&render(&sink.diags, format, annotate));
        return fail(
            &format!(
                "issue #{number} does not make a valid request ({} problems)",
                sink.diags.len()
            ),
            Exit::Problems,
        );
    }
    if let Some(parent) = path.parent()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        return fail(
            &format!("cannot create {}: {e}", parent.display()),
            Exit::Problems,
        );
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path);
    match file.and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes())) {
        Ok(()) => {
            output::stdout(&format!("{shown}\n"));
            Exit::Ok
        }
        Err(e) => fail(
            &format!("cannot write {shown} (never overwritten): {e}"),
            Exit::Problems,
        ),
    }
}

fn fail(message: &str, code: Exit) -> Exit {
    output::stderr(&format!("error: {message}\n"));
    code
}
