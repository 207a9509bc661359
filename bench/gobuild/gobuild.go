// Package gobuild builds the benchmarks' child processes: one way for
// every section, the way the Makefile builds the Lambda bootstraps
// (-trimpath, -s -w, no cgo, lambda.norpc), for the host's own
// architecture so the child runs here.
package gobuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
)

// Host builds the package pkg (an import path, or ./… relative to dir)
// into out. dir is the directory go build runs in ("" = the current one).
func Host(ctx context.Context, dir, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Dir = dir
	// Explicit GOOS/GOARCH override a shell set up for cross-compiling to
	// the Lambda target, whose binary this host could not run.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}
