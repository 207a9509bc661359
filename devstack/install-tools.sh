#!/usr/bin/env bash
# Installs the local-stack tools the devstack harness needs. Idempotent: each
# step checks first and does nothing when the tool is already in place, so CI
# and `make` can call it on every run.
#
#   aws-lambda-rie  -> devstack/.tools/bin/aws-lambda-rie (pinned go install)
#   staticcheck     -> devstack/.tools/bin/staticcheck (pinned go install; make lint)
#   node_modules    -> devstack/interpreter/node_modules (npm ci from the lock)
#
# Go code in package devstack only locates these and, when missing, fails with
# a message naming this script.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RIE_MODULE="github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
RIE_VERSION="v0.0.0-20261030222936-bef5c4ba774d"
tools_bin="$here/.tools/bin"
stamp="$tools_bin/.aws-lambda-rie.version"

log() { printf 'install-tools: %s\n' "$*" >&2; }

need() {
	command -v "$1" >/dev/null 2>&1 || { log "required command '$1' not found on PATH"; exit 1; }
}
need go
need node
need npm

# aws-lambda-rie: a stamp file records the installed version so a pin bump
# reinstalls instead of silently keeping an old binary.
if [[ -x "$tools_bin/aws-lambda-rie" && -f "$stamp" && "$(cat "$stamp")" == "$RIE_VERSION" ]]; then
	log "aws-lambda-rie $RIE_VERSION already installed"
else
	log "installing aws-lambda-rie $RIE_VERSION into $tools_bin"
	mkdir -p "$tools_bin"
	start=$(date +%s)
	# Run outside the project module so its go.mod (and -mod settings) never
	# interfere with the install of a pinned tool version.
	(cd / && GOBIN="$tools_bin" GOFLAGS=-mod=mod go install "$RIE_MODULE@$RIE_VERSION")
	printf '%s\n' "$RIE_VERSION" >"$stamp"
	log "aws-lambda-rie installed in $(($(date +%s) - start))s"
fi

# staticcheck for make lint, pinned like the RIE.
SC_MODULE="honnef.co/go/tools/cmd/staticcheck"
SC_VERSION="v0.8.2"
sc_stamp="$tools_bin/.staticcheck.version"
if [[ -x "$tools_bin/staticcheck" && -f "$sc_stamp" && "$(cat "$sc_stamp")" == "$SC_VERSION" ]]; then
	log "staticcheck $SC_VERSION already installed"
else
	log "installing staticcheck $SC_VERSION into $tools_bin"
	mkdir -p "$tools_bin"
	(cd / && GOBIN="$tools_bin" GOFLAGS=-mod=mod go install "$SC_MODULE@$SC_VERSION")
	printf '%s
' "$SC_VERSION" >"$sc_stamp"
fi

# Interpreter dependencies: npm ci only when node_modules is absent or older
# than the lock file, so repeated runs are free.
interp="$here/interpreter"
marker="$interp/node_modules/.package-lock.json"
if [[ -f "$marker" && "$marker" -nt "$interp/package-lock.json" ]]; then
	log "interpreter node_modules up to date"
else
	log "running npm ci in $interp"
	(cd "$interp" && npm ci --no-audit --no-fund --loglevel=error)
fi
