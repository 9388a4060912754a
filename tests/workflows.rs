//! The security properties of `action.yml` and of every workflow in `.github/workflows/`,
//! checked on the parsed YAML (and, where a property lives in the text, on the lines): no
//! `pull_request_target`; `permissions: {}` at the top and explicit permissions per job; every
//! `uses:` is `./` or pinned to a full commit SHA with a version comment; no `${{ … }}` inside a
//! `run:` script; `persist-credentials: false` on every checkout; the ledger writers share one
//! concurrency group that never cancels a run; `id-token: write` only where Azure (or a Sigstore
//! attestation) needs it. Each check is also run on a table of bad snippets, so each can fail.
//!
//! The checks take every file in the folder, so workflows added later are covered too.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One YAML file: its text and its parsed form.
struct Doc {
    name: String,
    text: String,
    yaml: Value,
}

impl Doc {
    fn parse(name: &str, text: &str) -> Doc {
        let yaml: Value = serde_saphyr::from_str(text)
            .unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"));
        assert!(yaml.is_object(), "{name}: not a mapping");
        Doc {
            name: name.to_owned(),
            text: text.to_owned(),
            yaml,
        }
    }

    fn read(path: &Path) -> Doc {
        let text = std::fs::read_to_string(path).unwrap();
        let name = path
            .strip_prefix(root())
            .unwrap_or(path)
            .display()
            .to_string();
        Doc::parse(&name, &text)
    }

    fn is_action(&self) -> bool {
        self.yaml.get("runs").is_some()
    }

    /// `(job id, job)` for a workflow; none for an action.
    fn jobs(&self) -> Vec<(&str, &Value)> {
        self.yaml
            .get("jobs")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
            .unwrap_or_default()
    }

