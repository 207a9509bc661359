package batch

import (
	"encoding/json"
	"slices"

	"github.com/insights-export/insights-export/internal/request"
)

// OutputResultsBudget bounds the results listed in the execution output:
// Step Functions fails an execution whose output passes 256 KiB. Past the
// budget the output lists failures first and counts what it left out;
// the manifest always has everything.
const OutputResultsBudget = 200 << 10

// fitResults keeps the output under budget bytes: everything when it
// fits, otherwise failures first, then the rest in order, while they fit.
func fitResults(results []request.Result, budget int) ([]request.Result, int) {
	size := func(r request.Result) int {
		b, _ := json.Marshal(r)
		return len(b) + 1
	}
	total := 0
	for _, r := range results {
		total += size(r)
	}
	if total <= budget {
		return results, 0
	}
	ordered := slices.Clone(results)
	slices.SortStableFunc(ordered, func(a, b request.Result) int {
		return boolInt(a.Status != request.StatusFailed) - boolInt(b.Status != request.StatusFailed)
	})
	out := make([]request.Result, 0)
	used := 0
	for _, r := range ordered {
		n := size(r)
		if used+n > budget {
			break
		}
		used += n
		out = append(out, r)
	}
	return out, len(results) - len(out)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
