#!/usr/bin/env bash
# Installs the kv-jit binary for the GitHub Action (action.yml); runnable locally, which is how
# tests/action_install.rs drives it.
#
#   install.sh plan      print (and write to $GITHUB_OUTPUT) how the binary would be obtained:
#                        mode=download|build, and for a build the cache key and folder
#   install.sh [install] obtain it and print path=<absolute path of the installed kv-jit>
#
# A release archive is installed only if its SHA-256 is committed in action/checksums.txt next
# to this script: that file is the authority, wherever the bytes come from. With no committed
# sum for this version and runner (no release yet, another OS or architecture), or when the
# download fails, kv-jit is built from the action's own source (`cargo build --release --locked`),
# which must then be the version asked for. A checksum mismatch is never "fixed" by a build: it
# stops the job and installs nothing.
#
# Everything comes from the environment (action.yml maps its inputs there, never into a script):
#   KV_JIT_VERSION             the version to install: 0.1.0 or v0.1.0 (required)
#   KV_JIT_ACTION_PATH         the action's own checkout (default: this script's parent folder)
#   KV_JIT_DOWNLOAD_URL        base URL of the release downloads, completed by
#                              /v<version>/kv-jit-<version>-<target>.tar.gz (default:
#                              https://github.com/<KV_JIT_RELEASE_REPOSITORY>/releases/download);
#                              https only, plain http only on loopback (tests)
#   KV_JIT_RELEASE_REPOSITORY  owner/name whose releases hold the archives (default: the
#                              action's own, from its folder, else GITHUB_REPOSITORY)
#   KV_JIT_INSTALL_DIR         where kv-jit goes (default: $RUNNER_TEMP/kv-jit/bin)
#   KV_JIT_CACHE_DIR           the from-source build's binary, kept by actions/cache between runs
#                              (default: $RUNNER_TEMP/kv-jit-cache)
set -euo pipefail
IFS=$'\n\t'

# Workflow commands carry untrusted-looking text escaped as GitHub requires (%, CR, LF).
escape() {
  local s="$1"
  s="${s//'%'/'%25'}"
  s="${s//$'\r'/'%0D'}"
  s="${s//$'\n'/'%0A'}"
  printf '%s' "$s"
}
bail() {
  printf '::error title=kv-jit install::%s\n' "$(escape "$*")" >&2
  exit 1
}
warn() {
  printf '::warning title=kv-jit install::%s\n' "$(escape "$*")" >&2
}
info() {
  printf 'kv-jit install: %s\n' "$*" >&2
}
output() {
  printf '%s=%s\n' "$1" "$2"
  if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
    printf '%s=%s\n' "$1" "$2" >>"${GITHUB_OUTPUT}"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null; then
    sha256sum -- "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null; then
    # macOS runners have no GNU coreutils.
    shasum -a 256 -- "$1" | cut -d ' ' -f 1
  else
    bail "verifying the download needs sha256sum or shasum"
  fi
}

mode="${1:-install}"
case "${mode}" in
  plan | install) ;;
  *) bail "unknown mode '${mode}' (plan or install)" ;;
esac

script_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
action_path="${KV_JIT_ACTION_PATH:-$(dirname -- "${script_dir}")}"
action_path="$(cd -- "${action_path}" && pwd -P)" || bail "the action path ${KV_JIT_ACTION_PATH:-} is not a folder"
checksums="${action_path}/action/checksums.txt"
[[ -f "${checksums}" ]] || bail "${checksums} is missing: the action cannot verify any download"

# The version reaches a URL and a file name: a strict semantic version, nothing else.
version="${KV_JIT_VERSION:-}"
version="${version#v}"
semver='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$'
[[ "${version}" =~ ${semver} ]] || bail "version '${KV_JIT_VERSION:-}' is not a version like 0.1.0"

# The release targets: static (musl) Linux binaries.
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64 | Linux-amd64) target=x86_64-unknown-linux-musl ;;
  Linux-aarch64 | Linux-arm64) target=aarch64-unknown-linux-musl ;;
  *) target="" ;;
esac
archive="kv-jit-${version}-${target}.tar.gz"

# The committed sum of this archive: `<64 hex>  <archive>` lines; comments and blanks skipped.
expected=""
if [[ -n "${target}" ]]; then
  matches="$(awk -v name="${archive}" '!/^[[:space:]]*(#|$)/ && NF >= 2 && ($2 == name || $2 == "*" name) { print $1 }' "${checksums}")"
  if [[ -n "${matches}" ]]; then
    [[ "${matches}" != *$'\n'* ]] || bail "${archive} is listed more than once in action/checksums.txt"
    [[ "${matches}" =~ ^[0-9a-f]{64}$ ]] || bail "the sum of ${archive} in action/checksums.txt is not 64 lowercase hex digits"
    expected="${matches}"
  fi
fi

