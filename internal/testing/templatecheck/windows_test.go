package templatecheck

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/insights-export/insights-export/internal/request"
)

// MaxWindowDays allows what PrepareBatch's MAX_WINDOW_DAYS does, and
// reaches it; AdvanceMark and WriteManifest read the same
// AdvanceMarksOnException, so a report with exception holds or moves the
// mark the same way whichever of them sees it.
func TestMaxWindowDaysReachesPrepareBatch(t *testing.T) {
	tpl := loadTemplate(t)
	p, _ := tpl.Parameters["MaxWindowDays"].(map[string]any)
	for key, want := range map[string]int{"Default": request.DefaultMaxWindowDays, "MinValue": 1, "MaxValue": request.MaxMaxWindowDays} {
		if got, err := strconv.Atoi(fmt.Sprint(p[key])); err != nil || got != want {
			t.Errorf("MaxWindowDays %s = %v, want %d (MAX_WINDOW_DAYS)", key, p[key], want)
		}
	}
	env := func(fn string) map[string]any {
		e, _ := tpl.Resources[fn].Properties["Environment"].(map[string]any)
		v, _ := e["Variables"].(map[string]any)
		return v
	}
	if got := fmt.Sprint(env("PrepareBatchFunction")["MAX_WINDOW_DAYS"]); got != "map[Ref:MaxWindowDays]" {
		t.Errorf("PrepareBatch MAX_WINDOW_DAYS = %s, want !Ref MaxWindowDays", got)
	}
	for _, fn := range []string{"AdvanceMarkFunction", "WriteManifestFunction"} {
		if got := fmt.Sprint(env(fn)["ADVANCE_MARKS_ON_EXCEPTION"]); got != "map[Ref:AdvanceMarksOnException]" {
			t.Errorf("%s ADVANCE_MARKS_ON_EXCEPTION = %s, want !Ref AdvanceMarksOnException", fn, got)
		}
	}
}
