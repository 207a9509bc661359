package metrics

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/insights-export/insights-export/internal/config"
)

// Unit is a CloudWatch unit, spelled as the EMF specification lists them.
type Unit string

// The units the specification allows.
const (
	Seconds            Unit = "Seconds"
	Microseconds       Unit = "Microseconds"
	Milliseconds       Unit = "Milliseconds"
	Bytes              Unit = "Bytes"
	Kilobytes          Unit = "Kilobytes"
	Megabytes          Unit = "Megabytes"
	Gigabytes          Unit = "Gigabytes"
	Terabytes          Unit = "Terabytes"
	Bits               Unit = "Bits"
	Kilobits           Unit = "Kilobits"
	Megabits           Unit = "Megabits"
	Gigabits           Unit = "Gigabits"
	Terabits           Unit = "Terabits"
	Percent            Unit = "Percent"
	Count              Unit = "Count"
	BytesPerSecond     Unit = "Bytes/Second"
	KilobytesPerSecond Unit = "Kilobytes/Second"
	MegabytesPerSecond Unit = "Megabytes/Second"
	GigabytesPerSecond Unit = "Gigabytes/Second"
	TerabytesPerSecond Unit = "Terabytes/Second"
	BitsPerSecond      Unit = "Bits/Second"
	KilobitsPerSecond  Unit = "Kilobits/Second"
	MegabitsPerSecond  Unit = "Megabits/Second"
	GigabitsPerSecond  Unit = "Gigabits/Second"
	TerabitsPerSecond  Unit = "Terabits/Second"
	CountPerSecond     Unit = "Count/Second"
	None               Unit = "None"
)

// Units lists every unit the specification allows.
var Units = []Unit{Seconds, Microseconds, Milliseconds, Bytes, Kilobytes, Megabytes, Gigabytes, Terabytes,
	Bits, Kilobits, Megabits, Gigabits, Terabits, Percent, Count,
	BytesPerSecond, KilobytesPerSecond, MegabytesPerSecond, GigabytesPerSecond, TerabytesPerSecond,
	BitsPerSecond, KilobitsPerSecond, MegabitsPerSecond, GigabitsPerSecond, TerabitsPerSecond, CountPerSecond, None}

// Limits of the EMF specification and of CloudWatch's PutMetricData, which
// the extracted metrics go through.
const (
	// MaxMetricsPerLine is the most MetricDefinitions one directive may
	// hold; Emit writes one line per MaxMetricsPerLine metrics.
	MaxMetricsPerLine = 100
	// MaxDimensionsPerSet is the most dimensions a dimension set may name.
	MaxDimensionsPerSet = 30
	// MaxDimensionValueLen is the longest dimension value CloudWatch keeps.
	MaxDimensionValueLen = 1024
	// MaxNameLen bounds metric and dimension names (CloudWatch: 255).
	MaxNameLen = 255
	// MaxNamespaceLen bounds the namespace (CloudWatch: 255).
	MaxNamespaceLen = 255
	// maxErrorNameLen is Step Functions' bound on an error name.
	maxErrorNameLen = 256
	// maxValue is CloudWatch's bound on a value's magnitude (2^360).
	maxValue = 2.348542582773833e108
)

// Other is what a dimension value CloudWatch would refuse becomes.
const Other = "Other"

// Stack is the dimension every metric carries: which deployment sent it.
const Stack = "Stack"

// Defaults of the environment.
const (
	DefaultNamespace = "InsightsExport"
	DefaultStack     = "insights-export"
)

// reserved are the top-level members a line has besides its dimensions
// and metrics; neither may take their names.
var reserved = []string{"_aws", "level", "msg"}

// Config is the metrics' environment.
type Config struct {
	Namespace string // METRICS_NAMESPACE (default InsightsExport)
	Stack     string // METRICS_STACK: the Stack dimension's value (default insights-export; the template sets the stack name)
}

