#!/usr/bin/env bash
# CI checks of the install paths (charts/, manifests/, images/), run by `make chart-check`:
#   - generated files are fresh: the chart's CRD and RBAC copies, its values table,
#     manifests/install.yaml (scripts/gen-chart-files.sh --check);
#   - helm lint --strict, with default values and with every option turned on;
#   - helm template of several value sets, manifests/install.yaml and the example rings pass
#     kubeconform -strict against the API server's own schemas (from the k8s.io/kubernetes module
#     the local control plane is built from) and the CRD's schema;
#   - bad values fail `helm template` with a message naming the value;
#   - every flag the chart passes to the operator is one the operator binary accepts;
#   - the chart's appVersion is the workspace version.
# Tools: helm (e2e/controlplane/build.sh), kubeconform (scripts/tools.sh), python3 + PyYAML.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CHART=charts/omring-operator
CACHE=${OMRING_CACHE:-$HOME/.cache/omring}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
T0=$SECONDS

K8S_BIN=$(e2e/controlplane/build.sh)
HELM=${HELM:-$K8S_BIN/helm}
KUBECONFORM=${KUBECONFORM:-$(scripts/tools.sh)/kubeconform}
source e2e/controlplane/versions.sh
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0 passes=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; passes=$((passes + 1)); }

# 1. Generated files.
if HELM=$HELM scripts/gen-chart-files.sh --check >"$WORK/gen.log" 2>&1; then
  pass "$(tail -n1 "$WORK/gen.log")"
else
  cat "$WORK/gen.log" >&2
  fail "generated files are stale"
fi

# 2. Versions.
ws_version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$CHART/Chart.yaml")
[[ $ws_version == "$app_version" ]] && pass "chart appVersion $app_version = workspace version" ||
  fail "$CHART/Chart.yaml appVersion '$app_version' differs from the workspace version '$ws_version'"

