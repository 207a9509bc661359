package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// runStore is the hook for section 2: it runs bench/storebench (its own
// command, owned with the store streaming work) and embeds the Markdown
// fragment it writes. Rows of the fragment's "### Targets" table join the
// summary. Extra flags come from -store-args (make bench STORE_ARGS=…).
func runStore(ctx context.Context, r *report) error {
	began := time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "bench", "storebench")); err != nil {
		return fmt.Errorf("bench/storebench is missing: %w", err)
	}
	tmp, err := os.MkdirTemp("", "bench-store-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	frag := filepath.Join(tmp, "store.md")
	args := []string{"run", "./bench/storebench", "-out", frag, "-json", filepath.Join(tmp, "store.json")}
	args = append(args, strings.Fields(r.opts.storeArgs)...)
	r.commands = append(r.commands, strings.Join(append([]string{storeCommand}, strings.Fields(r.opts.storeArgs)...), " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	// storebench logs progress; pass it through so a long run shows life.
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go run ./bench/storebench: %w", err)
	}
	body, err := os.ReadFile(frag)
	if err != nil {
		return fmt.Errorf("storebench wrote no fragment: %w", err)
	}
	text := string(body)
	// The fragment opens with its own "## Store streaming" heading; the
	// report supplies the numbered one.
	if first, rest, ok := strings.Cut(text, "\n"); ok && strings.HasPrefix(first, "## ") {
		text = rest
	}
	for _, line := range targetRows(text) {
		r.rows = append(r.rows, row{Section: storeRows, Figure: line})
	}
	r.add(20, "Written by `bench/storebench` (run as `go run ./bench/storebench`), embedded as is.\n\n"+demote(text), time.Since(began))
	return nil
}

// targetRows returns the data rows of the first table under a "### Targets"
// heading, each without its outer pipes.
func targetRows(md string) []string {
	var rows []string
	in, seenHeader := false, false
	for _, line := range strings.Split(md, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "#") {
			if in {
				break
			}
			in = strings.EqualFold(strings.TrimSpace(strings.TrimLeft(t, "#")), "Targets")
			continue
		}
		if !in || !strings.HasPrefix(t, "|") {
			if in && seenHeader && t == "" && len(rows) > 0 {
				break
			}
			continue
		}
		if !seenHeader {
			seenHeader = true // the header line
			continue
		}
		if strings.Trim(t, "|-: ") == "" {
			continue // the separator line
		}
		rows = append(rows, strings.TrimSuffix(strings.TrimPrefix(t, "|"), "|"))
	}
	return rows
}

// demote pushes the fragment's headings one level down so they nest
// under the report's section heading.
func demote(md string) string {
	lines := strings.Split(md, "\n")
	inFence := false
	for i, l := range lines {
		if strings.HasPrefix(l, "```") {
			inFence = !inFence
		}
		if !inFence && strings.HasPrefix(l, "#") {
			lines[i] = "#" + l
		}
	}
	return strings.Join(lines, "\n")
}