// LoadConfig reads METRICS_NAMESPACE and METRICS_STACK. Both are ours to
// set, so a value CloudWatch would refuse fails the cold start with a
// ConfigError naming the variable rather than sending every metric to
// "Other".
func LoadConfig(env *config.Env) Config {
	c := Config{
		Namespace: env.String("METRICS_NAMESPACE", DefaultNamespace),
		Stack:     env.String("METRICS_STACK", DefaultStack),
	}
	if !ValidNamespace(c.Namespace) {
		env.Fail("METRICS_NAMESPACE", "must be 1 to 255 of A-Z a-z 0-9 . _ - / # : and not start with AWS/ (a CloudWatch namespace)")
	}
	if DimensionValue(c.Stack) != c.Stack {
		env.Fail("METRICS_STACK", "must be 1 to 1024 printable ASCII characters (the Stack dimension's value)")
	}
	return c
}

// ValidNamespace reports whether CloudWatch takes ns as a namespace of
// custom metrics.
func ValidNamespace(ns string) bool {
	if ns == "" || len(ns) > MaxNamespaceLen || strings.HasPrefix(ns, "AWS/") {
		return false
	}
	for _, r := range ns {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("._-/#:", r)) {
			return false
		}
	}
	return true
}

// DimensionValue is v if CloudWatch keeps it as a dimension value — 1 to
// 1024 printable ASCII characters, not all spaces — and Other otherwise.
func DimensionValue(v string) string {
	if v == "" || len(v) > MaxDimensionValueLen || strings.TrimSpace(v) == "" || !printableASCII(v) {
		return Other
	}
	return v
}

// Name is v if it has the shape of an error or status name — 1 to 256
// (Step Functions' limit on an error name) of A-Z a-z 0-9 . _ - : — and
// Other otherwise. Dimension values that
// come from outside (an event's error field) go through it: a name is
// our vocabulary or Step Functions', never an address or a message, and
// every distinct value is a metric of its own.
func Name(v string) string {
	if v == "" || len(v) > maxErrorNameLen {
		return Other
	}
	for _, r := range v {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("._-:", r)) {
			return Other
		}
	}
	return v
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// validName reports whether CloudWatch takes s as a metric or dimension
// name: 1 to 255 printable ASCII characters, not all spaces, not starting
// with a colon, and none of the line's own members.
func validName(s string) bool {
	return s != "" && len(s) <= MaxNameLen && strings.TrimSpace(s) != "" && s[0] != ':' && printableASCII(s) && !slices.Contains(reserved, s)
}

// Metric is one value.
type Metric struct {
	Name  string
	Unit  Unit
	Value float64
}

// Dimension is one dimension of a line besides Stack.
type Dimension struct {
	Name, Value string
}

// Emitter writes metrics as CloudWatch Embedded Metric Format lines: JSON
// objects that CloudWatch Logs turns into metrics as it ingests the log,
// so emitting costs no API call and needs no permission.
//
// A nil or zero Emitter (no Out) emits nothing. Emitting never fails its
// caller: a line that cannot be written is logged at WARN and dropped, as
// is a metric or dimension this code spelled wrong.
type Emitter struct {
	Namespace string // "" = DefaultNamespace
	Stack     string // "" = DefaultStack
	Out       io.Writer
	// Log receives the warnings; nil = slog.Default().
	Log *slog.Logger
	// Now stamps each line; nil = time.Now.
	Now func() time.Time

	mu sync.Mutex // one line per Write, lines never interleaved
}

// New is the emitter of a function: lines to out (os.Stdout in Lambda,
// where the function's log goes), warnings to log.
func New(c Config, out io.Writer, log *slog.Logger) *Emitter {
	return &Emitter{Namespace: c.Namespace, Stack: c.Stack, Out: out, Log: log}
}

// Emit writes ms with Stack as their only dimension.
func (e *Emitter) Emit(ctx context.Context, ms ...Metric) {
	e.EmitSets(ctx, nil, nil, ms...)
}

// EmitSets writes ms with the dimensions dims under the dimension sets
// sets: each set names dimensions of dims and gets Stack in front, so
// {{"Status", "Error"}, {}} is [[Stack, Status, Error], [Stack]] — the
// same values counted by status and error and in total. No sets means
// one set of Stack and every dimension in dims.
func (e *Emitter) EmitSets(ctx context.Context, dims []Dimension, sets [][]string, ms ...Metric) {
	if e == nil || e.Out == nil || len(ms) == 0 {
		return
	}
	lines, problem := e.lines(dims, sets, ms)
	if problem != "" {
		e.logger().WarnContext(ctx, "metrics dropped: "+problem)
	}
	if len(lines) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, line := range lines {
		if _, err := e.Out.Write(line); err != nil {
			e.logger().WarnContext(ctx, "metrics not written", "error", err.Error())
			return
		}
	}
}

