#!/usr/bin/env bash
# The deployment kit, checked offline: `helm lint --strict` and `helm template` of
# deploy/helm/tessera (default values and each deploy/helm/tessera/ci/*-values.yaml), every
# rendered manifest validated by kubeconform -strict against the Kubernetes API's own schemas;
# every variable of .env.example wired in the chart; docker-compose.yml's shape; and
# deploy/haproxy/haproxy.cfg when haproxy is installed.
#
# Tools and schemas come from the Go module proxy only (no other network), built with
# `go install` at pinned versions: kubeconform, and deploy/tools/chartcheck, which lints and
# renders with Helm's own packages (loader, linter, engine) at HELM_VERSION; the whole helm CLI
# takes several times longer to build. The schemas are made from the OpenAPI document shipped
# in the k8s.io/kubernetes module (api/openapi-spec/swagger.json) by
# deploy/tools/openapi2jsonschema.py. All of it is cached outside the clone, in
# ${TESSERA_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera}, and reused when present.
#
# Needs Go (PATH or /usr/local/go/bin) and python3.
#   bash scripts/check-deploy.sh                 # the check
#   bash scripts/check-deploy.sh --render FILE   # also render with this values file and validate
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

HELM_VERSION=v4.3.2 # deploy/tools/chartcheck/go.mod requires it
KUBECONFORM_VERSION=v0.7.0
KUBERNETES_VERSION=v1.37.2 # the API the manifests are validated against
CHART=deploy/helm/tessera

CACHE="${TESSERA_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera}"
# chartcheck's folder names its sources' digest: a changed tool is built again
CHARTCHECK_SRC=deploy/tools/chartcheck
CHARTCHECK_DIGEST=$(cat "$CHARTCHECK_SRC"/main.go "$CHARTCHECK_SRC"/go.mod "$CHARTCHECK_SRC"/go.sum | sha256sum | cut -c1-12)
CHARTCHECK="$CACHE/bin/chartcheck-helm-$HELM_VERSION-$CHARTCHECK_DIGEST/chartcheck"
KUBECONFORM="$CACHE/bin/kubeconform-$KUBECONFORM_VERSION/kubeconform"
SCHEMAS="$CACHE/kube-schemas/$KUBERNETES_VERSION-strict"

say() { printf 'check-deploy: %s\n' "$*"; }
die() {
  printf 'check-deploy: %s\n' "$*" >&2
  exit 1
}

extra_values=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --render)
      [[ $# -ge 2 ]] || die "--render needs a values file"
      extra_values+=("$2")
      shift 2
      ;;
    *) die "unknown argument: $1" ;;
  esac
done

GO=$(command -v go || true)
[[ -n $GO ]] || GO=/usr/local/go/bin/go
[[ -x $GO ]] || die "Go is needed to build helm and kubeconform (https://go.dev/dl, or Debian's golang-go)"
command -v python3 >/dev/null || die "python3 is needed to make the Kubernetes schemas"

# go, run outside the clone, never fetching a newer toolchain
go_run() { (cd "$CACHE" && GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 "$GO" "$@"); }

# go install into the binary's own versioned folder; skipped when the binary is there.
# install_tool BINARY LABEL DIR_TO_RUN_IN GO_INSTALL_TARGET
install_tool() {
  local binary=$1 label=$2 from=$3 target=$4
  [[ -x $binary ]] && return 0
  local started=$SECONDS dir
  dir=$(dirname "$binary")
  say "building $label (once; cached in $dir)"
  rm -rf "$dir.partial" && mkdir -p "$dir.partial"
  (cd "$from" && GOBIN="$dir.partial" GOTOOLCHAIN=local CGO_ENABLED=0 \
    "$GO" install -trimpath -ldflags "-s -w" "$target") || die "go install $label failed"
  rm -rf "$dir" && mv "$dir.partial" "$dir"
  say "built $label in $((SECONDS - started)) s"
}

# One JSON schema per kind from the API's OpenAPI document; skipped when made before.
ensure_schemas() {
  [[ -f $SCHEMAS/.complete ]] && return 0
  local started=$SECONDS dir spec
  say "making Kubernetes $KUBERNETES_VERSION schemas (once; cached in $SCHEMAS)"
  dir=$(go_run mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])') ||
    die "go mod download k8s.io/kubernetes@$KUBERNETES_VERSION failed"
  spec="$dir/api/openapi-spec/swagger.json"
  [[ -f $spec ]] || die "$spec is missing"
  rm -rf "$SCHEMAS.partial"
  python3 deploy/tools/openapi2jsonschema.py "$spec" "$SCHEMAS.partial" >/dev/null
  touch "$SCHEMAS.partial/.complete"
  rm -rf "$SCHEMAS" && mv "$SCHEMAS.partial" "$SCHEMAS"
  say "schemas made in $((SECONDS - started)) s"
}

