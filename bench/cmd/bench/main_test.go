package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseBench(t *testing.T) {
	out := `goos: linux
BenchmarkEncodeEmailPath/member-2         	  468661	       500.0 ns/op	     224 B/op	       2 allocs/op
BenchmarkEncodeEmailPath/member-2         	  468661	       520.0 ns/op	     224 B/op	       2 allocs/op
BenchmarkEncodeEmailPath/member-2         	  468661	       900.0 ns/op	     224 B/op	       2 allocs/op
BenchmarkEncodeEmailPathBaseline/member-2 	 6086096	        34.50 ns/op	       0 B/op	       0 allocs/op
BenchmarkStorerHandle-2   	      10	  84004057 ns/op	 399.44 MB/s	50752410 B/op	     274 allocs/op
PASS
ok  	github.com/insights-export/insights-export/internal/avepoint	2.409s
`
	res, order, err := parseBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	wantOrder := []string{"BenchmarkEncodeEmailPath/member", "BenchmarkEncodeEmailPathBaseline/member", "BenchmarkStorerHandle"}
	if strings.Join(order, ",") != strings.Join(wantOrder, ",") {
		t.Fatalf("order %v", order)
	}
	if got := res["BenchmarkEncodeEmailPath/member"].med("ns/op"); got != 520 {
		t.Fatalf("median %v, want 520", got)
	}
	if got := res["BenchmarkStorerHandle"].med("MB/s"); got != 399.44 {
		t.Fatalf("MB/s %v", got)
	}
	if _, _, err := parseBench(strings.NewReader("PASS\n")); err == nil {
		t.Fatal("no results accepted")
	}
}

func TestBaselinePairs(t *testing.T) {
	tests := []struct {
		name, baseline string
		isBase         bool
	}{
		{"BenchmarkEncodeEmailPath/guest", "BenchmarkEncodeEmailPathBaseline/guest", false},
		{"BenchmarkJobStatus", "BenchmarkJobStatusBaseline", false},
		{"BenchmarkJobStatusBaseline", "BenchmarkJobStatusBaselineBaseline", true},
		{"BenchmarkStorePut/discard/default-8MiBx3", "BenchmarkStorePutBaseline/discard/default-8MiBx3", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := baselineOf(tt.name); got != tt.baseline {
				t.Errorf("baselineOf = %s", got)
			}
			if got := isBaseline(tt.name); got != tt.isBase {
				t.Errorf("isBaseline = %v", got)
			}
		})
	}
}

func TestSymbolPackage(t *testing.T) {
	tests := []struct{ sym, want string }{
		{"github.com/aws/aws-sdk-go-v2/service/s3.resolveResult", "github.com/aws/aws-sdk-go-v2/service/s3"},
		{"github.com/aws/aws-sdk-go-v2/service/s3/internal/customizations.(*x).y", "github.com/aws/aws-sdk-go-v2/service/s3"},
		{"github.com/aws/aws-sdk-go-v2/service/internal/checksum.New", "github.com/aws/aws-sdk-go-v2/service/internal/checksum"},
		{"slices.SortFunc[go.shape.*github.com/aws/aws-sdk-go-v2/service/sso/types.RoleInfo]", "slices"},
		{"go:func.*", "go:func"},
		{"type:.eq.[2]string", "type:"},
		{"runtime.mallocgc", "runtime"},
		{"*net/http.(*Transport).roundTrip", "net/http"},
	}
	for _, tt := range tests {
		if got := symbolPackage(tt.sym); got != tt.want {
			t.Errorf("symbolPackage(%q) = %q, want %q", tt.sym, got, tt.want)
		}
	}
	if !credentialChainPackage("github.com/aws/aws-sdk-go-v2/service/ssooidc") || credentialChainPackage("github.com/aws/aws-sdk-go-v2/service/s3") {
		t.Fatal("credential chain classification")
	}
}

