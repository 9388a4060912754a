#!/usr/bin/env bash
# Renders the HTML report that `kv-jit demo` writes, headless, into docs/report.png (the picture
# the README shows). Run it from anywhere in a clone after changing the report's look:
#
#   scripts/report-screenshot.sh            # needs cargo, git and chromium
#
# Chromium on Debian: `apt-get install -y chromium`; set CHROMIUM=/path/to/browser for another
# one. `--no-sandbox` is there because CI and containers run as root, where Chromium's sandbox
# refuses to start; the page is our own, self-contained file (no script, no fetch).
set -euo pipefail
cd "$(dirname "$0")/.."

chrome="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
if [ -z "${chrome}" ]; then
  echo "error: no chromium found (Debian: apt-get install -y chromium), or set CHROMIUM" >&2
  exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf -- "${work}"' EXIT

# The demo's virtual clock starts at a fixed instant, so the picture is the same every time
# (but for the emulator's port and commit ids, which the page does not show).
cargo run --quiet -- demo --keep "${work}/demo" >"${work}/demo.log"
"${chrome}" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size=1400,900 --screenshot="${PWD}/docs/report.png" \
  "file://${work}/demo/kv-jit-report.html" 2>"${work}/chromium.log"
echo "wrote docs/report.png"
