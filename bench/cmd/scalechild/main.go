// Command scalechild is the process the scale benchmark (bench/scalebench,
// the "scale" section of bench/cmd/bench) measures: one batch function's
// handler, built from the environment as the function's main builds it,
// one phase per process so that each has a peak RSS of its own. It is
// built like the Lambda bootstraps (CGO_ENABLED=0, -trimpath, -ldflags
// "-s -w").
//
//	scalechild JOB.json RESULT.json  # a scalebench.Job; writes a scalebench.ChildResult
//
// Logs (and WriteManifest's metric line) go to stderr.
package main

import (
	"os"

	"github.com/insights-export/insights-export/bench/scalebench"
)

func main() { os.Exit(scalebench.ChildMain(os.Args[1:])) }
