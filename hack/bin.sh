#!/usr/bin/env bash
# bin.sh NAME... — print the path of each pinned binary, building it from the Go
# module proxy into the version-keyed cache first if it is not there yet.
#
# Cache: ${TROVE_CACHE:-$HOME/.cache/trove}/<name>/<version>/<name>. It lives outside
# the work tree so fresh clones (CI) reuse it; nothing is ever rebuilt once cached.
# Builds happen in throwaway modules under the cache so they never touch go.mod.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${TROVE_CACHE:-$HOME/.cache/trove}
kube_bins="kube-apiserver kubelet kube-controller-manager kube-scheduler kube-proxy kubectl"

log() { echo "bin.sh: $*" >&2; }

version_of() {
  case $1 in
    kube-*|kubelet|kubectl) echo "$KUBE_VERSION" ;;
    etcd) echo "$ETCD_VERSION" ;;
    restic) echo "$RESTIC_VERSION" ;;
    minio) echo "$MINIO_VERSION" ;;
    rest-server) echo "$REST_SERVER_VERSION" ;;
    controller-gen) echo "$CONTROLLER_TOOLS_VERSION" ;;
    csi-provisioner) echo "$EXTERNAL_PROVISIONER_VERSION" ;;
    csi-snapshotter|snapshot-controller) echo "$EXTERNAL_SNAPSHOTTER_VERSION" ;;
    *) log "unknown binary '$1' (known: $kube_bins etcd restic minio rest-server controller-gen csi-provisioner csi-snapshotter snapshot-controller)"; return 2 ;;
  esac
}

# scratch_module DIR PACKAGE@VERSION: a throwaway module that requires one main package.
scratch_module() {
  rm -rf "$1" && mkdir -p "$1"
  (cd "$1" && go mod init scratch >/dev/null 2>&1 && go get "$2" >&2)
}

build_kube() { # all Kubernetes binaries at once: they share one module graph
  local dir=$cache/src/kubernetes-$KUBE_VERSION
  if [ ! -f "$dir/.ready" ]; then
    log "preparing k8s.io/kubernetes $KUBE_VERSION (first time: a few minutes)"
    rm -rf "$dir" && mkdir -p "$dir"
    local gomod
    gomod=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    (
      cd "$dir"
      go mod init scratch >/dev/null 2>&1
      # Every staging module k8s.io/kubernetes replaces with ./staging/... is served
      # by the proxy at the matching v0 version.
      for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod"); do
        go mod edit -replace "$m=$m@$KUBE_STAGING_VERSION"
      done
      go mod edit -require "k8s.io/kubernetes@$KUBE_VERSION"
      cat > deps.go <<'GO'
package scratch

import (
	_ "k8s.io/kubectl/pkg/cmd"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
)
GO
      go mod tidy >&2
      touch .ready
    )
  fi
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  local b
  for b in $kube_bins; do
    [ -x "$cache/$b/$KUBE_VERSION/$b" ] && continue
    log "building $b $KUBE_VERSION"
    mkdir -p "$cache/$b/$KUBE_VERSION"
    (cd "$dir" && CGO_ENABLED=0 go build -mod=mod -ldflags "$ldflags" -o "$cache/$b/$KUBE_VERSION/$b.tmp" "k8s.io/kubernetes/cmd/$b" >&2)
    mv "$cache/$b/$KUBE_VERSION/$b.tmp" "$cache/$b/$KUBE_VERSION/$b"
  done
}

build_one() {
  local name=$1 version=$2 out=$3
  case $name in
    kube-*|kubelet|kubectl) build_kube; return ;;
    restic) # pinned as a tool in Trove's own go.mod
      (cd "$here/.." && CGO_ENABLED=0 go build -ldflags "-s -w" -o "$out.tmp" github.com/restic/restic/cmd/restic >&2) ;;
    etcd)
      scratch_module "$cache/src/etcd" "go.etcd.io/etcd/server/v3@$version"
      (cd "$cache/src/etcd" && CGO_ENABLED=0 go build -o "$out.tmp" go.etcd.io/etcd/server/v3 >&2) ;;
    minio)
      scratch_module "$cache/src/minio" "github.com/minio/minio@$version"
      (cd "$cache/src/minio" && CGO_ENABLED=0 go build -ldflags "-s -w" -o "$out.tmp" github.com/minio/minio >&2) ;;
    rest-server)
      scratch_module "$cache/src/rest-server" "github.com/restic/rest-server/cmd/rest-server@$version"
      (cd "$cache/src/rest-server" && CGO_ENABLED=0 go build -o "$out.tmp" github.com/restic/rest-server/cmd/rest-server >&2) ;;
    controller-gen)
      scratch_module "$cache/src/controller-tools" "sigs.k8s.io/controller-tools/cmd/controller-gen@$version"
      (cd "$cache/src/controller-tools" && go build -o "$out.tmp" sigs.k8s.io/controller-tools/cmd/controller-gen >&2) ;;
    csi-provisioner)
      scratch_module "$cache/src/external-provisioner" "github.com/kubernetes-csi/external-provisioner/v6/cmd/csi-provisioner@$version"
      (cd "$cache/src/external-provisioner" && CGO_ENABLED=0 go build -ldflags "-s -w -X main.version=$version" -o "$out.tmp" github.com/kubernetes-csi/external-provisioner/v6/cmd/csi-provisioner >&2) ;;
    csi-snapshotter|snapshot-controller) # one module for both; it needs k8s 0.37
      local src=$cache/src/external-snapshotter-$version
      if [ ! -f "$src/.ready" ]; then
        scratch_module "$src" "github.com/kubernetes-csi/external-snapshotter/v8/cmd/csi-snapshotter@$version"
        (cd "$src" && go get "github.com/kubernetes-csi/external-snapshotter/v8/cmd/snapshot-controller@$version" >&2)
        touch "$src/.ready"
      fi
      (cd "$src" && CGO_ENABLED=0 go build -ldflags "-s -w -X main.version=$version" -o "$out.tmp" "github.com/kubernetes-csi/external-snapshotter/v8/cmd/$name" >&2) ;;
  esac
  mv "$out.tmp" "$out"
}

for name in "$@"; do
  version=$(version_of "$name")
  out=$cache/$name/$version/$name
  if [ ! -x "$out" ]; then
    # One build at a time on this machine: concurrent callers wait here, then find
    # the binary cached by whoever held the lock.
    mkdir -p "$cache"
    exec 9>"$cache/.build.lock"
    flock 9
  fi
  if [ ! -x "$out" ]; then
    mkdir -p "$(dirname "$out")"
    start=$SECONDS
    build_one "$name" "$version" "$out"
    log "built $name $version in $((SECONDS - start))s"
  fi
  echo "$out"
done
