# insights-export — build, lint, test and deploy entry points.
# GNU make. `make` alone lists the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go
# The machine's Go (1.26.8) has standard-library vulnerabilities fixed in
# 1.26.10 (govulncheck: net/http, crypto/tls, crypto/x509). Its go.env sets
# GOTOOLCHAIN=local, which ignores go.mod's toolchain line, so every go
# command run through make asks for the patched toolchain explicitly; the go
# command fetches it once from the module proxy.
export GOTOOLCHAIN ?= go1.26.10

# Lambda builds: static arm64 Linux binaries named `bootstrap` for provided.al2023.
# lambda.norpc drops the legacy net/rpc mode that provided.* runtimes never use.
# (Named LAMBDA_* rather than GOFLAGS: the go command reads GOFLAGS from the
# environment itself, and make would export an inherited value to every go call.)
LAMBDA_ENV   := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"

# $(call lambda-build,<dir under functions/>,<output file>)
lambda-build = $(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(2) ./functions/$(1)

# Function directories; SAM logical ids map onto them below.
FUNCTIONS := startexport checkjob storereport convertreport backfillreports preparebatch writemanifest api \
	checkjobslots releasejobslot wakejobslotwaiter discoverusers advancemark
DIST      := dist

ASL_FILES := $(wildcard statemachine/*.asl.json)
INTERPRETER_DIR := devstack/interpreter

# Every .go file outside tool, build and hidden directories (node_modules,
# testdata, vendor, dist, .git, .aws-sam, devstack/.tools).
GO_SOURCES_CMD := find . -type d \( -name node_modules -o -name testdata -o -name vendor \
	-o -name '$(DIST)' -o -name '.?*' \) -prune -o -type f -name '*.go' -print0

.PHONY: help build clean tools lint fmt-check vet staticcheck cfn-lint asl-lint unit test bench run deploy FORCE \
	build-StartExportFunction build-CheckJobFunction build-StoreReportFunction \
	build-PrepareBatchFunction build-WriteManifestFunction build-ApiFunction build-ConvertReportFunction \
	build-BackfillReportsFunction build-CheckJobSlotsFunction build-ReleaseJobSlotFunction \
	build-WakeJobSlotWaiterFunction build-DiscoverUsersFunction build-AdvanceMarkFunction

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --- sam build (BuildMethod: makefile) ---------------------------------------
# sam build runs `make build-<LogicalId>` with ARTIFACTS_DIR set; the target-
# specific FN picks the package, one recipe builds them all.
SAM_TARGETS := build-StartExportFunction build-CheckJobFunction build-StoreReportFunction \
	build-PrepareBatchFunction build-WriteManifestFunction build-ApiFunction build-ConvertReportFunction \
	build-BackfillReportsFunction build-CheckJobSlotsFunction build-ReleaseJobSlotFunction \
	build-WakeJobSlotWaiterFunction build-DiscoverUsersFunction build-AdvanceMarkFunction
build-StartExportFunction:   FN := startexport
build-CheckJobFunction:      FN := checkjob
build-StoreReportFunction:   FN := storereport
build-ConvertReportFunction: FN := convertreport
build-BackfillReportsFunction: FN := backfillreports
build-PrepareBatchFunction:  FN := preparebatch
build-WriteManifestFunction: FN := writemanifest
build-ApiFunction:           FN := api
build-CheckJobSlotsFunction: FN := checkjobslots
build-ReleaseJobSlotFunction: FN := releasejobslot
build-WakeJobSlotWaiterFunction: FN := wakejobslotwaiter
build-DiscoverUsersFunction: FN := discoverusers
build-AdvanceMarkFunction:   FN := advancemark

$(SAM_TARGETS):
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 1; }
	$(call lambda-build,$(FN),$(ARTIFACTS_DIR)/bootstrap)

# --- local builds --------------------------------------------------------------
build: $(FUNCTIONS:%=$(DIST)/%/bootstrap) ## Build the arm64 bootstraps of every function into dist/<function>/

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

lint: fmt-check vet staticcheck cfn-lint asl-lint ## gofmt check, go vet, staticcheck, cfn-lint, asl-validator

fmt-check: ## Fail if any Go file needs gofmt
	@out="$$($(GO_SOURCES_CMD) | xargs -0 -r gofmt -l)"; \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting:" >&2; echo "$$out" >&2; exit 1; fi

vet: ## go vet ./...
	$(GO) vet ./...

staticcheck: tools ## staticcheck ./... (default checks; pinned in devstack/install-tools.sh)
	devstack/.tools/bin/staticcheck ./...

cfn-lint: ## Lint template.yaml (SAM transform applied)
	cfn-lint template.yaml

# asl-validator's schema takes a whole-field ${Placeholder} but not one
# inside an ARN, so ${Partition} is substituted first, as SAM's
# DefinitionSubstitutions would (with the commercial partition).
asl-lint: tools ## Validate statemachine/*.asl.json with asl-validator
	@test -n "$(ASL_FILES)" || { echo "no statemachine/*.asl.json found" >&2; exit 1; }
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	for f in $(ASL_FILES); do sed 's/\$${Partition}/aws/g' "$$f" > "$$tmp/$$(basename "$$f")"; done; \
	cd $(INTERPRETER_DIR) && npx --no-install asl-validator $(foreach f,$(ASL_FILES),--json-path "$$tmp/$(notdir $(f))")

unit: ## Every test that needs no emulator (go test -short: the moto_server, RIE and interpreter suites skip, saying so)
	$(GO) test -short -count=1 -timeout 5m ./...

test: tools ## Run all Go tests, emulator suites included (what CI runs)
	$(GO) test -count=1 -timeout 30m ./...

# Fuzz targets as <package>:<target>; `make fuzz` runs each for FUZZTIME and
# prints the executions it managed. A crasher lands in the package's
# testdata/fuzz/<target>/ and fails the run.
FUZZTIME ?= 10s
FUZZ_TARGETS := \
	./internal/request:FuzzParseRequest \
	./internal/userlist:FuzzReader \
	./internal/avepoint:FuzzEncodeEmailPath \
	./internal/avepoint:FuzzRetryAfter \
	./internal/avepoint:FuzzMapJobStatus \
	./internal/avepoint:FuzzJobStatusAnswer \
	./internal/avepoint:FuzzClip \
	./internal/avepoint:FuzzUsersPage \
	./internal/zipcheck:FuzzVerify \
	./internal/xlsx:FuzzTable

.PHONY: fuzz vulncheck
# A fuzz run fails on a failing input (written under testdata/fuzz/). The go
# command sometimes also fails a run whose time ran out mid-shutdown with a
# bare "context deadline exceeded" and no input; that is not a finding.
fuzz: ## Run every fuzz target for FUZZTIME (default 10s) each; prints execs per target
	@for t in $(FUZZ_TARGETS); do \
		pkg="$${t%%:*}"; name="$${t##*:}"; \
		if ! out="$$($(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg" 2>&1)"; then \
			if printf '%s\n' "$$out" | grep -q 'Failing input written to' || \
				! printf '%s\n' "$$out" | grep -q '^    context deadline exceeded$$'; then \
				printf '%s\n' "$$out"; exit 1; \
			fi; \
			echo "fuzz: $$name: the go command reported 'context deadline exceeded' as -fuzztime ran out, with no failing input (a known race of the fuzzing coordinator on a loaded machine)"; \
		fi; \
		execs="$$(printf '%s\n' "$$out" | grep -o 'execs: [0-9]*' | tail -1 | cut -d' ' -f2)"; \
		echo "fuzz: $$name ($$pkg): $${execs:-0} execs in $(FUZZTIME)"; \
	done

vulncheck: ## govulncheck ./... (database built from golang.org/x/vulndb, fetched through the Go module proxy)
	bash .ci/vulncheck.sh

# bench/cmd/bench runs every section (sizes, cold start, polling cost, go test
# -bench, store streaming through `go run ./bench/storebench`, convert
# through bench/convertbench, and scale — PrepareBatch and WriteManifest at
# 5,000 and 100,000 users — through bench/scalebench, ~7 min) and writes
# BENCHMARKS.md. BENCH_ARGS passes its flags (e.g. -sections coldstart,polling,
# -sections convert -convert-sizes 10k,200k, or -sections scale), STORE_ARGS
# the store benchmark's (e.g. -sizes 100MiB,1GiB).
bench: tools ## Run every benchmark and write BENCHMARKS.md (flags: BENCH_ARGS="...", STORE_ARGS="...")
	$(GO) run ./bench/cmd/bench -out BENCHMARKS.md -store-args "$(STORE_ARGS)" $(BENCH_ARGS)

# --- local run and deploy --------------------------------------------------------
run: tools ## Run the workflow locally (moto + AvePoint simulator + RIE); pass flags in ARGS="..."
	$(GO) run ./devstack/cmd/run $(ARGS)

deploy: ## sam build && sam deploy --guided
	sam build
	sam deploy --guided
