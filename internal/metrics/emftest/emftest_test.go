package emftest

import (
	"fmt"
	"strings"
	"testing"
)

// The checker must refuse what CloudWatch refuses, or the emission tests
// that rely on it prove nothing.
func TestCheckRefusesWhatTheSpecificationForbids(t *testing.T) {
	line := func(aws, members string) string {
		return `{"level":"INFO","_aws":` + aws + members + `}`
	}
	directive := func(ns, dims, defs string) string {
		return `{"Timestamp":1764072000000,"CloudWatchMetrics":[{"Namespace":` + ns + `,"Dimensions":` + dims + `,"Metrics":` + defs + `}]}`
	}
	ok := directive(`"InsightsExport"`, `[["Stack"]]`, `[{"Name":"N","Unit":"Count"}]`)
	var many, manyDims []string
	for i := range 101 {
		many = append(many, fmt.Sprintf(`{"Name":"M%d","Unit":"Count"}`, i))
	}
	for i := range 31 {
		manyDims = append(manyDims, fmt.Sprintf(`"D%d"`, i))
	}
	tests := []struct {
		name, line, want string
	}{
		{"valid", line(ok, `,"Stack":"s","N":1`), ""},
		{"not JSON", `{"level":"INFO"`, "not a JSON object"},
		{"trailing data", line(ok, `,"Stack":"s","N":1`) + ` x`, "data after"},
		{"no level", `{"_aws":` + ok + `,"Stack":"s","N":1}`, "level"},
		{"no metadata", `{"level":"INFO","Stack":"s","N":1}`, "_aws is not an object"},
		{"seconds timestamp", line(strings.Replace(ok, "1764072000000", "1764072000", 1), `,"Stack":"s","N":1`), "Timestamp"},
		{"namespace AWS/", line(directive(`"AWS/Lambda"`, `[["Stack"]]`, `[{"Name":"N","Unit":"Count"}]`), `,"Stack":"s","N":1`), "Namespace"},
		{"no namespace", line(directive(`null`, `[["Stack"]]`, `[{"Name":"N","Unit":"Count"}]`), `,"Stack":"s","N":1`), "Namespace"},
		{"metric without value", line(ok, `,"Stack":"s"`), "no numeric value"},
		{"metric value a string", line(ok, `,"Stack":"s","N":"1"`), "no numeric value"},
		{"dimension without value", line(ok, `,"N":1`), "no string value"},
		{"dimension value a number", line(ok, `,"Stack":7,"N":1`), "no string value"},
		{"dimension value empty", line(ok, `,"Stack":"","N":1`), "not a value CloudWatch keeps"},
		{"dimension value too long", line(ok, `,"Stack":"`+strings.Repeat("x", 1025)+`","N":1`), "not a value CloudWatch keeps"},
		{"dimension value not ASCII", line(ok, `,"Stack":"é","N":1`), "not a value CloudWatch keeps"},
		{"set without Stack", line(directive(`"I"`, `[["Status"]]`, `[{"Name":"N","Unit":"Count"}]`), `,"Status":"s","N":1`), "lacks Stack"},
		{"31 dimensions", line(directive(`"I"`, `[["Stack",`+strings.Join(manyDims[:30], ",")+`]]`, `[{"Name":"N","Unit":"Count"}]`), `,"Stack":"s","N":1`), "31 dimensions"},
		{"101 metrics", line(directive(`"I"`, `[["Stack"]]`, `[`+strings.Join(many, ",")+`]`), `,"Stack":"s"`), "1 to 100"},
		{"unknown unit", line(directive(`"I"`, `[["Stack"]]`, `[{"Name":"N","Unit":"Parsecs"}]`), `,"Stack":"s","N":1`), "unit"},
		{"metric defined twice", line(directive(`"I"`, `[["Stack"]]`, `[{"Name":"N","Unit":"Count"},{"Name":"N","Unit":"Count"}]`), `,"Stack":"s","N":1`), "defined twice"},
		{"extra directive member", line(strings.Replace(ok, `"Namespace"`, `"Extra":1,"Namespace"`, 1), `,"Stack":"s","N":1`), "unknown member"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems := Check([]byte(tt.line))
			all := strings.Join(problems, "; ")
			if tt.want == "" && len(problems) != 0 || tt.want != "" && !strings.Contains(all, tt.want) {
				t.Fatalf("problems %q, want one saying %q", all, tt.want)
			}
		})
	}
}