// An unstripped build of a small program: its package sizes must add up
// to less than the file (no .bss counted) and include the runtime.
func TestELFPackageSizes(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"go.mod":  "module sizetest\n\ngo 1.22\n",
		"main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hi\") }\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "prog")
	if out, err := run(t.Context(), dir, []string{"CGO_ENABLED=0", "GOFLAGS="}, "go", "build", "-o", bin, "."); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	sizes, err := elfPackageSizes(bin)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, v := range sizes {
		total += v
	}
	if sizes["runtime"] == 0 || sizes["fmt"] == 0 || total > st.Size() {
		t.Fatalf("runtime %d, fmt %d bytes, total %d of a %d-byte file", sizes["runtime"], sizes["fmt"], total, st.Size())
	}
}

func TestTargetRowsAndDemote(t *testing.T) {
	md := `Intro.

### Per report size

| report | x |
|---|---|
| 100 MiB | 1 |

### Targets

| figure | value | baseline | ratio | target | met? |
|---|---|---|---|---|---|
| 1 GiB throughput | 300 MiB/s | 330 MiB/s | 0.91 | ≥ 0.8 | yes |
| peak RSS \| flat | 60 MiB | — | — | ≤ 96 MiB | **no** |

### Realism
| other | table |
`
	rows := targetRows(md)
	if len(rows) != 2 || !strings.HasPrefix(rows[0], " 1 GiB throughput") || !strings.Contains(rows[1], "**no**") {
		t.Fatalf("rows %q", rows)
	}
	d := demote("## A\ntext\n```\n# not a heading\n```\n### B")
	if d != "### A\ntext\n```\n# not a heading\n```\n#### B" {
		t.Fatalf("demote:\n%s", d)
	}
}

func TestUntarRefusesEscapes(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "../evil", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte("x"))
	_ = tw.Close()
	if err := untar(&buf, t.TempDir()); err == nil {
		t.Fatal("an entry outside the target was extracted")
	}
}

func TestReportMarksUnmetTargets(t *testing.T) {
	r := &report{started: time.Now(), rows: []row{
		{"3. polling", "1 h job: state transitions / cost", "186 / $0.0047", "fixed", "0.17", "≤ 60", "**no**"},
		{"3. polling", "24 h job: history events", "1823", "x", "0.07", "≤ 2,500", "yes"},
		{Section: "2. store", Figure: " 4 GiB peak RSS | 97 MiB | — | — | ≤ 96 MiB | **no** "},
	}}
	md := r.markdown()
	notMet := md[strings.Index(md, "## Not met"):]
	if !strings.Contains(notMet, "1 h job: state transitions") || !strings.Contains(notMet, "4 GiB peak RSS") || strings.Contains(notMet, "24 h job") {
		t.Fatalf("not-met section:\n%s", notMet)
	}
	if got := firstCell(" 1 GiB vs `curl \\| aws s3 cp -` | 152 MiB/s | x "); got != "1 GiB vs `curl \\| aws s3 cp -`" {
		t.Fatalf("firstCell = %q", got)
	}
	if !strings.Contains(md, "| 2. store | 4 GiB peak RSS | 97 MiB |") && !strings.Contains(md, "| 2. store | 4 GiB peak RSS | 97 MiB | — | — | ≤ 96 MiB | **no** |") {
		t.Fatalf("store row not rendered as a row:\n%s", md)
	}
}

func TestParseRowCounts(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		bad  bool
	}{
		{in: "10k,200k,2M", want: []int{10_000, 200_000, 2_000_000}},
		{in: " 5000 , 1.5M", want: []int{5000, 1_500_000}},
		{in: "2M,", want: []int{2_000_000}},
		{in: "", bad: true},
		{in: "ten", bad: true},
		{in: "-5", bad: true},
		{in: "0", bad: true},
		{in: "1.5", bad: true},
		{in: "2000M", bad: true},
	}
	for _, tt := range tests {
		got, err := parseRowCounts(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("%q: accepted as %v", tt.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
