package cost

import (
	"math"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12+1e-9*math.Abs(b) }

// Prices × counts, line by line, at the us-east-1 list prices.
func TestPriceLines(t *testing.T) {
	u := Usage{
		Transitions: 1000,
		Lambda:      []Invocation{{Function: "checkjob", MemoryMB: 128, Count: 1e6, Duration: 100 * time.Millisecond}},
		S3Tier1:     1000, S3Tier2: 10000,
		WRU: 1e6, RRU: 2e6,
		Events:   1e6,
		LogBytes: 2 << 30,
		Traces:   1e6,
	}
	b, err := Price(u, USEast1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want float64
	}{
		{"Step Functions: 1,000 transitions", b.StepFunctions, 0.025},
		{"Lambda: 1M × 0.125 GB × 0.1 s", b.LambdaCompute, 12500 * 0.0000133334},
		{"Lambda requests: 1M", b.LambdaRequests, 0.20},
		{"S3: 1,000 PUT + 10,000 GET", b.S3, 0.005 + 0.004},
		{"DynamoDB: 1M WRU + 2M RRU", b.DynamoDB, 0.625 + 0.25},
		{"EventBridge: 1M events", b.EventBridge, 1.00},
		{"Logs: 2 GB", b.Logs, 1.00},
		{"X-Ray: 1M traces", b.XRay, 5.00},
	}
	sum := 0.0
	for _, tt := range tests {
		sum += tt.want
		if !near(tt.got, tt.want) {
			t.Errorf("%s: $%.9f, want $%.9f", tt.name, tt.got, tt.want)
		}
	}
	if !near(b.Total(), sum) {
		t.Errorf("total $%.6f, want $%.6f", b.Total(), sum)
	}
	if _, err := Price(Usage{Lambda: []Invocation{{MemoryMB: 64, Count: 1}}}, USEast1); err == nil {
		t.Fatal("64 MB accepted")
	}
}

// Lambda bills each invocation's duration rounded up to the millisecond.
func TestGBSecondsRoundUpPerInvocation(t *testing.T) {
	tests := []struct {
		inv  Invocation
		want float64
	}{
		{Invocation{MemoryMB: 1024, Count: 1, Duration: 1001 * time.Microsecond}, 0.002},
		{Invocation{MemoryMB: 512, Count: 10, Duration: time.Second}, 5},
		{Invocation{MemoryMB: 1769, Count: 1, Duration: 0}, 0},
	}
	for _, tt := range tests {
		if got := tt.inv.GBSeconds(); !near(got, tt.want) {
			t.Errorf("%+v: %.6f GB-s, want %.6f", tt.inv, got, tt.want)
		}
	}
	u := Usage{Transitions: 2, Lambda: []Invocation{{MemoryMB: 128, Count: 2, Duration: time.Millisecond}}}.Times(3).Plus(Usage{Transitions: 1})
	if u.Transitions != 7 || u.Invocations() != 6 {
		t.Fatalf("Times/Plus: %+v", u)
	}
}
