package batch

import (
	"encoding/json"

	"github.com/insights-export/insights-export/internal/request"
)

// OutputResultsBudget bounds the results listed in the execution output:
// Step Functions fails an execution whose output passes 256 KiB. Past the
// budget the output lists failures first and counts what it left out;
// the manifest always has everything.
const OutputResultsBudget = 200 << 10

// fitter chooses the execution output's results from a stream of them:
// everything when it fits the budget, otherwise failures first, then the
// rest in order, while they fit. It keeps at most three budgets' worth of
// encoded results, whatever the number of users.
type fitter struct {
	budget       int
	total, count int
	all          [][]byte // every result, in order, while all fit
	failed       [][]byte // the failures, in order, while they fit
	failedUsed   int
	failedFull   bool
	others       [][]byte // the rest, in order, while they fit on their own
	othersUsed   int
	othersFull   bool
}

func newFitter(budget int) *fitter { return &fitter{budget: budget, all: [][]byte{}} }

// add offers one result: its status, and its JSON (raw is copied).
func (f *fitter) add(status string, raw []byte) {
	n := len(raw) + 1
	f.total += n
	f.count++
	if f.total <= f.budget {
		f.all = append(f.all, append([]byte(nil), raw...))
	} else {
		f.all = nil
	}
	if status == request.StatusFailed {
		if !f.failedFull && f.failedUsed+n <= f.budget {
			f.failed = append(f.failed, append([]byte(nil), raw...))
			f.failedUsed += n
		} else {
			f.failedFull = true
		}
		return
	}
	if !f.othersFull && f.othersUsed+n <= f.budget {
		f.others = append(f.others, append([]byte(nil), raw...))
		f.othersUsed += n
	} else {
		f.othersFull = true
	}
}

// done returns the chosen results and how many were left out.
func (f *fitter) done() ([]request.Result, int) {
	if f.total <= f.budget {
		return decodeResults(f.all), 0
	}
	kept := f.failed
	if !f.failedFull {
		used := f.failedUsed
		for _, raw := range f.others {
			if used+len(raw)+1 > f.budget {
				break
			}
			used += len(raw) + 1
			kept = append(kept, raw)
		}
	}
	return decodeResults(kept), f.count - len(kept)
}

func decodeResults(raws [][]byte) []request.Result {
	out := make([]request.Result, 0, len(raws))
	for _, raw := range raws {
		var r request.Result
		_ = json.Unmarshal(raw, &r) // raw is json.Marshal's
		out = append(out, r)
	}
	return out
}

// fitResults is the fitter over a list.
func fitResults(results []request.Result, budget int) ([]request.Result, int) {
	f := newFitter(budget)
	for _, r := range results {
		b, _ := json.Marshal(r)
		f.add(r.Status, b)
	}
	return f.done()
}