func (e *Emitter) logger() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

// directive is the MetricDirective of a line.
type directive struct {
	Namespace  string       `json:"Namespace"`
	Dimensions [][]string   `json:"Dimensions"`
	Metrics    []definition `json:"Metrics"`
}

type definition struct {
	Name string `json:"Name"`
	Unit Unit   `json:"Unit"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// lines renders the emission, at most MaxMetricsPerLine metrics a line.
// problem names what was dropped: metrics this code got wrong, or the
// whole emission when its dimensions are wrong.
func (e *Emitter) lines(dims []Dimension, sets [][]string, ms []Metric) (out [][]byte, problem string) {
	all := append([]Dimension{{Stack, cmp.Or(e.Stack, DefaultStack)}}, dims...)
	names := make([]string, 0, len(all))
	for i, d := range all {
		if !validName(d.Name) || slices.Contains(names, d.Name) {
			return nil, "bad or repeated dimension name " + clip(d.Name)
		}
		names = append(names, d.Name)
		all[i].Value = DimensionValue(d.Value)
	}
	if len(sets) == 0 {
		sets = [][]string{names[1:]}
	}
	full := make([][]string, 0, len(sets))
	for _, s := range sets {
		set := append([]string{Stack}, s...)
		if len(set) > MaxDimensionsPerSet {
			return nil, "a dimension set names more than 30 dimensions"
		}
		for i, n := range set {
			if !slices.Contains(names, n) || slices.Contains(set[:i], n) {
				return nil, "dimension set names unknown or repeated dimension " + clip(n)
			}
		}
		full = append(full, set)
	}
	var keep []Metric
	var seen []string
	for _, m := range ms {
		switch {
		case !validName(m.Name) || slices.Contains(names, m.Name) || slices.Contains(seen, m.Name):
			problem = "bad or repeated metric name " + clip(m.Name)
		case !slices.Contains(Units, m.Unit):
			problem = "metric " + m.Name + " has no CloudWatch unit"
		case math.IsNaN(m.Value) || math.IsInf(m.Value, 0) || math.Abs(m.Value) > maxValue:
			problem = "metric " + m.Name + " is not a number CloudWatch takes"
		default:
			keep = append(keep, m)
			seen = append(seen, m.Name)
		}
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	ts := now().UnixMilli()
	for chunk := range slices.Chunk(keep, MaxMetricsPerLine) {
		out = append(out, render(cmp.Or(e.Namespace, DefaultNamespace), ts, all, full, chunk))
	}
	return out, problem
}

// render writes one line: the level and a message for people and log
// filters (Lambda counts a JSON line without "level" as INFO, this one
// says so), the metadata, then the dimensions and the values as
// top-level members.
func render(namespace string, ts int64, dims []Dimension, sets [][]string, ms []Metric) []byte {
	d := directive{Namespace: namespace, Dimensions: sets}
	for _, m := range ms {
		d.Metrics = append(d.Metrics, definition{Name: m.Name, Unit: m.Unit})
	}
	var b bytes.Buffer
	b.WriteString(`{"level":"INFO","msg":"metrics","_aws":`)
	writeJSON(&b, metadata{Timestamp: ts, CloudWatchMetrics: []directive{d}})
	for _, dim := range dims {
		b.WriteByte(',')
		writeJSON(&b, dim.Name)
		b.WriteByte(':')
		writeJSON(&b, dim.Value)
	}
	for _, m := range ms {
		b.WriteByte(',')
		writeJSON(&b, m.Name)
		b.WriteByte(':')
		writeJSON(&b, m.Value)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// writeJSON appends v's encoding; strings, finite numbers and these
// structs cannot fail to encode.
func writeJSON(b *bytes.Buffer, v any) {
	enc, _ := json.Marshal(v)
	b.Write(enc)
}

// clip bounds a name in a warning (it may be anything a caller passed).
func clip(s string) string {
	if len(s) > 64 || !printableASCII(s) {
		return "(unprintable or long)"
	}
	return `"` + s + `"`
}
