#!/usr/bin/env bash
# Debian's chromium for the browser tests (tests/ui/browser.py drives it headless over the DevTools
# protocol), installed with apt like kcat; `make chromium` runs this, a prerequisite of `make test`.
# Idempotent and quiet: nothing happens, and nothing is printed, when chromium is already there;
# apt's output is shown only if the install fails. No browser download of a test framework's own.
set -euo pipefail
binary=/usr/lib/chromium/chromium
[ -x "$binary" ] && exit 0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
# fonts-dejavu-core: readable text in the screenshots on a machine without fonts
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "setup_chromium: apt-get install chromium failed (output above)" >&2
  exit 1
fi
echo "setup_chromium: $("$binary" --version 2>/dev/null || echo installed)"
