package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

const (
	// RIEVersion is the pinned aws-lambda-rie module version installed by
	// install-tools.sh.
	RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"
	// InstallScript installs every tool this package needs; it is named in
	// every "tool missing" error.
	InstallScript = "devstack/install-tools.sh"

	stepFunctionsPkg     = "aws-local-stepfunctions"
	stepFunctionsVersion = "3.0.0"
	aslValidatorPkg      = "asl-validator"
	aslValidatorVersion  = "4.0.0"
	duckDBPkg            = "@duckdb/node-api"
	duckDBVersion        = "1.5.6-r.1"
	minNodeMajor         = 20 // run.mjs polyfills what Node 20 lacks
)

// Tools are the absolute paths of the external pieces the harness runs.
type Tools struct {
	RIE            string // aws-lambda-rie binary
	Node           string // node binary
	InterpreterDir string // devstack/interpreter, with node_modules installed
}

var (
	toolsMu    sync.Mutex
	toolsCache *Tools
)

// EnsureTools reports whether every tool is in place, with an error naming
// InstallScript when one is not. It never installs anything: installing is
// the script's job so CI, make and developers share one path.
func EnsureTools(ctx context.Context) error {
	_, err := LocateTools(ctx)
	return err
}

// LocateTools finds aws-lambda-rie, node and the interpreter's
// node_modules. A successful result is cached for the process.
func LocateTools(ctx context.Context) (Tools, error) {
	toolsMu.Lock()
	defer toolsMu.Unlock()
	if toolsCache != nil {
		return *toolsCache, nil
	}
	dir, err := Dir()
	if err != nil {
		return Tools{}, err
	}
	rie, err := locateRIE(ctx, dir)
	if err != nil {
		return Tools{}, err
	}
	node, err := locateNode(ctx)
	if err != nil {
		return Tools{}, err
	}
	interp := filepath.Join(dir, "interpreter")
	if err := checkNodeModules(interp); err != nil {
		return Tools{}, err
	}
	t := Tools{RIE: rie, Node: node, InterpreterDir: interp}
	toolsCache = &t
	return t, nil
}

// Dir returns the absolute path of the devstack source folder. It uses this
// file's compile-time path (valid for go test and go run in the checkout)
// and falls back to walking up from the working directory to the module
// root, for binaries built with -trimpath.
func Dir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		d := filepath.Dir(file)
		if isDevstackDir(d) {
			return d, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("devstack: locate source folder: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if isDevstackDir(filepath.Join(d, "devstack")) {
			return filepath.Join(d, "devstack"), nil
		}
		if isDevstackDir(d) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("devstack: no devstack/interpreter/run.mjs above %s", wd)
		}
	}
}

func isDevstackDir(d string) bool {
	_, err := os.Stat(filepath.Join(d, "interpreter", "run.mjs"))
	return err == nil
}

func missing(what string, err error) error {
	return fmt.Errorf("devstack: %s: %w; run `bash %s`", what, err, InstallScript)
}

// locateRIE prefers the pinned copy installed by the script, so a stale
// aws-lambda-rie elsewhere cannot shadow the pin, then PATH, then
// $(go env GOPATH)/bin.
func locateRIE(ctx context.Context, dir string) (string, error) {
	candidates := []string{filepath.Join(dir, ".tools", "bin", "aws-lambda-rie")}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		candidates = append(candidates, p)
	}
	if gopath := goPath(ctx); gopath != "" {
		for _, g := range filepath.SplitList(gopath) {
			candidates = append(candidates, filepath.Join(g, "bin", "aws-lambda-rie"))
		}
	}
	for _, c := range candidates {
		if isExecutable(c) {
			return filepath.Abs(c)
		}
	}
	return "", missing("aws-lambda-rie not found", fmt.Errorf("looked in %s", strings.Join(candidates, ", ")))
}

func goPath(ctx context.Context) string {
	if g := os.Getenv("GOPATH"); g != "" {
		return g
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func locateNode(ctx context.Context) (string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", missing("node not found on PATH", err)
	}
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("devstack: %s --version: %w", node, err)
	}
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, err := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	if err != nil || major < minNodeMajor {
		return "", fmt.Errorf("devstack: node %s found at %s, need >= %d", v, node, minNodeMajor)
	}
	return node, nil
}

// checkNodeModules verifies the exact pinned versions, so a stale
// node_modules from an older lock file is reported instead of silently used.
func checkNodeModules(interp string) error {
	for pkg, want := range map[string]string{stepFunctionsPkg: stepFunctionsVersion, aslValidatorPkg: aslValidatorVersion, duckDBPkg: duckDBVersion} {
		raw, err := os.ReadFile(filepath.Join(interp, "node_modules", pkg, "package.json"))
		if err != nil {
			return missing("interpreter node_modules incomplete", err)
		}
		var meta struct {
			Version string `json:"version"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return missing("interpreter node_modules broken", fmt.Errorf("%s/package.json: %w", pkg, err))
		}
		if meta.Version != want {
			return missing("interpreter node_modules stale", fmt.Errorf("%s is %s, want %s", pkg, meta.Version, want))
		}
	}
	return nil
}
