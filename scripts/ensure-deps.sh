#!/usr/bin/env bash
# Installs the npm dependencies (Node 24 among them) when node_modules is missing or older than the lock file.
#
# `npm install`, not `npm ci`: the lock file cannot list the other platforms' optional binaries
# (@swc/core-darwin-*, …) because the registry these machines reach serves only this platform's,
# and `npm ci` refuses a lock file without them. `npm install` still installs the locked versions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ! -x node_modules/.bin/node || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "Installing npm dependencies…"
  npm install --no-audit --no-fund
fi