# The version of the action's own source (the root package takes the workspace's).
own_version() {
  awk '
    /^\[/ { section = $0 }
    section == "[workspace.package]" && $1 == "version" && $2 == "=" {
      gsub(/"/, "", $3); print $3; exit
    }
  ' "${action_path}/Cargo.toml" 2>/dev/null
}

# The cache key of a from-source build: every file the build reads, by content.
source_key() {
  (
    cd -- "${action_path}"
    local inputs=() p
    for p in Cargo.toml Cargo.lock src crates; do
      if [[ -e "${p}" ]]; then
        inputs+=("${p}")
      fi
    done
    find "${inputs[@]}" -type f ! -path '*/target/*' -print0 |
      LC_ALL=C sort -z |
      xargs -0 sha256sum |
      sha256sum |
      cut -c 1-40
  )
}

runner_temp="${RUNNER_TEMP:-${TMPDIR:-/tmp}}"
install_dir="${KV_JIT_INSTALL_DIR:-${runner_temp}/kv-jit/bin}"
cache_dir="${KV_JIT_CACHE_DIR:-${runner_temp}/kv-jit-cache}"

# Where the archive is downloaded from (sets url and proto). The release repository is the
# action's own, read from the runner's folder of a downloaded action (.../_actions/OWNER/REPO/REF;
# composite steps cannot rely on github.action_repository), else GITHUB_REPOSITORY (`uses: ./`
# in kv-jit's own repository); KV_JIT_RELEASE_REPOSITORY overrides both.
release_url() {
  local repo="${KV_JIT_RELEASE_REPOSITORY:-}"
  if [[ -z "${repo}" && "${action_path}" =~ /_actions/([^/]+)/([^/]+)/[^/]+$ ]]; then
    repo="${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"
  fi
  repo="${repo:-${GITHUB_REPOSITORY:-}}"
  local base="${KV_JIT_DOWNLOAD_URL:-}"
  if [[ -z "${base}" ]]; then
    [[ "${repo}" =~ ^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$ ]] || bail "no release repository (KV_JIT_RELEASE_REPOSITORY, the action's folder or GITHUB_REPOSITORY) to download from"
    base="https://github.com/${repo}/releases/download"
  fi
  if [[ "${base}" =~ ^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~/-]*)?$ ]]; then
    proto='=https'
  elif [[ "${base}" =~ ^http://(127\.0\.0\.1|localhost)(:[0-9]+)?(/[A-Za-z0-9._~/-]*)?$ ]]; then
    proto='=http'
  else
    bail "download URL '${base}' is not https:// (plain http only on loopback)"
  fi
  url="${base%/}/v${version}/${archive}"
}
url=""
proto=""

if [[ "${mode}" == plan ]]; then
  if [[ -n "${expected}" ]]; then
    release_url
    output mode download
    output url "${url}"
  else
    output mode build
    output cache-dir "${cache_dir}"
    output key "kv-jit-${version}-$(uname -s)-$(uname -m)-$(source_key)"
  fi
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf -- "${work}"' EXIT

# Installs $1 as ${install_dir}/kv-jit, after checking it is the version asked for.
install_binary() {
  local from="$1" how="$2" reported
  reported="$("${from}" --version 2>/dev/null || true)"
  # `kv-jit X.Y.Z`, then optionally ` (commit …)`: the build's commit, which --version names.
  [[ "${reported}" == "kv-jit ${version}" || "${reported}" == "kv-jit ${version} ("* ]] ||
    bail "the ${how} binary reports '${reported}', not 'kv-jit ${version}'; installed nothing"
  mkdir -p -- "${install_dir}"
  cp -- "${from}" "${work}/kv-jit.new"
  chmod 0755 "${work}/kv-jit.new"
  mv -f -- "${work}/kv-jit.new" "${install_dir}/kv-jit"
  info "installed ${reported} (${how}) at ${install_dir}/kv-jit"
  output path "${install_dir}/kv-jit"
}

# Downloads, verifies and installs the release archive. Only a failed download sets
# fetched=no (to fall back to a build); a mismatching sum or a malformed archive stops here.
fetched=""
download() {
  release_url
  info "downloading ${url}"
  if ! curl --proto "${proto}" --proto-redir "${proto}" --tlsv1.2 -fsSL --retry 3 \
    -o "${work}/${archive}" -- "${url}"; then
    warn "could not download ${url}"
    fetched=no
    return 0
  fi
  fetched=yes
  local actual
  actual="$(sha256_of "${work}/${archive}")"
  if [[ "${actual}" != "${expected}" ]]; then
    bail "checksum mismatch for ${archive} from ${url}: expected ${expected} (action/checksums.txt), got ${actual}; refusing to install it"
  fi
  info "sha256 ${actual} matches action/checksums.txt"
  mkdir -p -- "${work}/x"
  tar -xzf "${work}/${archive}" -C "${work}/x" --no-same-owner --no-same-permissions
  local bin="${work}/x/kv-jit-${version}-${target}/kv-jit"
  [[ -f "${bin}" && ! -L "${bin}" ]] || bail "${archive} does not hold kv-jit-${version}-${target}/kv-jit"
  install_binary "${bin}" "downloaded"
}

# Builds kv-jit from the action's own source, once per source content (the cache folder).
build() {
  local own
  own="$(own_version)"
  [[ "${own}" == "${version}" ]] || bail "no release archive of kv-jit ${version} for ${target:-$(uname -s)-$(uname -m)} is listed in action/checksums.txt, and this action's own source is version ${own:-unknown}: use version ${own:-of the action} or pin the action to the commit that ships ${version}"
  if [[ -x "${cache_dir}/kv-jit" ]]; then
    info "using the cached from-source build in ${cache_dir}"
  else
    command -v cargo >/dev/null || bail "building kv-jit from source needs cargo (a Rust toolchain) on the runner"
    info "building kv-jit ${version} from source at ${action_path}"
    (
      cd -- "${action_path}"
      CARGO_TARGET_DIR="${work}/target" cargo build --release --locked \
        --manifest-path "${action_path}/Cargo.toml" --bin kv-jit
    ) || bail "cargo build --release --locked failed"
    [[ -f "${work}/target/release/kv-jit" ]] || bail "cargo build left no target/release/kv-jit"
    mkdir -p -- "${cache_dir}"
    cp -- "${work}/target/release/kv-jit" "${cache_dir}/kv-jit"
  fi
  install_binary "${cache_dir}/kv-jit" "built from source"
}

if [[ -n "${expected}" ]]; then
  download
  if [[ "${fetched}" == no ]]; then
    build
  fi
else
  info "no committed sum for ${archive}: building from source"
  build
fi
