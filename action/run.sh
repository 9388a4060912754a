#!/usr/bin/env bash
# Runs kv-jit for the GitHub Action (action.yml); runnable locally (tests/action_install.rs).
#
#   KV_JIT_BIN      the installed binary (install.sh's `path`)
#   KV_JIT_COMMAND  validate, grant, revoke, plan, status, audit, report, schema, new or doctor
#   KV_JIT_ARGS     extra arguments, one per line, each passed to kv-jit as one argument exactly
#                   as written (surrounding blanks trimmed, blank lines skipped): no shell
#                   quoting, globbing or word splitting ever applies to them
#
# kv-jit's exit code is this script's. For grant and revoke the script adds `--format json`,
# prints kv-jit's report, and writes the counts of its ledger entries to $GITHUB_OUTPUT:
# granted, revoked, failed (grant_failed + revoke_failed) and refused.
set -euo pipefail
IFS=$'\n\t'

usage() {
  printf '::error title=kv-jit::%s\n' "$*" >&2
  exit 2
}

bin="${KV_JIT_BIN:-}"
[[ -n "${bin}" && -x "${bin}" ]] || usage "KV_JIT_BIN does not name an installed kv-jit"
command="${KV_JIT_COMMAND:-}"
case "${command}" in
  validate | grant | revoke | plan | status | audit | report | schema | new | doctor) ;;
  *) usage "command must be one of validate, grant, revoke, plan, status, audit, report, schema, new, doctor (got '${command//[^A-Za-z0-9 _-]/?}')" ;;
esac

args=()
while IFS= read -r line || [[ -n "${line}" ]]; do
  line="${line%$'\r'}"
  line="${line#"${line%%[![:blank:]]*}"}"
  line="${line%"${line##*[![:blank:]]}"}"
  if [[ -n "${line}" ]]; then
    args+=("${line}")
  fi
done <<<"${KV_JIT_ARGS:-}"

if [[ "${command}" != grant && "${command}" != revoke ]]; then
  exec "${bin}" "${command}" ${args[@]+"${args[@]}"}
fi

for a in ${args[@]+"${args[@]}"}; do
  [[ "${a}" == -- ]] && break
  if [[ "${a}" == --format || "${a}" == --format=* ]]; then
    usage "the action runs ${command} with --format json to count what it did: leave --format out of args"
  fi
done

report="$(mktemp)"
trap 'rm -f -- "${report}"' EXIT
set +e
"${bin}" "${command}" --format json ${args[@]+"${args[@]}"} >"${report}"
code=$?
set -e
cat -- "${report}"

count() {
  jq -r '
    if type != "array" then error("not a report") else . end
    | [ ([.[] | select(.event == "granted")] | length),
        ([.[] | select(.event == "revoked")] | length),
        ([.[] | select(.event == "grant_failed" or .event == "revoke_failed")] | length),
        ([.[] | select(.event == "refused")] | length) ]
    | @tsv' "${report}"
}

if ! command -v jq >/dev/null; then
  printf '::warning title=kv-jit::jq is not installed: the granted, revoked, failed and refused outputs are not set\n' >&2
elif ! counts="$(count 2>/dev/null)" || [[ -z "${counts}" ]]; then
  printf '::warning title=kv-jit::kv-jit printed no report (exit %s): the granted, revoked, failed and refused outputs are not set\n' "${code}" >&2
else
  IFS=$'\t' read -r granted revoked failed refused <<<"${counts}"
  {
    printf 'granted=%s\nrevoked=%s\nfailed=%s\nrefused=%s\n' "${granted}" "${revoked}" "${failed}" "${refused}"
  } >>"${GITHUB_OUTPUT:-/dev/null}"
  printf 'kv-jit %s: granted %s, revoked %s, failed %s, refused %s\n' \
    "${command}" "${granted}" "${revoked}" "${failed}" "${refused}" >&2
fi
exit "${code}"
