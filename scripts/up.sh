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
nest build && node scripts/build-dashboard.mjs
node dist/src/cli/migrate.js
if [[ -f dist/src/cli/seed-demo.js ]]; then node dist/src/cli/seed-demo.js; fi

# The dashboard, and a demo account to try it with (seed:demo printed the others and the API keys).
port="$(grep -E '^PORT=' .env 2>/dev/null | tail -1 | cut -d= -f2 || true)"
echo "Dashboard: http://localhost:${PORT:-${port:-3000}}/dashboard"
echo "  sign in as owner@acme.demo.tessera.dev / ${DEMO_PASSWORD:-Demo-Passw0rd!} (or with an api_key above)"
echo
exec node dist/src/main.js
