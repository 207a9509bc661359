# insights-export — build, lint, test and deploy entry points.
# GNU make. `make` alone lists the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go

# Lambda builds: static arm64 Linux binaries named `bootstrap` for provided.al2023.
# lambda.norpc drops the legacy net/rpc mode that provided.* runtimes never use.
# (Named LAMBDA_* rather than GOFLAGS: the go command reads GOFLAGS from the
# environment itself, and make would export an inherited value to every go call.)
LAMBDA_ENV   := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"

# $(call lambda-build,<dir under functions/>,<output file>)
lambda-build = $(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(2) ./functions/$(1)

# Function directories; SAM logical ids map onto them below.
FUNCTIONS := startexport checkjob storereport
DIST      := dist

ASL_FILES := $(wildcard statemachine/*.asl.json)
INTERPRETER_DIR := devstack/interpreter

# Every .go file outside tool, build and hidden directories (node_modules,
# testdata, vendor, dist, .git, .aws-sam, devstack/.tools).
GO_SOURCES_CMD := find . -type d \( -name node_modules -o -name testdata -o -name vendor \
	-o -name '$(DIST)' -o -name '.?*' \) -prune -o -type f -name '*.go' -print0

.PHONY: help build clean tools lint fmt-check vet cfn-lint asl-lint test bench run deploy FORCE \
	build-StartExportFunction build-CheckJobFunction build-StoreReportFunction

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --- sam build (BuildMethod: makefile) ---------------------------------------
# sam build runs `make build-<LogicalId>` with ARTIFACTS_DIR set; the target-
# specific FN picks the package, one recipe builds them all.
SAM_TARGETS := build-StartExportFunction build-CheckJobFunction build-StoreReportFunction
build-StartExportFunction: FN := startexport
build-CheckJobFunction:    FN := checkjob
build-StoreReportFunction: FN := storereport

$(SAM_TARGETS):
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 1; }
	$(call lambda-build,$(FN),$(ARTIFACTS_DIR)/bootstrap)

# --- local builds --------------------------------------------------------------
build: $(FUNCTIONS:%=$(DIST)/%/bootstrap) ## Build the three arm64 bootstraps into dist/<function>/

# Always handed to go: its build cache knows the real dependencies, make doesn't.
$(DIST)/%/bootstrap: FORCE
	@mkdir -p $(@D)
	$(call lambda-build,$*,$@)

FORCE:

clean: ## Remove dist/ and .aws-sam/
	rm -rf $(DIST) .aws-sam

# --- tools, lint, tests ----------------------------------------------------------
tools: ## Install aws-lambda-rie and the ASL interpreter's node_modules (idempotent)
	bash devstack/install-tools.sh

lint: fmt-check vet cfn-lint asl-lint ## gofmt check, go vet, cfn-lint, asl-validator

fmt-check: ## Fail if any Go file needs gofmt
	@out="$$($(GO_SOURCES_CMD) | xargs -0 -r gofmt -l)"; \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting:" >&2; echo "$$out" >&2; exit 1; fi

vet: ## go vet ./...
	$(GO) vet ./...

cfn-lint: ## Lint template.yaml (SAM transform applied)
	cfn-lint template.yaml

asl-lint: tools ## Validate statemachine/*.asl.json with asl-validator
	@test -n "$(ASL_FILES)" || { echo "no statemachine/*.asl.json found" >&2; exit 1; }
	cd $(INTERPRETER_DIR) && npx --no-install asl-validator $(foreach f,$(ASL_FILES),--json-path $(abspath $(f)))

test: tools ## Run all Go tests (integration tests need the tools)
	$(GO) test -count=1 -timeout 30m ./...

bench: ## Run the Go benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

# --- local run and deploy --------------------------------------------------------
run: tools ## Run the workflow locally (moto + AvePoint simulator + RIE); pass flags in ARGS="..."
	$(GO) run ./devstack/cmd/run $(ARGS)

deploy: ## sam build && sam deploy --guided
	sam build
	sam deploy --guided
