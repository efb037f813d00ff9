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
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

##@ Quick start

.PHONY: run
run: ## Start Trove's control plane locally with its CRDs (no cluster needed); Ctrl-C stops it.
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
	$(CONTROLLER_GEN) crd paths=./apis/... output:crd:artifacts:config=deploy/crds
	$(CONTROLLER_GEN) rbac:roleName=trove-controller paths=./controller/... output:rbac:artifacts:config=deploy/rbac/controller
	$(CONTROLLER_GEN) rbac:roleName=trove-agent paths=./node/... output:rbac:artifacts:config=deploy/rbac/agent

.PHONY: verify
verify: generate manifests ## Regenerate everything and fail on any difference; gofmt and go vet.
	@changed=$$(git status --porcelain -- apis deploy); \
	if [ -n "$$changed" ]; then echo "Generated files are stale; run 'make generate manifests' and commit:"; echo "$$changed"; git --no-pager diff --stat -- apis deploy; exit 1; fi
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	go vet ./...

##@ Tests

.PHONY: test
test: ## Run every test tier: unit and integration (real kube-apiserver, etcd, restic, MinIO).
	go test $(GO_TEST_FLAGS) ./...

.PHONY: bench
bench: ## Run the benchmarks (not tests) and print their tables.
	@echo "no benchmarks yet"
