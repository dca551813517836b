#!/usr/bin/env bash
# The dashboard's browser tests drive Debian's chromium through playwright-core (which never
# downloads a browser). Idempotent: installs the package only when /usr/bin/chromium is missing.
set -euo pipefail

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ -x "$CHROMIUM" ]]; then exit 0; fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: $CHROMIUM is missing and apt-get is not available; install Chromium and set CHROMIUM_PATH" >&2
  exit 1
fi
SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi

echo "Installing chromium (Debian package) for the browser tests…"
# One installer at a time when several scripts start together.
exec 9>/tmp/tessera-ensure-chromium.lock
flock 9
if [[ -x "$CHROMIUM" ]]; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends chromium; then
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends chromium
fi
"$CHROMIUM" --version
