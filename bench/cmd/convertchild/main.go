// Command convertchild is the process the convert benchmark
// (bench/convertbench, section 5 of bench/cmd/bench) measures, one mode
// per process so that each has a peak RSS of its own. It is built like the
// Lambda bootstraps (CGO_ENABLED=0, -trimpath, -ldflags "-s -w").
//
//	convertchild gen DIR ROWS [SHEET_ROWS]  # write DIR/book.xlsx and DIR/report.zip; prints a convertbench.Book
//	convertchild run < job.json             # one convertbench.Job; prints a convertbench.ChildResult
//
// Both print one JSON value on stdout; logs go to stderr.
// CONVERTCHILD_CPUPROFILE=file writes a CPU profile of a run, and
// CONVERTCHILD_HEAPPROFILE=file@duration a heap profile (live objects)
// that long into it (for diagnosis; off in measured runs).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/insights-export/insights-export/bench/convertbench"
)

func main() { os.Exit(realMain()) }

func realMain() int {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: convertchild gen DIR ROWS [SHEET_ROWS] | convertchild run < job.json")
		return 2
	}
	var out any
	switch os.Args[1] {
	case "gen":
		if len(os.Args) < 4 || len(os.Args) > 5 {
			fmt.Fprintln(os.Stderr, "usage: convertchild gen DIR ROWS [SHEET_ROWS]")
			return 2
		}
		spec := convertbench.Spec{Repeat: convertbench.DefaultRepeat, Seed: 1}
		var err error
		if spec.Rows, err = strconv.Atoi(os.Args[3]); err == nil && len(os.Args) == 5 {
			spec.SheetRows, err = strconv.Atoi(os.Args[4])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "convertchild gen:", err)
			return 2
		}
		b, err := convertbench.Generate(os.Args[2], spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, "convertchild gen:", err)
			return 1
		}
		out = b
	case "run":
		var job convertbench.Job
		if err := json.NewDecoder(os.Stdin).Decode(&job); err != nil {
			fmt.Fprintln(os.Stderr, "convertchild run: job:", err)
			return 2
		}
		if path := os.Getenv("CONVERTCHILD_CPUPROFILE"); path != "" {
			f, err := os.Create(path)
			if err == nil {
				err = pprof.StartCPUProfile(f)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "convertchild: cpu profile:", err)
				return 1
			}
			defer pprof.StopCPUProfile()
		}
		if spec := os.Getenv("CONVERTCHILD_HEAPPROFILE"); spec != "" {
			if err := heapProfileLater(spec); err != nil {
				fmt.Fprintln(os.Stderr, "convertchild: heap profile:", err)
				return 2
			}
		}
		res, err := convertbench.RunChild(context.Background(), job)
		if err != nil {
			fmt.Fprintf(os.Stderr, "convertchild run %s: %v\n", job.Mode, err)
			return 1
		}
		out = res
	default:
		fmt.Fprintf(os.Stderr, "convertchild: unknown command %q\n", os.Args[1])
		return 2
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "convertchild:", err)
		return 1
	}
	return 0
}

// heapProfileLater writes a heap profile to file after d ("file@d"),
// from a goroutine, while the run goes on.
func heapProfileLater(spec string) error {
	path, after, ok := strings.Cut(spec, "@")
	d, err := time.ParseDuration(after)
	if !ok || err != nil || path == "" {
		return fmt.Errorf("want file@duration, got %q", spec)
	}
	time.AfterFunc(d, func() {
		f, err := os.Create(path)
		if err == nil {
			runtime.GC()
			err = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "convertchild: heap profile:", err)
		}
	})
	return nil
}
