package main

import (
	"math"
	"slices"
	"testing"
)

func TestParseSizes(t *testing.T) {
	tests := []struct {
		in      string
		want    []int64
		wantErr bool
	}{
		{"100MiB,1GiB, 4GiB", []int64{100 << 20, 1 << 30, 4 << 30}, false},
		{"5242880,1.5MiB,64KiB", []int64{5 << 20, 3 << 19, 64 << 10}, false},
		{"", nil, false},
		{"10MB", nil, true},
		{"-1MiB", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSizes(tc.in)
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Fatalf("parseSizes(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestSpreadOf(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want spread
		str  string
	}{
		{"empty", nil, spread{}, "—"},
		{"one", []float64{7}, spread{7, 7, 7, 1}, "7"},
		{"odd", []float64{30, 10, 20}, spread{20, 10, 30, 3}, "20 [10–30]"},
		{"even", []float64{4, 1, 3, 2}, spread{2.5, 1, 4, 4}, "2 [1–4]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := spreadOf(tc.in)
			if got != tc.want || got.String() != tc.str {
				t.Fatalf("spreadOf(%v) = %+v %q, want %+v %q", tc.in, got, got.String(), tc.want, tc.str)
			}
		})
	}
}

func TestHuman(t *testing.T) {
	for n, want := range map[int64]string{4 << 30: "4 GiB", 100 << 20: "100 MiB", 3 << 19: "1.5 MiB", 512: "512 B"} {
		if got := human(n); got != want {
			t.Errorf("human(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestBucketRaw(t *testing.T) {
	// Three samples: TLS decrypt, SHA-256 under the upload's hashing
	// reader, and a socket read; location 4 carries an inlined frame.
	raw := `PeriodType: cpu nanoseconds
Samples:
samples/count cpu/nanoseconds
          2   20000000: 1 2 
          1   10000000: 3 4 
          5   50000000: 5 6 
Locations
     1: 0x1 M=1 crypto/internal/fips140/aes/gcm.gcmAesDec x.s:1:0 s=0
     2: 0x2 M=1 crypto/tls.(*halfConn).decrypt conn.go:1:0 s=0
     3: 0x3 M=1 crypto/internal/fips140/sha256.blockSHANI x.s:1:0 s=0
     4: 0x4 M=1 crypto/internal/fips140/sha256.(*Digest).Write sha256.go:1:0 s=0
             github.com/insights-export/insights-export/internal/storage/upload.(*hashingReader).Read upload.go:1:0 s=0
     5: 0x5 M=1 internal/runtime/syscall/linux.Syscall6 x.s:1:0 s=0
     6: 0x6 M=1 internal/poll.(*FD).Read fd.go:1:0 s=0
Mappings
1: 0x400000/0x864000/0x0 /tmp/storechild abc [FN]
`
	total, got, err := bucketRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"tls-decrypt": 0.02, "sha256": 0.01, "sys-read": 0.05}
	if total != 0.08 || len(got) != len(want) {
		t.Fatalf("bucketRaw = %v, %v; want 0.08, %v", total, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("bucket %s = %v, want %v", k, got[k], v)
		}
	}
}

func TestMemLimitOf(t *testing.T) {
	src := []byte(`Resources:
  StoreReportFunction:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          REPORT_BUCKET: !Ref Bucket
          GOMEMLIMIT: 48MiB
  Other:
    Type: AWS::Serverless::Function
    Properties: {}
`)
	if got, err := memLimitOf(src, "StoreReportFunction"); err != nil || got != "48MiB" {
		t.Errorf("memLimitOf(StoreReportFunction) = %q, %v; want 48MiB", got, err)
	}
	if got, err := memLimitOf(src, "Other"); err != nil || got != "" {
		t.Errorf("memLimitOf(Other) = %q, %v; want unset", got, err)
	}
	if _, err := memLimitOf(src, "Missing"); err == nil {
		t.Error("memLimitOf(Missing): no error")
	}
}

// The child must run with what template.yaml deploys: the store function
// sets a GOMEMLIMIT, and loadDeployed must find it.
func TestLoadDeployedFromTemplate(t *testing.T) {
	old := deployedMemLimit
	t.Cleanup(func() { deployedMemLimit = old })
	if err := loadDeployed(); err != nil {
		t.Fatal(err)
	}
	if deployedMemLimit == "" {
		t.Fatal("template.yaml: StoreReportFunction has no GOMEMLIMIT")
	}
}

func TestCPUFit(t *testing.T) {
	b := &bench{opts: &options{sizes: []int64{1 << 30, 4 << 30}}, samples: []sample{
		{Kind: "store", Size: 1 << 30, Bytes: 1 << 30, CPUSeconds: 2.1},
		{Kind: "store", Size: 1 << 30, Bytes: 1 << 30, CPUSeconds: 2.1},
		{Kind: "store", Size: 4 << 30, Bytes: 4 << 30, CPUSeconds: 8.1},
		{Kind: "read", Size: 1 << 30, Bytes: 1 << 30, CPUSeconds: 0.5},
	}}
	f, ok := b.cpuFit("store")
	if !ok || math.Abs(f.perGiB-2.0) > 1e-9 || math.Abs(f.fixed-0.1) > 1e-9 {
		t.Errorf("cpuFit(store) = %+v, %v; want 2.0/GiB + 0.1", f, ok)
	}
	if _, ok := b.cpuFit("read"); ok {
		t.Error("cpuFit(read) with one size: ok, want no fit")
	}
}
