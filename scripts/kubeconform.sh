#!/usr/bin/env bash
# Validates the Kubernetes manifests (deploy/kubernetes/*, rendered by
# Kustomize) against Kubernetes' own schemas with kubeconform, strictly (no
# field the schema does not know). The schemas come from Kubernetes' OpenAPI
# documents in the k8s.io/kubernetes module (scripts/k8s_schemas.py), the
# tools from the Go module proxy: nothing is fetched from a schema registry.
# A manifest with a misspelt field is checked first: it must be refused.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

kubernetes=v1.34.4
kubeconform_version=v0.8.0
kustomize_version=v5.8.1
cache=${XDG_CACHE_HOME:-$HOME/.cache}/orygate
schemas=$cache/kubernetes-$kubernetes

# A tool at its pinned version, installed once in a folder of that version.
tool() {
  local name=$1 module=$2 version=$3
  local dir=$cache/tools/$name-$version
  [ -x "$dir/$name" ] || GOBIN=$dir GOFLAGS=-mod=mod timeout 900 go install "$module@$version" >&2
  echo "$dir/$name"
}
kubeconform=$(tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$kubeconform_version")
kustomize=$(tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$kustomize_version")

if [ ! -s "$schemas/job-batch-v1.json" ]; then
  dir=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod timeout 900 go mod download -json "k8s.io/kubernetes@$kubernetes" |
    sed -n 's/.*"Dir": "\([^"]*\)".*/\1/p')
  [ -n "$dir" ] || { echo "kubeconform.sh: k8s.io/kubernetes@$kubernetes could not be downloaded" >&2; exit 1; }
  specs=()
  for group in api__v1 apis__batch__v1 apis__apps__v1; do
    specs+=("$dir/api/openapi-spec/v3/${group}_openapi.json")
  done
  python3 scripts/k8s_schemas.py "$schemas" "${specs[@]}"
fi

validate() {
  "$kubeconform" -strict -summary -output text \
    -schema-location "$schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$@"
}

# The check can fail: a Job with a misspelt field is refused.
# kubeconform reads files named .yaml or .json only.
broken=$(mktemp --suffix=.yaml)
trap 'rm -f "$broken"' EXIT
"$kustomize" build deploy/kubernetes/load | sed 's/^  parallelism:/  paralelism:/' >"$broken"
if validate "$broken" >/dev/null 2>&1; then
  echo "kubeconform.sh: a Job with a misspelt field (paralelism) passed: the check proves nothing" >&2
  exit 1
fi

for dir in deploy/kubernetes/*/; do
  echo "$dir"
  "$kustomize" build "$dir" | validate -
done
