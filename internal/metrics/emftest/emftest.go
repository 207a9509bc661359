// Package emftest reads Embedded Metric Format lines back in tests and
// checks them against the specification's rules, so that every test of an
// emission also proves CloudWatch would extract it. Tests only: no
// function links it.
package emftest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/insights-export/insights-export/internal/metrics"
)

// Line is one EMF line as CloudWatch reads it.
type Line struct {
	Timestamp int64
	Namespace string
	// Sets are the dimension sets of the (one) directive.
	Sets [][]string
	// Units by metric name, Values by metric name, Dims by dimension name.
	Units  map[string]string
	Values map[string]float64
	Dims   map[string]string
	Raw    string
}

// maxLineBytes is CloudWatch Logs' event size, which an EMF line shares.
const maxLineBytes = 256 << 10

// Check decodes one line and lists what breaks the specification (and
// this project's rules: level INFO, Stack in every dimension set, one
// directive a line).
func Check(raw []byte) (Line, []string) {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	l := Line{Units: map[string]string{}, Values: map[string]float64{}, Dims: map[string]string{}, Raw: string(raw)}
	if len(raw) > maxLineBytes {
		bad("line is %d bytes, over %d", len(raw), maxLineBytes)
	}
	var root map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return l, append(problems, "not a JSON object: "+err.Error())
	}
	if dec.More() {
		bad("data after the JSON object")
	}
	if string(root["level"]) != `"INFO"` {
		bad("level is %s, want \"INFO\"", root["level"])
	}
	var aws map[string]json.RawMessage
	if err := json.Unmarshal(root["_aws"], &aws); err != nil {
		return l, append(problems, "_aws is not an object")
	}
	for k := range aws {
		if k != "Timestamp" && k != "CloudWatchMetrics" && k != "LogGroupName" {
			bad("_aws has an unknown member %q", k)
		}
	}
	if err := json.Unmarshal(aws["Timestamp"], &l.Timestamp); err != nil || l.Timestamp < 1e12 {
		bad("_aws.Timestamp %s is not epoch milliseconds", aws["Timestamp"])
	}
	var directives []map[string]json.RawMessage
	if err := json.Unmarshal(aws["CloudWatchMetrics"], &directives); err != nil || len(directives) != 1 {
		return l, append(problems, "_aws.CloudWatchMetrics is not an array of one directive")
	}
	d := directives[0]
	for k := range d {
		if k != "Namespace" && k != "Dimensions" && k != "Metrics" {
			bad("directive has an unknown member %q", k)
		}
	}
	if err := json.Unmarshal(d["Namespace"], &l.Namespace); err != nil || !metrics.ValidNamespace(l.Namespace) {
		bad("Namespace %s is not a CloudWatch namespace", d["Namespace"])
	}
	if err := json.Unmarshal(d["Dimensions"], &l.Sets); err != nil || len(l.Sets) == 0 {
		bad("Dimensions %s is not an array of dimension sets", d["Dimensions"])
	}
	for _, set := range l.Sets {
		if len(set) == 0 || len(set) > metrics.MaxDimensionsPerSet {
			bad("dimension set %v has %d dimensions (1 to %d)", set, len(set), metrics.MaxDimensionsPerSet)
		}
		if !slices.Contains(set, metrics.Stack) {
			bad("dimension set %v lacks Stack", set)
		}
		for _, name := range set {
			var v string
			if err := json.Unmarshal(root[name], &v); err != nil {
				bad("dimension %q has no string value at the top level (%s)", name, root[name])
				continue
			}
			if v == "" || len(v) > metrics.MaxDimensionValueLen || strings.TrimSpace(v) == "" || !printable(v) {
				bad("dimension %q = %q is not a value CloudWatch keeps", name, v)
			}
			l.Dims[name] = v
		}
	}
	var defs []map[string]json.RawMessage
	if err := json.Unmarshal(d["Metrics"], &defs); err != nil || len(defs) == 0 || len(defs) > metrics.MaxMetricsPerLine {
		return l, append(problems, fmt.Sprintf("Metrics is not an array of 1 to %d definitions", metrics.MaxMetricsPerLine))
	}
	for _, def := range defs {
		for k := range def {
			if k != "Name" && k != "Unit" && k != "StorageResolution" {
				bad("metric definition has an unknown member %q", k)
			}
		}
		var name, unit string
		if err := json.Unmarshal(def["Name"], &name); err != nil || name == "" || len(name) > metrics.MaxNameLen {
			bad("metric name %s", def["Name"])
			continue
		}
		if _, dup := l.Units[name]; dup {
			bad("metric %q defined twice", name)
		}
		if raw, ok := def["Unit"]; ok {
			if err := json.Unmarshal(raw, &unit); err != nil || !slices.Contains(metrics.Units, metrics.Unit(unit)) {
				bad("metric %q has unit %s, not one of the specification's", name, raw)
			}
		}
		l.Units[name] = unit
		var v float64
		if err := json.Unmarshal(root[name], &v); err != nil {
			bad("metric %q has no numeric value at the top level (%s)", name, root[name])
			continue
		}
		l.Values[name] = v
	}
	return l, problems
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Lines returns the EMF lines of out (every line with an "_aws" member;
// other log lines are skipped), each checked: a line that breaks the
// specification fails t.
func Lines(t testing.TB, out string) []Line {
	t.Helper()
	var lines []Line
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		raw := bytes.TrimSpace(sc.Bytes())
		if !bytes.HasPrefix(raw, []byte("{")) || !bytes.Contains(raw, []byte(`"_aws"`)) {
			continue
		}
		l, problems := Check(raw)
		for _, p := range problems {
			t.Errorf("EMF line %s: %s", clip(raw), p)
		}
		lines = append(lines, l)
	}
	return lines
}

// One is the only EMF line of out that has metric name; anything else
// fails t.
func One(t testing.TB, out, name string) Line {
	t.Helper()
	var found []Line
	for _, l := range Lines(t, out) {
		if _, ok := l.Values[name]; ok {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d EMF lines with %s, want 1; output:\n%s", len(found), name, out)
	}
	return found[0]
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