# Every variable of .env.example (set or commented out) must have a key in values.yaml or be
# derived by the templates: a variable added to the app without the chart fails here.
check_env_wiring() {
  local missing=() name
  while read -r name; do
    grep -qE "(^|[^A-Z0-9_])$name([^A-Z0-9_]|$)" "$CHART/values.yaml" "$CHART"/templates/* ||
      missing+=("$name")
  done < <(sed -nE 's/^#? *([A-Z][A-Z0-9_]+)=.*/\1/p' .env.example | sort -u)
  ((${#missing[@]} == 0)) ||
    die "not wired in $CHART (add each to values.yaml's config or secret): ${missing[*]}"
}

# helm template with these values files, validated; prints the rendered kinds.
render_and_validate() {
  local label=$1 out
  shift
  out="$work/$label.yaml"
  "$CHARTCHECK" lint "$CHART" tessera "$@" >"$work/lint.log" 2>&1 ||
    { cat "$work/lint.log" >&2; die "helm lint failed ($label)"; }
  "$CHARTCHECK" template "$CHART" tessera tessera "$@" >"$out" 2>"$work/template.log" ||
    { cat "$work/template.log" >&2; die "helm template failed ($label)"; }
  "$KUBECONFORM" -strict -summary -output text \
    -schema-location "$SCHEMAS/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$out" ||
    { cp "$out" "${TMPDIR:-/tmp}/check-deploy-rendered.yaml"
      die "kubeconform: the manifests rendered with $label are invalid (above; kept in ${TMPDIR:-/tmp}/check-deploy-rendered.yaml)"; }
  say "$label: $(grep -E '^kind: ' "$out" | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $3; sep=", "}')"
}

grep -q "helm.sh/helm/v4 $HELM_VERSION\$" "$CHARTCHECK_SRC/go.mod" ||
  die "$CHARTCHECK_SRC/go.mod must require helm.sh/helm/v4 $HELM_VERSION"
mkdir -p "$CACHE/bin"
install_tool "$CHARTCHECK" "chartcheck (helm $HELM_VERSION packages)" "$CHARTCHECK_SRC" .
install_tool "$KUBECONFORM" "kubeconform $KUBECONFORM_VERSION" "$CACHE" \
  "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
ensure_schemas

check_env_wiring
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
render_and_validate "default values"
for file in "$CHART"/ci/*-values.yaml "${extra_values[@]}"; do
  render_and_validate "$(basename "$file")" "$file"
done

# docker-compose.yml's shape (no Docker here): the app scales (no container_name, no published
# port), starts after the one-shot migration, and every dependency and mounted file exists.
if python3 -c 'import yaml' 2>/dev/null; then
  python3 - <<'PY' || die "docker-compose.yml: see above"
import os, sys, yaml
services = yaml.safe_load(open("docker-compose.yml"))["services"]
errors = []
for name, service in services.items():
    if "image" not in service and "build" not in service:
        errors.append(f"{name}: neither image nor build")
    for dep in service.get("depends_on") or {}:
        if dep not in services:
            errors.append(f"{name}: depends on unknown service {dep}")
    for volume in service.get("volumes") or []:
        source = volume.split(":")[0] if isinstance(volume, str) else ""
        if source.startswith("./") and not os.path.exists(source):
            errors.append(f"{name}: mounts missing {source}")
app = services.get("app", {})
for key in ("container_name", "ports"):
    if key in app:
        errors.append(f"app: `{key}` stops `--scale app=N`")
if (app.get("depends_on") or {}).get("migrate", {}).get("condition") != "service_completed_successfully":
    errors.append("app: must start after the one-shot migrate service completed")
if "lb" not in services or "app" not in (services["lb"].get("depends_on") or {}):
    errors.append("lb: the HAProxy service in front of app is missing")
for error in errors:
    print(f"docker-compose.yml: {error}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY
  say "docker-compose.yml: shape ok"
fi

if command -v haproxy >/dev/null; then
  # the compose service names need not resolve: servers start with no address (init-addr none)
  haproxy -c -q -f deploy/haproxy/haproxy.cfg || die "deploy/haproxy/haproxy.cfg is invalid"
  say "haproxy.cfg: valid ($(haproxy -v | head -n 1 | cut -d' ' -f1-3))"
fi
say "ok"
