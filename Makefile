# Trove's build, test and dev entry points. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

include hack/versions.env
export TROVE_CACHE ?= $(HOME)/.cache/trove
BIN := hack/bin.sh
GO_TEST_FLAGS ?= -count=1

CONTROLLER_GEN = $(shell $(BIN) controller-gen)

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# Binaries the tests run against, built once from the module proxy into $(TROVE_CACHE).
TEST_BINARIES := etcd kube-apiserver restic minio rest-server
NODE_BINARIES := kubelet kube-controller-manager kube-scheduler kube-proxy kubectl csi-provisioner csi-snapshotter snapshot-controller

##@ Quick start

.PHONY: run
run: ## Bring up a real single-node cluster (Linux, root), deploy Trove and a sample backup; Ctrl-C tears down.
	$(BIN) $(TEST_BINARIES) $(NODE_BINARIES) >/dev/null
	go run ./test/cluster/cmd run

.PHONY: down
down: ## Tear the single-node cluster down and clean the machine.
	go run ./test/cluster/cmd down

.PHONY: controlplane
controlplane: ## Start only kube-apiserver + etcd with Trove's CRDs (no root, no node); Ctrl-C stops it.
	go run ./test/controlplane/devenv

##@ Development

.PHONY: build
build: ## Build Trove's binaries into bin/.
	CGO_ENABLED=0 go build -o bin/ ./cmd/...

.PHONY: generate
generate: ## Generate deepcopy code for apis/.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./apis/...

.PHONY: manifests
manifests: ## Generate CRDs (deploy/crds) and RBAC (deploy/rbac) from the API types and markers.
	rm -rf deploy/crds/*.yaml deploy/rbac/controller deploy/rbac/agent
	$(CONTROLLER_GEN) crd:generateEmbeddedObjectMeta=true paths=./apis/... output:crd:artifacts:config=deploy/crds
	$(CONTROLLER_GEN) rbac:roleName=trove-controller paths=./controller/... output:rbac:artifacts:config=deploy/rbac/controller
	$(CONTROLLER_GEN) rbac:roleName=trove-agent paths=./node/... output:rbac:artifacts:config=deploy/rbac/agent

.PHONY: verify
verify: generate manifests ## Regenerate everything and fail on any difference; gofmt and go vet.
	@changed=$$(git status --porcelain -- apis deploy); \
	if [ -n "$$changed" ]; then echo "Generated files are stale; run 'make generate manifests' and commit:"; echo "$$changed"; git --no-pager diff --stat -- apis deploy; exit 1; fi
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	go vet ./...
	go vet -tags e2e ./test/e2e/...
	go vet -tags bench ./test/bench/...

##@ Tests

.PHONY: test
test: test-go e2e ## Run every test tier: unit, integration (real apiserver, restic, MinIO) and e2e (real node).

.PHONY: binaries
binaries: ## Build (once) every pinned binary the tests use.
	$(BIN) controller-gen $(TEST_BINARIES) >/dev/null

# Debian packages the database Functions' tests run as real servers (test/dbserver).
DB_PACKAGES := postgresql mariadb-server redis-server

.PHONY: test-deps
test-deps: ## Install the database servers the tests use (Debian packages; apt-get as root).
	@missing=$$(for p in $(DB_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
			echo "test-deps: missing Debian packages: $$missing (install them: apt-get install -y $$missing)"; exit 1; fi; \
		echo "test-deps: installing $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

.PHONY: test-go
test-go: binaries test-deps ## Unit and integration tests.
	go test $(GO_TEST_FLAGS) -timeout 30m ./...

.PHONY: e2e
e2e: ## End-to-end tests on a real single-node cluster (needs Linux and root; skipped otherwise).
	@if [ "$$(uname -s)" != Linux ] || [ "$$(id -u)" != 0 ]; then \
		echo "e2e: skipped: the real node needs Linux and root (use kind/e2e.sh on a Docker host)"; exit 0; fi; \
	$(BIN) $(TEST_BINARIES) $(NODE_BINARIES) >/dev/null && \
	go test -tags e2e $(GO_TEST_FLAGS) -timeout 45m -v ./test/e2e/...

.PHONY: bench
bench: binaries test-deps ## Run the benchmarks (not tests) and print their tables.
	go test -tags bench -count=1 -timeout 90m -v -run 'Bench' ./test/bench/...
