#!/usr/bin/env bash
# The OpenAPI contract test (test/e2e/openapi-contract.e2e-spec.ts) runs schemathesis 4 from PyPI,
# installed into a venv of its own under .cache/ (git-ignored). Idempotent: does nothing when the
# venv already has a schemathesis 4; one installer at a time when several runs start together.
# Prints the path of the `st` executable.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${SCHEMATHESIS_VENV:-$PWD/.cache/venv-schemathesis}"
ST="$VENV/bin/st"
SPEC='schemathesis>=4,<5'

installed() {
  [[ -x "$ST" ]] && "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as m, sys
sys.exit(0 if m.version("schemathesis").split(".")[0] == "4" else 1)
PY
}

if ! installed; then
  mkdir -p "$(dirname "$VENV")"
  exec 9>"$(dirname "$VENV")/.venv-schemathesis.lock"
  flock 9
  if ! installed; then
    echo "Installing $SPEC into $VENV…" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$SPEC" >&2
  fi
fi
echo "$ST"
