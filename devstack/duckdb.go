package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
)

// QueryDataset runs SQL statements with DuckDB over a local folder of
// dt=YYYY-MM-DD partitions (a download of the dataset's activities/
// prefix), exposed as the view `activities`, and returns each statement's
// rows. Values come back as JSON: text, numbers, ISO timestamps, big
// integers as strings.
func QueryDataset(ctx context.Context, activitiesDir string, statements ...string) ([][]map[string]any, error) {
	tools, err := LocateTools(ctx)
	if err != nil {
		return nil, err
	}
	job, err := json.Marshal(map[string]any{"activities": activitiesDir, "statements": statements})
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, tools.Node, filepath.Join(tools.InterpreterDir, "duckdb.mjs"))
	cmd.Stdin = bytes.NewReader(job)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("devstack: duckdb: %w\n%s", err, stderr.String())
	}
	var out struct {
		Results [][]map[string]any `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("devstack: duckdb answered %q: %w", stdout.String(), err)
	}
	return out.Results, nil
}

// elementAt is Athena's map lookup, element_at(m, 'key'), which is null
// for a missing key. DuckDB's element_at returns a list instead; its
// m['key'] is the value, or null.
var elementAt = regexp.MustCompile(`element_at\(\s*([a-z_][a-z0-9_.]*)\s*,\s*('(?:[^']|'')*')\s*\)`)

// ToDuckDB applies the one mechanical rewrite between the named queries'
// Athena (Trino) SQL and DuckDB's: element_at(map, 'k') → map['k'].
func ToDuckDB(athenaSQL string) string {
	return elementAt.ReplaceAllString(athenaSQL, "$1[$2]")
}
