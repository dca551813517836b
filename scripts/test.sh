#!/usr/bin/env bash
# `npm test`: the whole suite on a fresh clone — installs dependencies when missing, starts the
# local services when they are not up, then format check, lint, type check, unit and e2e tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/ensure-deps.sh
export PATH="$PWD/node_modules/.bin:$PATH"   # Node 24 from the `node` devDependency

bash scripts/services.sh up

step() { printf '\n== %s (at %d s)\n' "$*" "$SECONDS"; }
step "format";     prettier --check . --log-level warn
step "lint";       eslint . --max-warnings 0
step "type check"; tsc --noEmit -p tsconfig.json && tsc --noEmit -p tsconfig.dashboard.json
# The client package: its types are what the routes generate (no service needed); ESM + .d.ts
# into packages/client/dist, then its tests and the call of every operation type-checked.
step "client package (types, build)"
node -r @swc-node/register scripts/generate-client-types.ts --check && npm run client:build --silent

step "deploy kit (helm lint, kubeconform)"; bash scripts/check-deploy.sh

results="$(mktemp -d)"
status=0
step "unit tests"
jest --config jest.config.ts --selectProjects unit --json --outputFile "$results/unit.json" || status=$?
bash scripts/ensure-chromium.sh   # the dashboard's browser tests (Debian's chromium)
# e2e: files in parallel workers, each with its own databases, vhost, Redis prefix and topics
# (test/support/env.ts); then the files that stop shared services, one at a time. --forceExit:
# a failed test that leaves a handle open must end the run with its report, never hang CI.
workers="${TESSERA_TEST_WORKERS:-4}"
step "e2e tests, $workers workers (real PostgreSQL, Redis, RabbitMQ, Kafka, moto)"
TESSERA_TEST_WORKERS="$workers" TESSERA_TEST_SHARED_SERVICES=1 \
  jest --config jest.config.ts --selectProjects e2e --maxWorkers "$workers" --forceExit \
  --json --outputFile "$results/e2e.json" || status=$?
step "e2e tests that stop shared services, one at a time"
TESSERA_TEST_WORKERS=1 \
  jest --config jest.config.ts --selectProjects e2e-serial --runInBand --forceExit \
  --json --outputFile "$results/e2e-serial.json" || status=$?

printf '\nnpm test took %d s\n' "$SECONDS"
# One closing line for whoever reads the log: "tests: N passed, N failed, N skipped".
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, skipped = 0;
  const failures = [];
  const plain = (text) => (text || "").replace(/\x1b\[[0-9;]*m/g, "").split("\n").slice(0, 8).join("\n  ");
  for (const f of process.argv.slice(1)) {
    if (!fs.existsSync(f)) { failed++; failures.push(`${f}: no report (the run did not finish)`); continue; }
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
    skipped += r.numPendingTests + r.numTodoTests;
    for (const suite of r.testResults) {
      const file = suite.name.replace(process.cwd() + "/", "");
      const cases = suite.assertionResults.filter((a) => a.status === "failed");
      if (suite.status === "failed" && cases.length === 0) failures.push(`${file}: ${plain(suite.message)}`);
      for (const a of cases) failures.push(`${file} › ${a.fullName}\n  ${plain(a.failureMessages[0])}`);
    }
  }
  // The failures again at the very end, where a log that keeps only its tail still shows them.
  for (const line of failures) console.log(`FAILED ${line}`);
  console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
' "$results/unit.json" "$results/e2e.json" "$results/e2e-serial.json"
exit "$status"
