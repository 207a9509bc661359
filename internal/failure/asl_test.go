package failure_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// errorNames collects every ErrorEquals entry of an ASL document and the
// Error of every Fail state that names one.
func errorNames(v any, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if name, ok := x["Error"].(string); ok && x["Type"] == "Fail" {
			into[name] = true
		}
		for k, e := range x {
			if k == "ErrorEquals" {
				for _, n := range e.([]any) {
					into[n.(string)] = true
				}
				continue
			}
			errorNames(e, into)
		}
	case []any:
		for _, e := range x {
			errorNames(e, into)
		}
	}
}

// typesIn lists the exported type names declared in the Go files of dir.
func typesIn(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		pf, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range pf.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
				for _, s := range g.Specs {
					out[s.(*ast.TypeSpec).Name.Name] = true
				}
			}
		}
	}
	return out
}

// Every error name a state machine matches, other than the service's own
// (States.*, Lambda.*, StepFunctions.*, EventBridge.*, DynamoDB.*, SQS.*), is a type of this package, and no
// other product package declares a type of that name.
func TestStateMachineErrorNamesAreThisPackagesTypes(t *testing.T) {
	asl, err := filepath.Glob("../../statemachine/*.asl.json")
	if err != nil || len(asl) == 0 {
		t.Fatalf("no state machines found: %v", err)
	}
	names := map[string]bool{}
	for _, f := range asl {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		errorNames(doc, names)
	}
	ours := typesIn(t, ".")
	matched := 0
	for n := range names {
		if strings.HasPrefix(n, "States.") || strings.HasPrefix(n, "Lambda.") || strings.HasPrefix(n, "StepFunctions.") || strings.HasPrefix(n, "EventBridge.") || strings.HasPrefix(n, "DynamoDB.") || strings.HasPrefix(n, "SQS.") {
			continue
		}
		matched++
		if !ours[n] {
			t.Errorf("the ASL matches %q, which internal/failure does not define", n)
		}
	}
	if matched == 0 {
		t.Fatal("the ASL matches none of the vocabulary: the test reads the wrong files")
	}
	dirs, _ := filepath.Glob("../*")
	for _, d := range dirs {
		if filepath.Base(d) == "failure" || filepath.Base(d) == "testing" {
			continue
		}
		for n := range typesIn(t, d) {
			if names[n] {
				t.Errorf("%s declares %s, a name of the vocabulary", d, n)
			}
		}
	}
}
