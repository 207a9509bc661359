package convertbench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Profile is where one converter run's CPU went, from its CPU profile.
type Profile struct {
	Rows         int
	TotalSeconds float64            // CPU samples of the process
	Cum          map[string]float64 // cumulative seconds by profiled part (profileParts' keys)
}

// profileParts are the functions the section reports, by a key, each
// matched against the function names of `go tool pprof -top -cum`: a
// prefix and a suffix (generic instantiations spell their shape between).
var profileParts = []struct{ key, prefix, suffix string }{
	{"handle", "github.com/insights-export/insights-export/internal/convert.(*Converter).Handle", ""},
	{"read", "github.com/insights-export/insights-export/internal/xlsx.(*sheetReader).run", ""},
	{"sst", "github.com/insights-export/insights-export/internal/xlsx.(*Workbook).readSharedStrings", ""},
	{"inflate", "compress/flate.(*decompressor).Read", ""},
	{"write", "github.com/insights-export/insights-export/internal/dataset.(*SheetWriter).Write", ""},
	{"rowid", "github.com/insights-export/insights-export/internal/dataset.rowID", ""},
	{"parquet", "github.com/parquet-go/parquet-go.(*GenericWriter[", "]).Write"},
	{"zstd", "github.com/klauspost/compress/zstd.(*Encoder).EncodeAll", ""},
	{"sha256", "crypto/internal/fips140/sha256.(*Digest).Write", ""},
	{"close", "github.com/insights-export/insights-export/internal/dataset.(*Writer).Close", ""},
	{"malloc", "runtime.mallocgc", ""},
	{"gc", "runtime.gcBgMarkWorker", ""},
}

var (
	pprofTotal = regexp.MustCompile(`Total samples = ([0-9.]+)(ms|s|mins|hrs)\b`)
	pprofLine  = regexp.MustCompile(`^\s*([0-9.]+)(ms|s|mins|hrs)?\s+[0-9.]+%\s+[0-9.]+%\s+([0-9.]+)(ms|s|mins|hrs)?\s+[0-9.]+%\s+(\S.*)$`)
)

// parsePprofTop reads `go tool pprof -top -cum` output: the total CPU
// samples and the cumulative seconds of each profiled part found.
func parsePprofTop(out string) (float64, map[string]float64, error) {
	m := pprofTotal.FindStringSubmatch(out)
	if m == nil {
		return 0, nil, fmt.Errorf("no \"Total samples\" in the pprof output")
	}
	total := seconds(m[1], m[2])
	cum := map[string]float64{}
	for _, l := range strings.Split(out, "\n") {
		f := pprofLine.FindStringSubmatch(l)
		if f == nil {
			continue
		}
		name := strings.TrimSpace(f[5])
		for _, p := range profileParts {
			if _, seen := cum[p.key]; !seen && strings.HasPrefix(name, p.prefix) && strings.HasSuffix(name, p.suffix) && (p.suffix != "" || name == p.prefix) {
				cum[p.key] = seconds(f[3], f[4])
			}
		}
	}
	return total, cum, nil
}

func seconds(v, unit string) float64 {
	x, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "ms":
		return x / 1000
	case "mins":
		return x * 60
	case "hrs":
		return x * 3600
	}
	return x
}

// profileConverter runs the converter once more on a workbook, with a CPU
// profile (not one of the measured runs: profiling perturbs them).
func profileConverter(ctx context.Context, child, tmp string, b Book, spool string) (Profile, error) {
	prof := filepath.Join(tmp, "convert.pprof")
	job := Job{Mode: ModeConvert, XLSX: b.XLSX, ZIP: b.ZIP, ZIPSHA256: b.ZIPSHA256, Spool: spool}
	if _, err := runSampleEnv(ctx, child, job, "CONVERTCHILD_CPUPROFILE="+prof); err != nil {
		return Profile{}, err
	}
	cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=400", child, prof)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Profile{}, fmt.Errorf("go tool pprof: %v: %s", err, tail(stderr.Bytes()))
	}
	total, cum, err := parsePprofTop(stdout.String())
	if err != nil {
		return Profile{}, err
	}
	_ = os.Remove(prof)
	return Profile{Rows: b.Rows, TotalSeconds: total, Cum: cum}, nil
}
