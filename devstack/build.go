package devstack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// BuildBootstrap builds the Go main package in pkgDir into outDir/bootstrap
// with the deployment flags (CGO_ENABLED=0, -tags lambda.norpc, -trimpath,
// -ldflags "-s -w") but for the host GOOS/GOARCH, so the binary the RIE runs
// is the one that would be deployed, modulo the target platform.
func BuildBootstrap(ctx context.Context, pkgDir, outDir string) (string, error) {
	absPkg, err := filepath.Abs(pkgDir)
	if err != nil {
		return "", fmt.Errorf("devstack: build %s: %w", pkgDir, err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("devstack: build %s: %w", pkgDir, err)
	}
	out, err := filepath.Abs(filepath.Join(outDir, "bootstrap"))
	if err != nil {
		return "", fmt.Errorf("devstack: build %s: %w", pkgDir, err)
	}
	cmd := exec.CommandContext(ctx, "go", "build",
		"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w",
		"-o", out, ".")
	cmd.Dir = absPkg
	// Explicit GOOS/GOARCH override anything inherited (a shell set up for
	// cross-compiling to the Lambda target would otherwise produce a binary
	// this host cannot run).
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if combined, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("devstack: go build %s: %w\n%s", absPkg, err, combined)
	}
	return out, nil
}
