package cost

import (
	"strings"
	"testing"
	"time"
)

func TestParseRIELog(t *testing.T) {
	logs := strings.Join([]string{
		`START RequestId: 1 Version: $LATEST`,
		`{"time":"2026-12-01T00:00:00Z","level":"INFO","msg":"job running"}`,
		`END RequestId: 1`,
		"REPORT RequestId: 1\tInit Duration: 0.10 ms\tDuration: 4.50 ms\tBilled Duration: 5 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t",
		`time="2026-12-01T00:00:00Z" level=info msg="emulator line"`,
		"REPORT RequestId: 2\tDuration: 1.25 ms\tBilled Duration: 2 ms\t",
		`{broken`,
	}, "\n")
	d, b := ParseRIELog(logs)
	if len(d) != 2 || d[0] != 4500*time.Microsecond || d[1] != 1250*time.Microsecond {
		t.Fatalf("durations %v", d)
	}
	if b != len(`{"time":"2026-12-01T00:00:00Z","level":"INFO","msg":"job running"}`)+1 {
		t.Fatalf("app bytes %d", b)
	}
}

func TestS3Tier(t *testing.T) {
	for op, want := range map[string]int{"PutObject": 1, "UploadPart": 1, "CompleteMultipartUpload": 1, "ListObjectsV2": 1,
		"GET": 2, "HEAD": 2, "AbortMultipartUpload": 0, "DELETE": 0} {
		if got := S3Tier(op); got != want {
			t.Errorf("%s: tier %d, want %d", op, got, want)
		}
	}
}
