#!/usr/bin/env bash
# `npm run up`: from a fresh clone to a running Tessera with demo data — dependencies, local
# services, build, platform migrations, demo data, then the app in the foreground (Ctrl-C stops it;
# `npm run services down` stops the services).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/ensure-deps.sh
export PATH="$PWD/node_modules/.bin:$PATH"

bash scripts/services.sh up
[[ -f .env ]] || cp .env.example .env

echo "Building…"
nest build
node dist/src/cli/migrate.js
if [[ -f dist/src/cli/seed-demo.js ]]; then node dist/src/cli/seed-demo.js; fi

exec node dist/src/main.js