    /// Every step, with where it is: the jobs' steps, or the composite action's.
    fn steps(&self) -> Vec<(String, &Value)> {
        let mut out = Vec::new();
        if let Some(steps) = self.yaml.pointer("/runs/steps").and_then(Value::as_array) {
            for (i, s) in steps.iter().enumerate() {
                out.push((format!("runs.steps[{i}]"), s));
            }
        }
        for (id, job) in self.jobs() {
            for (i, s) in job_steps(job).iter().enumerate() {
                out.push((format!("jobs.{id}.steps[{i}]"), s));
            }
        }
        out
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn job_steps(job: &Value) -> &[Value] {
    job.get("steps")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn workflows() -> Vec<Doc> {
    let dir = root().join(".github/workflows");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| Doc::read(p)).collect()
}

fn action() -> Doc {
    Doc::read(&root().join("action.yml"))
}

fn all_docs() -> Vec<Doc> {
    let mut docs = workflows();
    docs.push(action());
    docs
}

fn s(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

/// A YAML boolean, or GitHub's string spelling of one.
fn is_false(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(false))) || s(v) == Some("false")
}

// ---------------------------------------------------------------------------------------------
// The checks: each returns the problems it finds (empty: fine).

/// No `pull_request_target` trigger, in any of the `on:` spellings.
fn no_pull_request_target(d: &Doc) -> Vec<String> {
    // A YAML 1.1 reader turns the key `on` into `true`; look under both.
    let on = d.yaml.get("on").or_else(|| d.yaml.get("true"));
    let named = match on {
        Some(Value::String(e)) => vec![e.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        Some(Value::Object(map)) => map.keys().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    named
        .into_iter()
        .filter(|e| *e == "pull_request_target")
        .map(|_| format!("{}: triggers on pull_request_target", d.name))
        .collect()
}

/// A workflow: `permissions: {}` at the top, and every job names its own (a mapping).
fn least_permissions(d: &Doc) -> Vec<String> {
    if d.is_action() {
        return Vec::new();
    }
    let mut out = Vec::new();
    match d.yaml.get("permissions") {
        Some(Value::Object(m)) if m.is_empty() => {}
        other => out.push(format!(
            "{}: top-level permissions must be {{}}, found {other:?}",
            d.name
        )),
    }
    for (id, job) in d.jobs() {
        match job.get("permissions") {
            Some(Value::Object(_)) => {}
            other => out.push(format!(
                "{}: job {id} must list its permissions (a mapping, {{}} for none), found {other:?}",
                d.name
            )),
        }
    }
    out
}

fn is_sha(r: &str) -> bool {
    r.len() == 40
        && r.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Every `uses:` is this repository (`./`) or a full commit SHA, and a pinned one says which
/// version it is in a comment on its line.
fn pinned_uses(d: &Doc) -> Vec<String> {
    let mut out = Vec::new();
    let mut uses: Vec<(String, &str)> = d
        .steps()
        .into_iter()
        .filter_map(|(at, step)| s(step.get("uses")).map(|u| (at, u)))
        .collect();
    // Reusable workflows: `jobs.<id>.uses`.
    for (id, job) in d.jobs() {
        if let Some(u) = s(job.get("uses")) {
            uses.push((format!("jobs.{id}"), u));
        }
    }
    for (at, u) in uses {
        if u == "./" || u.starts_with("./") {
            continue;
        }
        let pinned = u
            .rsplit_once('@')
            .is_some_and(|(name, r)| !name.starts_with("docker://") && is_sha(r));
        if !pinned {
            out.push(format!(
                "{}: {at} uses `{u}`, not pinned to a full commit SHA",
                d.name
            ));
            continue;
        }
        let commented = d.text.lines().any(|l| {
            let l = l.trim_start().trim_start_matches("- ").trim_start();
            l.strip_prefix("uses:")
                .and_then(|rest| rest.trim_start().strip_prefix(u))
                .is_some_and(|rest| {
                    rest.trim_start()
                        .strip_prefix('#')
                        .is_some_and(|c| !c.trim().is_empty())
                })
        });
        if !commented {
            out.push(format!(
                "{}: {at} uses `{u}` without a version comment (`# vX.Y.Z`)",
                d.name
            ));
        }
    }
    out
}

/// No expression inside a `run:` script: inputs and contexts reach scripts through `env:` only.
fn no_expressions_in_run(d: &Doc) -> Vec<String> {
    d.steps()
        .into_iter()
        .filter_map(|(at, step)| s(step.get("run")).map(|r| (at, r)))
        .filter(|(_, run)| run.contains("${{"))
        .map(|(at, _)| {
            format!(
                "{}: {at} has a ${{{{ … }}}} expression in its run script; pass it through env:",
                d.name
            )
        })
        .collect()
}

/// Every `actions/checkout` sets `persist-credentials: false`.
fn checkout_without_credentials(d: &Doc) -> Vec<String> {
    d.steps()
        .into_iter()
        .filter(|(_, step)| s(step.get("uses")).is_some_and(|u| u.starts_with("actions/checkout@")))
        .filter(|(_, step)| !is_false(step.pointer("/with/persist-credentials")))
        .map(|(at, _)| {
            format!(
                "{}: {at} checks out without persist-credentials: false",
                d.name
            )
        })
        .collect()
}

/// The kv-jit steps (`uses: ./`) of a job, with their command.
fn kv_jit_commands(job: &Value) -> Vec<&str> {
    job_steps(job)
        .iter()
        .filter(|st| s(st.get("uses")) == Some("./"))
        .map(|st| s(st.pointer("/with/command")).unwrap_or("validate"))
        .collect()
}

/// A job that writes the ledger: it runs kv-jit grant or revoke.
fn is_ledger_writer(job: &Value) -> bool {
    kv_jit_commands(job)
        .iter()
        .any(|c| *c == "grant" || *c == "revoke")
}

/// Every ledger writer, in every workflow, is in one concurrency group (its own or its
/// workflow's) that never cancels a run in progress.
fn ledger_writers_share_a_group(docs: &[Doc]) -> Vec<String> {
    let mut out = Vec::new();
    let mut groups: Vec<(String, String)> = Vec::new();
    for d in docs {
        for (id, job) in d.jobs() {
            if !is_ledger_writer(job) {
                continue;
            }
            let Some(c) = job.get("concurrency").or_else(|| d.yaml.get("concurrency")) else {
                out.push(format!(
                    "{}: ledger writer {id} has no concurrency group",
                    d.name
                ));
                continue;
            };
            let group = s(c.get("group")).or(s(Some(c)));
            let Some(group) = group else {
                out.push(format!(
                    "{}: ledger writer {id}: concurrency without a group",
                    d.name
                ));
                continue;
            };
            if group.contains("${{") {
                out.push(format!(
                    "{}: ledger writer {id}: group `{group}` varies by run; writers need one fixed group",
                    d.name
                ));
            }
            if !is_false(c.get("cancel-in-progress")) {
                out.push(format!(
                    "{}: ledger writer {id}: cancel-in-progress must be false (a cancelled run leaves Azure ahead of the ledger)",
                    d.name
                ));
            }
            groups.push((format!("{}: {id}", d.name), group.to_owned()));
        }
    }
    if let Some((_, first)) = groups.first() {
        for (at, g) in &groups {
            if g != first {
                out.push(format!(
                    "{at}: concurrency group `{g}`, but another ledger writer uses `{first}`"
                ));
            }
        }
    }
    out
}

/// `id-token: write` only in a job that signs in to Azure through kv-jit (a `./` step with
/// `AZURE_CLIENT_ID` in its env) or signs an attestation (Sigstore); never at the top.
fn id_token_only_where_needed(d: &Doc) -> Vec<String> {
    let mut out = Vec::new();
    if s(d.yaml.pointer("/permissions/id-token")) == Some("write") {
        out.push(format!("{}: id-token: write for every job", d.name));
    }
    for (id, job) in d.jobs() {
        if s(job.pointer("/permissions/id-token")) != Some("write") {
            continue;
        }
        let needs = job_steps(job).iter().any(|st| {
            let uses = s(st.get("uses")).unwrap_or("");
            (uses == "./" && st.pointer("/env/AZURE_CLIENT_ID").is_some())
                || uses.starts_with("actions/attest-build-provenance@")
                || uses.starts_with("actions/attest@")
        });
        if !needs {
            out.push(format!(
                "{}: job {id} has id-token: write but neither signs in to Azure nor attests",
                d.name
            ));
        }
    }
    out
}

/// `kv-jit init` rewrites the text `uses: ./` to `uses: OWNER/kv-jit@REF`: each kv-jit step is
/// exactly one such line, spelled `uses: ./` with nothing after it.
fn one_rewritable_uses_line_per_step(d: &Doc) -> Vec<String> {
    let parsed = d
        .steps()
        .iter()
        .filter(|(_, st)| s(st.get("uses")).is_some_and(|u| u.starts_with("./")))
        .count();
    let lines = d
        .text
        .lines()
        .filter(|l| {
            let t = l.trim_start().trim_start_matches("- ").trim_start();
            t.starts_with("uses:") && t["uses:".len()..].trim_start().starts_with("./")
        })
        .collect::<Vec<_>>();
    let mut out = Vec::new();
    if lines.len() != parsed {
        out.push(format!(
            "{}: {parsed} steps use ./ but {} lines say `uses: ./`",
            d.name,
            lines.len()
        ));
    }
    for l in lines {
        let t = l.trim_start().trim_start_matches("- ").trim_start();
        if t.trim_end() != "uses: ./" {
            out.push(format!(
                "{}: `{}` is not exactly `uses: ./`",
                d.name,
                t.trim_end()
            ));
        }
    }
    out
}

/// Every ledger writer: a full clone, the protected `kv-jit` environment, only on the default
/// branch (or a schedule, which runs there), and only when Azure is configured.
fn writers_are_guarded(d: &Doc) -> Vec<String> {
    let mut out = Vec::new();
    for (id, job) in d.jobs() {
        if !is_ledger_writer(job) {
            continue;
        }
        let env = s(job.get("environment")).or(s(job.pointer("/environment/name")));
        if env != Some("kv-jit") {
            out.push(format!(
                "{}: ledger writer {id} runs outside the kv-jit environment",
                d.name
            ));
        }
        let cond = s(job.get("if")).unwrap_or("");
        if !cond.contains("vars.KV_JIT_AZURE_CLIENT_ID != ''") {
            out.push(format!(
                "{}: ledger writer {id} runs without Azure configured",
                d.name
            ));
        }
        if !cond.contains("github.ref_name == github.event.repository.default_branch") {
            out.push(format!(
                "{}: ledger writer {id} is not held to the default branch",
                d.name
            ));
        }
        for st in job_steps(job) {
            if s(st.get("uses")).is_some_and(|u| u.starts_with("actions/checkout@"))
                && st.pointer("/with/fetch-depth").and_then(Value::as_i64) != Some(0)
            {
                out.push(format!(
                    "{}: ledger writer {id} checks out without fetch-depth: 0",
                    d.name
                ));
            }
        }
    }
    out
}

type Check = fn(&Doc) -> Vec<String>;

const CHECKS: &[(&str, Check)] = &[
    ("no_pull_request_target", no_pull_request_target),
    ("least_permissions", least_permissions),
    ("pinned_uses", pinned_uses),
    ("no_expressions_in_run", no_expressions_in_run),
    ("checkout_without_credentials", checkout_without_credentials),
    ("id_token_only_where_needed", id_token_only_where_needed),
    (
        "one_rewritable_uses_line_per_step",
        one_rewritable_uses_line_per_step,
    ),
    ("writers_are_guarded", writers_are_guarded),
];

// ---------------------------------------------------------------------------------------------
// The repository's files pass every check.

#[test]
fn every_workflow_and_the_action_pass_every_check() {
    let docs = all_docs();
    assert!(
        docs.len() >= 5,
        "action.yml and the workflows: {}",
        docs.len()
    );
    let mut problems = Vec::new();
    for d in &docs {
        for (_, check) in CHECKS {
            problems.extend(check(d));
        }
    }
    problems.extend(ledger_writers_share_a_group(&docs));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_kv_jit_workflows_are_live_and_write_the_ledger_in_one_group() {
    let docs = workflows();
    let names: Vec<&str> = docs.iter().map(|d| d.name.as_str()).collect();
    for want in [
        ".github/workflows/kv-jit-validate.yml",
        ".github/workflows/kv-jit-grant.yml",
        ".github/workflows/kv-jit-revoke.yml",
        ".github/workflows/release.yml",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let writers: Vec<String> = docs
        .iter()
        .flat_map(|d| {
            d.jobs()
                .into_iter()
                .filter(|(_, j)| is_ledger_writer(j))
                .map(|(id, _)| format!("{}:{id}", d.name))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        writers,
        [
            ".github/workflows/kv-jit-grant.yml:grant",
            ".github/workflows/kv-jit-revoke.yml:revoke"
        ]
    );
    assert!(
        !root().join("docs/workflows").exists(),
        "the example workflows moved to .github/workflows"
    );
}

#[test]
fn the_triggers_are_the_documented_ones() {
    let get = |name: &str| Doc::read(&root().join(".github/workflows").join(name));
    let validate = get("kv-jit-validate.yml");
    let paths = validate.yaml.pointer("/on/pull_request/paths").unwrap();
    assert!(paths.as_array().unwrap().contains(&"requests/**".into()));
    assert!(
        paths
            .as_array()
            .unwrap()
            .contains(&".github/kv-jit.yml".into())
    );
    assert_eq!(
        s(validate.yaml.pointer("/jobs/validate/steps/2/with/args")),
        Some("${{ vars.KV_JIT_READER_CLIENT_ID == '' && '--offline' || '' }}"),
        "the PR check signs in only as the reader identity, else runs offline"
    );
    assert_eq!(
        s(validate
            .yaml
            .pointer("/jobs/validate/steps/2/env/AZURE_CLIENT_ID")),
        Some("${{ vars.KV_JIT_READER_CLIENT_ID }}")
    );

    let grant = get("kv-jit-grant.yml");
    assert_eq!(
        grant.yaml.pointer("/on/push/paths"),
        Some(&serde_json::json!(["requests/**"]))
    );
    assert!(grant.yaml.pointer("/on/workflow_dispatch").is_some());

    let revoke = get("kv-jit-revoke.yml");
    assert_eq!(
        s(revoke.yaml.pointer("/on/schedule/0/cron")),
        Some("2-59/5 * * * *")
    );
    for input in ["request", "reason"] {
        assert!(
            revoke
                .yaml
                .pointer(&format!("/on/workflow_dispatch/inputs/{input}"))
                .is_some()
        );
    }
    // The grant identity's workflows and the reader's never share a client id.
    for d in [&grant, &revoke] {
        assert!(
            d.text
                .contains("AZURE_CLIENT_ID: ${{ vars.KV_JIT_AZURE_CLIENT_ID }}")
        );
        assert!(!d.text.contains("KV_JIT_READER_CLIENT_ID"));
        assert!(
            d.text
                .contains("KV_JIT_TEAMS_WEBHOOK: ${{ secrets.KV_JIT_TEAMS_WEBHOOK }}")
        );
    }
    assert!(!validate.text.contains("vars.KV_JIT_AZURE_CLIENT_ID"));
}

#[test]
fn the_action_ships_the_crate_version_and_passes_inputs_through_env() {
    let a = action();
    assert_eq!(s(a.yaml.pointer("/runs/using")), Some("composite"));
    assert_eq!(
        s(a.yaml.pointer("/inputs/version/default")),
        Some(env!("CARGO_PKG_VERSION")),
        "action.yml's default version is the version this commit ships"
    );
    for out in ["granted", "revoked", "failed", "refused"] {
        assert_eq!(
            s(a.yaml.pointer(&format!("/outputs/{out}/value"))),
            Some(format!("${{{{ steps.run.outputs.{out} }}}}").as_str())
        );
    }
    // Every input is read in an env: block, nowhere else.
    for input in ["command", "args", "version"] {
        let expr = format!("${{{{ inputs.{input} }}}}");
        let in_env = a.steps().iter().any(|(_, st)| {
            st.get("env")
                .and_then(Value::as_object)
                .is_some_and(|m| m.values().any(|v| v.as_str() == Some(expr.as_str())))
        });
        assert!(in_env, "inputs.{input} reaches the scripts through env:");
    }
}

// ---------------------------------------------------------------------------------------------
// Each check fails on a bad example.

const WF_HEAD: &str = "name: t\non: push\npermissions: {}\n";

fn job(body: &str) -> String {
    format!("{WF_HEAD}jobs:\n  j:\n    runs-on: ubuntu-latest\n{body}")
}

const CHECKOUT: &str = "      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n        with:\n          persist-credentials: false\n";

/// (what, the check, the snippet it must reject)
fn bad_examples() -> Vec<(&'static str, Check, String)> {
    vec![
        (
            "pull_request_target as a string",
            no_pull_request_target,
            "on: pull_request_target\npermissions: {}\njobs: {}\n".into(),
        ),
        (
            "pull_request_target in a list",
            no_pull_request_target,
            "on: [push, pull_request_target]\npermissions: {}\njobs: {}\n".into(),
        ),
        (
            "pull_request_target in a mapping",
            no_pull_request_target,
            "on:\n  pull_request_target:\n    types: [opened]\npermissions: {}\njobs: {}\n".into(),
        ),
        (
            "no top-level permissions",
            least_permissions,
            "on: push\njobs:\n  j:\n    runs-on: x\n    permissions: {}\n    steps: []\n".into(),
        ),
        (
            "top-level write-all",
            least_permissions,
            "on: push\npermissions: write-all\njobs:\n  j:\n    runs-on: x\n    permissions: {}\n    steps: []\n".into(),
        ),
        (
            "top-level contents: read",
            least_permissions,
            "on: push\npermissions:\n  contents: read\njobs:\n  j:\n    runs-on: x\n    permissions: {}\n    steps: []\n".into(),
        ),
        (
            "a job without permissions",
            least_permissions,
            job("    steps: []\n"),
        ),
        (
            "a job with read-all",
            least_permissions,
            job("    permissions: read-all\n    steps: []\n"),
        ),
        (
            "uses a tag",
            pinned_uses,
            job("    permissions: {}\n    steps:\n      - uses: actions/checkout@v4 # v4\n"),
        ),
        (
            "uses a branch",
            pinned_uses,
            job("    permissions: {}\n    steps:\n      - uses: actions/cache@main\n"),
        ),
        (
            "uses a short SHA",
            pinned_uses,
            job("    permissions: {}\n    steps:\n      - uses: actions/checkout@11bd719 # v4.2.2\n"),
        ),
        (
            "uses an uppercase SHA",
            pinned_uses,
            job("    permissions: {}\n    steps:\n      - uses: actions/checkout@11BD71901BBE5B1630CEEA73D27597364C9AF683 # v4.2.2\n"),
        ),
        (
            "uses a docker tag",
            pinned_uses,
            job("    permissions: {}\n    steps:\n      - uses: docker://alpine:3\n"),
        ),
        (
            "a pinned action without a version comment",
            pinned_uses,
            job("    permissions: {}\n    steps:\n      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683\n"),
        ),
        (
            "a reusable workflow by tag",
            pinned_uses,
            format!("{WF_HEAD}jobs:\n  j:\n    permissions: {{}}\n    uses: acme/wf/.github/workflows/x.yml@v1\n"),
        ),
        (
            "an expression in a workflow run script",
            no_expressions_in_run,
            job("    permissions: {}\n    steps:\n      - run: echo \"${{ github.event.pull_request.title }}\"\n"),
        ),
        (
            "an expression in a composite action's run script",
            no_expressions_in_run,
            "name: a\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: |\n        kv-jit ${{ inputs.args }}\n".into(),
        ),
        (
            "a checkout that keeps its credentials",
            checkout_without_credentials,
            job("    permissions: {}\n    steps:\n      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n"),
        ),
        (
            "a checkout with persist-credentials: true",
            checkout_without_credentials,
            job("    permissions: {}\n    steps:\n      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n        with:\n          persist-credentials: true\n"),
        ),
        (
            "id-token: write at the top",
            id_token_only_where_needed,
            "on: push\npermissions:\n  id-token: write\njobs: {}\n".into(),
        ),
        (
            "id-token: write in a job that never signs in",
            id_token_only_where_needed,
            job("    permissions:\n      id-token: write\n    steps:\n      - run: echo hi\n"),
        ),
        (
            "id-token: write for an offline kv-jit step",
            id_token_only_where_needed,
            job("    permissions:\n      id-token: write\n    steps:\n      - uses: ./\n        with:\n          command: validate\n"),
        ),
        (
            "a kv-jit step spelled with a trailing comment",
            one_rewritable_uses_line_per_step,
            job("    permissions: {}\n    steps:\n      - uses: ./ # local\n"),
        ),
        (
            "a kv-jit step in flow style",
            one_rewritable_uses_line_per_step,
            job("    permissions: {}\n    steps:\n      - {name: k, uses: ./}\n"),
        ),
        (
            "a ledger writer outside the environment",
            writers_are_guarded,
            job(&format!("    if: vars.KV_JIT_AZURE_CLIENT_ID != '' && github.ref_name == github.event.repository.default_branch\n    permissions: {{}}\n    steps:\n{}          fetch-depth: 0\n      - uses: ./\n        with:\n          command: grant\n", CHECKOUT)),
        ),
        (
            "a ledger writer on any branch",
            writers_are_guarded,
            job(&format!("    if: vars.KV_JIT_AZURE_CLIENT_ID != ''\n    environment: kv-jit\n    permissions: {{}}\n    steps:\n{}          fetch-depth: 0\n      - uses: ./\n        with:\n          command: revoke\n", CHECKOUT)),
        ),
        (
            "a ledger writer from a shallow clone",
            writers_are_guarded,
            job(&format!("    if: vars.KV_JIT_AZURE_CLIENT_ID != '' && github.ref_name == github.event.repository.default_branch\n    environment: kv-jit\n    permissions: {{}}\n    steps:\n{}      - uses: ./\n        with:\n          command: grant\n", CHECKOUT)),
        ),
    ]
}

#[test]
fn each_check_rejects_its_bad_examples() {
    for (what, check, text) in bad_examples() {
        let d = Doc::parse(what, &text);
        assert!(!check(&d).is_empty(), "not caught: {what}\n{text}");
    }
}

#[test]
fn the_checks_accept_a_good_example() {
    // The same shapes done right, so the table above fails for the reason it names.
    let good = job(&format!(
        "    if: vars.KV_JIT_AZURE_CLIENT_ID != '' && github.ref_name == github.event.repository.default_branch\n    environment: kv-jit\n    concurrency:\n      group: kv-jit-ledger\n      cancel-in-progress: false\n    permissions:\n      contents: write\n      id-token: write\n    steps:\n{CHECKOUT}          fetch-depth: 0\n      - run: echo \"${{GITHUB_REF}}\"\n      - uses: ./\n        with:\n          command: grant\n        env:\n          AZURE_CLIENT_ID: ${{{{ vars.KV_JIT_AZURE_CLIENT_ID }}}}\n"
    ));
    let d = Doc::parse("good", &good);
    for (name, check) in CHECKS {
        assert_eq!(check(&d), Vec::<String>::new(), "{name}");
    }
    assert_eq!(ledger_writers_share_a_group(&[d]), Vec::<String>::new());
}

#[test]
fn ledger_writers_without_one_shared_never_cancelling_group_are_rejected() {
    let writer = |concurrency: &str, command: &str| {
        Doc::parse(
            command,
            &job(&format!(
                "{concurrency}    permissions: {{}}\n    steps:\n      - uses: ./\n        with:\n          command: {command}\n"
            )),
        )
    };
    let ok = "    concurrency:\n      group: kv-jit-ledger\n      cancel-in-progress: false\n";
    assert!(ledger_writers_share_a_group(&[writer(ok, "grant"), writer(ok, "revoke")]).is_empty());
    let cases = [
        ("no group", vec![writer("", "grant")]),
        (
            "cancels in progress",
            vec![writer(
                "    concurrency:\n      group: kv-jit-ledger\n      cancel-in-progress: true\n",
                "grant",
            )],
        ),
        (
            "cancel-in-progress left out (GitHub's default is false, but say it)",
            vec![writer(
                "    concurrency:\n      group: kv-jit-ledger\n",
                "revoke",
            )],
        ),
        (
            "a per-ref group",
            vec![writer(
                "    concurrency:\n      group: kv-jit-${{ github.ref }}\n      cancel-in-progress: false\n",
                "grant",
            )],
        ),
        (
            "two groups",
            vec![
                writer(ok, "grant"),
                writer(
                    "    concurrency:\n      group: kv-jit-revoke\n      cancel-in-progress: false\n",
                    "revoke",
                ),
            ],
        ),
    ];
    for (what, docs) in cases {
        assert!(
            !ledger_writers_share_a_group(&docs).is_empty(),
            "not caught: {what}"
        );
    }
}
