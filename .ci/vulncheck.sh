#!/usr/bin/env bash
# govulncheck ./... against the Go vulnerability database, without
# vuln.go.dev.
#
# The build machines reach the Go module proxy, npm and apt, but not
# vuln.go.dev, where govulncheck fetches its database by default. The
# database's source is a Go module, though: golang.org/x/vulndb carries every
# report as OSV JSON (data/osv) and the tool that builds the served database
# from them (cmd/indexdb). So this script
#   1. installs govulncheck at a pinned version (go install, via the proxy),
#   2. downloads golang.org/x/vulndb at a pinned version (via the proxy) and
#      builds the v1 database from its data/osv with its own cmd/indexdb,
#   3. runs govulncheck -db file://<that database> ./...
# The database is as fresh as VULNDB_VERSION: bump it (go list -m
# golang.org/x/vulndb@latest) to pick up new reports. Set VULNCHECK_DB to a
# database URL (e.g. https://vuln.go.dev) to use another one instead.
#
# govulncheck reports the standard library of the Go toolchain that builds
# the module (go.mod's go/toolchain lines): a finding there is fixed by a
# toolchain bump, not here.
set -euo pipefail
cd "$(dirname "$0")/.."

GOVULNCHECK_VERSION="v1.9.0"
VULNDB_VERSION="v0.0.0-20261105234957-e22db6528018"

tools="$PWD/devstack/.tools"
bin="$tools/bin"
db="$tools/vulndb-$VULNDB_VERSION"
stamp="$bin/.govulncheck.version"

log() { printf 'vulncheck: %s\n' "$*" >&2; }

if [[ -x "$bin/govulncheck" && -f "$stamp" && "$(cat "$stamp")" == "$GOVULNCHECK_VERSION" ]]; then
	log "govulncheck $GOVULNCHECK_VERSION already installed"
else
	log "installing govulncheck $GOVULNCHECK_VERSION into $bin"
	mkdir -p "$bin"
	# Outside the project module, so its go.mod never steers the install.
	(cd / && GOBIN="$bin" GOFLAGS=-mod=mod go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION")
	printf '%s\n' "$GOVULNCHECK_VERSION" >"$stamp"
fi

dburl="${VULNCHECK_DB:-}"
if [[ -z "$dburl" ]]; then
	if [[ -f "$db/index/db.json" ]]; then
		log "vulnerability database $VULNDB_VERSION already built"
	else
		log "building the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION"
		src="$(cd / && GOFLAGS=-mod=mod go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
		[[ -d "$src/data/osv" ]] || { log "golang.org/x/vulndb@$VULNDB_VERSION has no data/osv"; exit 1; }
		rm -rf "$db.tmp"
		(cd / && GOFLAGS=-mod=mod go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$db.tmp")
		mv "$db.tmp" "$db"
		log "database has $(find "$db/ID" -name '*.json' | wc -l) reports"
	fi
	dburl="file://$db"
fi

log "$(go version); database $dburl"
exec "$bin/govulncheck" -db "$dburl" ./...
