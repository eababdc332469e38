# respa-exchange-operator. `make help` lists the targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

IMG ?= respa-exchange-operator:dev
BIN := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
KUBEBUILDER_ASSETS := $(BIN)/k8s
GO_TEST_FLAGS ?= -count=1
export KUBEBUILDER_ASSETS

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Development

.PHONY: tools
tools: ## Build controller-gen, kube-apiserver, kubectl and etcd into bin/ (first time: ~15 min).
	hack/build-tools.sh all

$(CONTROLLER_GEN):
	hack/build-tools.sh controller-gen

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs and RBAC from the API types and markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/...;./controllers/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths="./api/..."

.PHONY: fmt
fmt: ## gofmt the code.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: docs
docs: ## Generate the API field reference docs/api-reference.md from the CRDs.
	go run ./hack/apidocs -crds config/crd/bases -out docs/api-reference.md

.PHONY: verify
verify: manifests generate docs ## Fail when generated files are stale or code is not gofmt'ed.
	@git diff --exit-code -- config api docs || { echo "generated files are stale: run 'make manifests generate docs' and commit"; exit 1; }
	@test -z "$$(git ls-files --others --exclude-standard -- config api)" || { echo "untracked generated files:"; git ls-files --others --exclude-standard -- config api; exit 1; }
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "not gofmt'ed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

.PHONY: deps
deps: ## Install the Debian packages some tests use (xmllint, python3-exchangelib) when missing.
	hack/install-deps.sh

.PHONY: test
test: deps tools verify vet ## Run every test, envtest ones on a real kube-apiserver and etcd.
	go test $(GO_TEST_FLAGS) ./...

.PHONY: bench
bench: ## Run the benchmarks once and print their numbers.
	go test -run '^$$' -bench . -benchmem -benchtime 1x ./... 2>&1 | grep -E '^(Benchmark|ok|FAIL|---)' 

.PHONY: bench-latency
bench-latency: tools build ## Load harness: change latency both ways over 200 rooms with 20 ms simulator latency.
	go run ./cmd/bench-latency -assets $(KUBEBUILDER_ASSETS) -manager $(BIN)/manager $(BENCH_LATENCY_FLAGS)

##@ Running

.PHONY: build
build: ## Build the manager and the simulators into bin/.
	go build -o $(BIN)/manager ./cmd/manager
	go build -o $(BIN)/demo ./cmd/demo

.PHONY: demo
demo: tools build ## Run the product locally: API server, simulators, manager, live view.
	$(BIN)/demo run --assets $(KUBEBUILDER_ASSETS) --workdir $(CURDIR)/.demo

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build -t $(IMG) .
