#!/usr/bin/env bash
# kind/e2e.sh — run Trove's e2e suite (test/e2e) on a kind cluster, on a host
# with Docker, kind, kubectl and Go. Not run on Trove's own CI machines (no
# Docker there): they run the same suite on the dev node (test/cluster).
#
# Builds trove.dev/trove:dev with the Dockerfile, tags busybox as
# trove.dev/busybox:dev, loads both with `kind load`, creates the cluster (and
# deletes it afterwards unless KEEP_CLUSTER=1), and runs
# `go test -tags e2e ./test/e2e/...` with TROVE_E2E_KUBECONFIG pointing at it.
#
# Environment: KIND_CLUSTER_NAME (default trove-e2e), KIND_NODE_IMAGE (a
# kindest/node image; default: kind's), KEEP_CLUSTER=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
name=${KIND_CLUSTER_NAME:-trove-e2e}
busybox=busybox:1.36.1
kubeconfig=$(mktemp)

for tool in docker kind kubectl go; do
  command -v "$tool" >/dev/null || { echo "kind/e2e.sh: $tool is needed" >&2; exit 1; }
done

docker build -t trove.dev/trove:dev "$root"
docker pull "$busybox"
docker tag "$busybox" trove.dev/busybox:dev

create=(kind create cluster --name "$name" --config "$root/kind/cluster.yaml" --kubeconfig "$kubeconfig" --wait 120s)
if [ -n "${KIND_NODE_IMAGE:-}" ]; then
  create+=(--image "$KIND_NODE_IMAGE")
fi
"${create[@]}"
cleanup() {
  if [ "${KEEP_CLUSTER:-}" = 1 ]; then
    echo "kind/e2e.sh: cluster $name kept; kubeconfig $kubeconfig" >&2
  else
    kind delete cluster --name "$name"
    rm -f "$kubeconfig"
  fi
}
trap cleanup EXIT

kind load docker-image --name "$name" trove.dev/trove:dev trove.dev/busybox:dev

cd "$root"
TROVE_E2E_KUBECONFIG=$kubeconfig go test -tags e2e -count=1 -v ./test/e2e/...