# 3. Schemas for kubeconform: Kubernetes kinds from the API server's OpenAPI document, ours from crds/.
k8s_dir=$(cd e2e/controlplane/k8s-wrapper && GOFLAGS=-mod=readonly GOTOOLCHAIN=local go mod download -json k8s.io/kubernetes |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
swagger=$k8s_dir/api/openapi-spec/swagger.json
[[ -f $swagger ]] || { echo "chart-check: no OpenAPI document at '$swagger'" >&2; exit 1; }
python3 scripts/gen-kube-schemas.py openapi "$swagger" "$K8S_VERSION" "$WORK/schemas" 2>/dev/null
python3 scripts/gen-kube-schemas.py crd "$K8S_VERSION" "$WORK/schemas" crds/*.yaml 2>/dev/null
conform() { # conform LABEL FILE...
  if "$KUBECONFORM" -strict -summary -kubernetes-version "$K8S_VERSION" -schema-location "$WORK/schemas" \
    -skip ServiceMonitor "${@:2}" >"$WORK/kc.log" 2>&1; then
    pass "kubeconform $1: $(tail -n1 "$WORK/kc.log")"
  else
    cat "$WORK/kc.log" >&2
    fail "kubeconform $1"
  fi
}

# 4. Lint and render: defaults, everything on, webhook off / out-of-cluster, one namespace.
ALL_ON=(--set serviceMonitor.enabled=true,exampleRing.enabled=true,watchNamespace=rings
        --set replicaCount=3,podLabels.team=storage,podAnnotations.note=x,priorityClassName=high
        --set nodeSelector.pool=system,tolerations[0].operator=Exists,imagePullSecrets[0].name=pull)
declare -A VARIANTS=(
  [defaults]=""
  [all-on]="${ALL_ON[*]}"
  [no-webhook-one-replica]="--set webhook.enabled=false,replicaCount=1,leaderElection.enabled=false,metrics.service.enabled=false"
  [webhook-url-external-sa]="--set webhook.url=https://10.0.0.1:8443/validate-eviction,serviceAccount.create=false,serviceAccount.name=ops,replicaCount=0"
)
for lint_args in "" "${ALL_ON[*]}"; do
  # shellcheck disable=SC2086
  if "$HELM" lint --strict "$CHART" $lint_args >"$WORK/lint.log" 2>&1; then
    pass "helm lint --strict ${lint_args:+(all options on)}"
  else
    cat "$WORK/lint.log" >&2
    fail "helm lint --strict $lint_args"
  fi
done
for name in "${!VARIANTS[@]}"; do
  # shellcheck disable=SC2086
  if "$HELM" template omring "$CHART" --namespace omring-system --include-crds ${VARIANTS[$name]} \
    >"$WORK/$name.yaml" 2>"$WORK/$name.err"; then
    conform "helm template ($name)" "$WORK/$name.yaml"
  else
    cat "$WORK/$name.err" >&2
    fail "helm template ($name)"
  fi
done
# What the options must change, beyond being valid.
grep -q 'kind: ServiceMonitor' "$WORK/all-on.yaml" && grep -q 'kind: OzoneManagerRing' "$WORK/all-on.yaml" &&
  grep -q -- '--watch-namespace=rings' "$WORK/all-on.yaml" && pass "all-on renders ServiceMonitor, example ring, watch namespace" ||
  fail "all-on values did not render ServiceMonitor, example ring and --watch-namespace"
! grep -q 'ValidatingWebhookConfiguration\|--webhook-addr\|kind: PodDisruptionBudget' "$WORK/no-webhook-one-replica.yaml" &&
  pass "webhook.enabled=false renders no webhook; one replica renders no PDB" ||
  fail "webhook.enabled=false or replicaCount=1 still renders a webhook or a PDB"
grep -q 'url: "https://10.0.0.1:8443/validate-eviction"' "$WORK/webhook-url-external-sa.yaml" &&
  ! grep -q 'name: omring-operator-webhook$' "$WORK/webhook-url-external-sa.yaml" &&
  ! grep -q '^kind: ServiceAccount' "$WORK/webhook-url-external-sa.yaml" &&
  pass "webhook.url renders a URL client config and no Service; serviceAccount.create=false renders none" ||
  fail "webhook.url / serviceAccount.create=false rendered wrong objects"

# 5. Committed manifests.
shopt -s nullglob
conform "manifests/install.yaml" manifests/install.yaml
examples=(manifests/examples/*.yaml)
[[ ${#examples[@]} -gt 0 ]] && conform "manifests/examples (${#examples[@]} files)" "${examples[@]}" ||
  fail "no example rings in manifests/examples/"

# 6. Bad values fail at render time with a message naming the value.
bad_value() { # bad_value EXPECTED_MESSAGE_PART HELM_ARGS...
  if "$HELM" template omring "$CHART" "${@:2}" >/dev/null 2>"$WORK/bad.err"; then
    fail "helm template ${*:2} succeeded; it should fail"
  elif grep -qF -- "$1" "$WORK/bad.err"; then
    pass "bad value rejected: ${*:2} -> $(grep -F -- "$1" "$WORK/bad.err" | head -n1 | sed 's/^[ -]*//')"
  else
    cat "$WORK/bad.err" >&2
    fail "helm template ${*:2} failed without naming '$1'"
  fi
}
bad_value "at '/replicaCount': minimum" --set replicaCount=-1
bad_value "additional properties 'replicas' not allowed" --set replicas=3
bad_value "at '/image/pullPolicy'" --set image.pullPolicy=Sometimes
bad_value "at '/exampleRing/name'" --set exampleRing.enabled=true,exampleRing.name=Bad_Name
bad_value "at '/webhook/url'" --set webhook.url=http://insecure.example
bad_value "at '/resources/requests/memory'" --set resources.requests.memory=lots
bad_value "serviceAccount.name is required" --set serviceAccount.create=false
bad_value "serviceMonitor.enabled needs metrics.service.enabled" --set serviceMonitor.enabled=true,metrics.service.enabled=false

# 7. The operator accepts every flag the chart gives it (all options on).
operator=$TARGET/debug/omring-operator
if [[ -x $operator ]]; then
  "$operator" --help >"$WORK/help.txt" 2>&1 || true
  flags=$(sed -n 's/^ *- \(--[a-z0-9-]*\).*/\1/p' "$WORK/all-on.yaml" "$WORK/defaults.yaml" | sort -u)
  missing=$(for f in $flags; do grep -q -- "$f[ =,]\|$f\$" "$WORK/help.txt" || echo "$f"; done)
  [[ -z $missing ]] && pass "operator --help lists every flag the chart passes: $(echo $flags)" ||
    fail "the chart passes flags '$(echo $missing)' that '$operator --help' does not list"
else
  fail "$operator is not built (cargo build -p omring-operator), cannot check the chart's flags"
fi

echo "chart-check took $((SECONDS - T0))s"
echo "chart-check: $passes passed, $failures failed"
[[ $failures -eq 0 ]]
