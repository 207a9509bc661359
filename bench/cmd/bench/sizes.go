package main

import (
	"archive/tar"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Deployment build flags, as the Makefile's lambda-build.
var (
	functions   = []string{"startexport", "checkjob", "storereport"}
	lambdaFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w"}
	lambdaEnv   = []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"}
)

const sizeTarget = 10 << 20 // 10 MiB

// runSizes measures the arm64 deployment bootstraps (`make build`) against
// the same build of a baseline revision, and breaks the storereport binary
// down by package.
func runSizes(ctx context.Context, r *report) error {
	began := time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	mk := os.Getenv("MAKE")
	if mk == "" {
		mk = "make"
	}
	r.commands = append(r.commands, buildCommand)
	if out, err := run(ctx, root, nil, mk, "build"); err != nil {
		return fmt.Errorf("make build: %w\n%s", err, out)
	}
	// Every function make build built: the three export steps and any
	// other function folder with a fresh dist/<fn>/bootstrap.
	fns := append([]string(nil), functions...)
	if dirs, err := os.ReadDir(filepath.Join(root, "functions")); err == nil {
		for _, d := range dirs {
			if d.IsDir() && !contains(fns, d.Name()) {
				if st, err := os.Stat(filepath.Join(root, "dist", d.Name(), "bootstrap")); err == nil && st.ModTime().After(began) {
					fns = append(fns, d.Name())
				}
			}
		}
	}
	now := map[string]int64{}
	for _, fn := range fns {
		st, err := os.Stat(filepath.Join(root, "dist", fn, "bootstrap"))
		if err != nil {
			return err
		}
		now[fn] = st.Size()
	}
	builtSizes = now

	tmp, err := os.MkdirTemp("", "bench-sizes-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	base := map[string]int64{}
	baseTree := ""
	if r.opts.sizeBaselineRev != "" {
		tree, err := r.baselineTree(ctx)
		for _, fn := range fns {
			if err != nil {
				break
			}
			if _, serr := os.Stat(filepath.Join(tree, "functions", fn)); serr != nil {
				continue // added after the baseline
			}
			out := filepath.Join(tmp, "base-"+fn)
			if msg, berr := run(ctx, tree, lambdaEnv, "go", append(append([]string{"build"}, lambdaFlags...), "-o", out, "./functions/"+fn)...); berr != nil {
				err = fmt.Errorf("build %s at %s: %w\n%s", fn, r.opts.sizeBaselineRev, berr, msg)
				break
			}
			st, serr := os.Stat(out)
			if serr != nil {
				err = serr
				break
			}
			base[fn] = st.Size()
		}
		if err != nil {
			r.failures = append(r.failures, "size baseline: "+err.Error())
			base = map[string]int64{}
		} else {
			baseTree = tree
		}
	}

	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("Built by `make build` (`CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags \"-s -w\"`).")
	if len(base) > 0 {
		p("Baseline: the same build of revision %s, extracted with `git archive` and built in the same run.", r.baselineLabel(ctx))
	}
	p("")
	p("| bootstrap | bytes | MiB | baseline bytes | change | target ≤ 10 MiB |")
	p("|---|---:|---:|---:|---:|---|")
	for _, fn := range fns {
		bl, change := "—", "—"
		if v, ok := base[fn]; ok {
			bl = strconv.FormatInt(v, 10)
			change = fmt.Sprintf("%+.1f %%", 100*float64(now[fn]-v)/float64(v))
		}
		p("| %s | %d | %.2f | %s | %s | %s |", fn, now[fn], float64(now[fn])/(1<<20), bl, change, yesNo(now[fn] <= sizeTarget))
		baseline, ratio := "—", "—"
		if v, ok := base[fn]; ok {
			baseline = fmt.Sprintf("%.2f MiB (%s)", float64(v)/(1<<20), r.opts.sizeBaselineRev)
			ratio = fmt.Sprintf("%.2f", float64(now[fn])/float64(v))
		}
		r.rows = append(r.rows, row{coldStartRows, fn + sizeFigure, fmt.Sprintf("%.2f MiB", float64(now[fn])/(1<<20)), baseline, ratio, "≤ 10 MiB", yesNo(now[fn] <= sizeTarget)})
	}

	// What the bytes are: symbol sizes of an unstripped storereport build,
	// grouped by package.
	cur, err := packageSizes(ctx, root, tmp, "storereport", "now")
	if err != nil {
		return err
	}
	var old map[string]int64
	if baseTree != "" {
		if old, err = packageSizes(ctx, baseTree, tmp, "storereport", "base"); err != nil {
			return err
		}
	}
	p("")
	p("What storereport is made of: ELF symbols of the same build without `-s -w`, bytes stored in the file by package, top 15 (`-s -w` drops the symbol table and DWARF, not the code, data or pclntab these symbols measure):")
	p("")
	p("| package | KiB now | KiB baseline |")
	p("|---|---:|---:|")
	for _, pkg := range topPackages(cur, old, 15) {
		p("| %s | %.0f | %s |", pkg, float64(cur[pkg])/1024, kib(old, pkg))
	}
	chain := func(m map[string]int64) int64 {
		var n int64
		for pkg, v := range m {
			if credentialChainPackage(pkg) {
				n += v
			}
		}
		return n
	}
	if old != nil {
		p("")
		p("Default credential chain (`config`, `credentials/{sso,sts,process,logincreds}`, `service/{sso,ssooidc,sts,signin}`, `feature/ec2/imds`, `internal/ini`…): %.0f KiB of symbols at baseline, %.0f KiB now.",
			float64(chain(old))/1024, float64(chain(cur))/1024)
	}
	r.add(11, b.String(), time.Since(began))
	return nil
}

// builtSizes are the arm64 bootstraps runSizes measured in this run (by
// function), which the cold-start table shows beside each function.
var builtSizes map[string]int64

// deploymentSizes returns the arm64 deployment bootstrap's size of each
// name (a function, or "hello" for devstack/testdata/hello): this run's
// §1a figures where it has them, else a build into tmp with the same
// flags.
func deploymentSizes(ctx context.Context, root, tmp string, names []string) (map[string]int64, error) {
	sizes := map[string]int64{}
	for _, name := range names {
		if v, ok := builtSizes[name]; ok {
			sizes[name] = v
			continue
		}
		pkg := "./functions/" + name
		if name == "hello" {
			pkg = "./devstack/testdata/hello"
		}
		out := filepath.Join(tmp, "arm64-"+name)
		if msg, err := run(ctx, root, lambdaEnv, "go", append(append([]string{"build"}, lambdaFlags...), "-o", out, pkg)...); err != nil {
			return nil, fmt.Errorf("arm64 build of %s: %w\n%s", name, err, msg)
		}
		st, err := os.Stat(out)
		if err != nil {
			return nil, err
		}
		sizes[name] = st.Size()
	}
	return sizes, nil
}

func mib(n int64) string {
	if n <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
}

func kib(m map[string]int64, pkg string) string {
	if m == nil {
		return "—"
	}
	return fmt.Sprintf("%.0f", float64(m[pkg])/1024)
}

// credentialChainPackage is what config.LoadDefaultConfig pulls in beyond
// what a Lambda function needs.
func credentialChainPackage(pkg string) bool {
	for _, p := range []string{
		"github.com/aws/aws-sdk-go-v2/config",
		"github.com/aws/aws-sdk-go-v2/credentials/ssocreds", "github.com/aws/aws-sdk-go-v2/credentials/stscreds",
		"github.com/aws/aws-sdk-go-v2/credentials/processcreds", "github.com/aws/aws-sdk-go-v2/credentials/logincreds",
		"github.com/aws/aws-sdk-go-v2/service/sso", "github.com/aws/aws-sdk-go-v2/service/ssooidc",
		"github.com/aws/aws-sdk-go-v2/service/sts", "github.com/aws/aws-sdk-go-v2/service/signin",
		"github.com/aws/aws-sdk-go-v2/feature/ec2/imds", "github.com/aws/aws-sdk-go-v2/internal/ini",
		"github.com/aws/aws-sdk-go-v2/internal/shareddefaults",
	} {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}

func topPackages(cur, old map[string]int64, n int) []string {
	var pkgs []string
	for k := range cur {
		pkgs = append(pkgs, k)
	}
	sort.Slice(pkgs, func(i, j int) bool {
		if cur[pkgs[i]] != cur[pkgs[j]] {
			return cur[pkgs[i]] > cur[pkgs[j]]
		}
		return pkgs[i] < pkgs[j]
	})
	if len(pkgs) > n {
		pkgs = pkgs[:n]
	}
	return pkgs
}

func packageSizes(ctx context.Context, tree, tmp, fn, tag string) (map[string]int64, error) {
	bin := filepath.Join(tmp, tag+"-"+fn+".full")
	flags := []string{"build", "-tags", "lambda.norpc", "-trimpath", "-o", bin, "./functions/" + fn}
	if out, err := run(ctx, tree, lambdaEnv, "go", flags...); err != nil {
		return nil, fmt.Errorf("unstripped build of %s: %w\n%s", fn, err, out)
	}
	return elfPackageSizes(bin)
}

// elfPackageSizes sums the sizes of an ELF binary's symbols by package,
// counting only symbols stored in the file (not .bss/.noptrbss, such as
// crypto/internal/fips140/drbg's 32 MiB buffer). Symbols of AWS SDK
// services are folded into their service (service/s3/internal/… →
// service/s3) so generated sub-packages count with it.
func elfPackageSizes(bin string) (map[string]int64, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
	sizes := map[string]int64{}
	for _, s := range syms {
		if s.Size == 0 || s.Section == elf.SHN_UNDEF || int(s.Section) >= len(f.Sections) {
			continue
		}
		if f.Sections[s.Section].Type == elf.SHT_NOBITS {
			continue
		}
		sizes[symbolPackage(s.Name)] += int64(s.Size)
	}
	return sizes, nil
}

func symbolPackage(sym string) string {
	sym = strings.TrimLeft(sym, "*(")
	// Generic instantiations name their type arguments in brackets, which
	// hold slashes and dots of other packages.
	if i := strings.IndexByte(sym, '['); i >= 0 {
		sym = sym[:i]
	}
	if strings.HasPrefix(sym, "go:") || strings.HasPrefix(sym, "type:") || strings.HasPrefix(sym, "runtime.") {
		head, _, _ := strings.Cut(sym, ".")
		return head
	}
	slash := strings.LastIndex(sym, "/")
	dot := strings.Index(sym[slash+1:], ".")
	pkg := sym
	if dot >= 0 {
		pkg = sym[:slash+1+dot]
	}
	const sdk = "github.com/aws/aws-sdk-go-v2/"
	if strings.HasPrefix(pkg, sdk+"service/") {
		parts := strings.SplitN(strings.TrimPrefix(pkg, sdk+"service/"), "/", 2)
		if parts[0] != "internal" {
			return sdk + "service/" + parts[0]
		}
	}
	return pkg
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the module; run from the repository root")
	}
	return filepath.Dir(mod), nil
}

// run runs a command in dir with extra environment and returns its
// combined output.
func run(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// gitArchive extracts revision rev of the repository at root into dir,
// read-only for the repository (no checkout, no index change).
func gitArchive(ctx context.Context, root, rev, dir string) error {
	cmd := exec.CommandContext(ctx, "git", "archive", "--format=tar", rev)
	cmd.Dir = root
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git archive: %w", err)
	}
	extractErr := untar(stdout, dir)
	_, _ = io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git archive %s: %w: %s", rev, err, strings.TrimSpace(stderr.String()))
	}
	return extractErr
}

func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			return fmt.Errorf("archive entry %q escapes the target", h.Name)
		}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o755|0o600)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
}
