package polling

import "fmt"

// CheckState is the export state machine's status-reading Task.
const CheckState = "CheckJob"

// statusPath is what the loop's Choice state reads of the check's answer.
const statusPath = "$.status"

// Export is an export state machine as the model walks it: the states an
// execution passes through for a job seen finished at the n-th status
// read, or failing at it.
type Export struct {
	Def *Definition
	// Check names the Task that reads the job's status.
	Check string
	// RetryPolls: Check's own Retry is the poll loop (RetryVariant): the
	// definition has no loop, and every status read after the first is a
	// retry of the one Check state.
	RetryPolls bool

	// Transitions and history events of a success after one status read,
	// and what each further read adds (the walk is linear in reads; checked).
	t1, tPer, e1, ePer int
}

// LoadExport reads an export state machine whose status-reading Task is
// CheckState.
func LoadExport(path string) (*Export, error) {
	def, err := LoadDefinition(path)
	if err != nil {
		return nil, err
	}
	e, err := NewExport(def, CheckState)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}

// NewExport finds how the definition polls: a loop through a Choice state
// that reads $.status ("finished" leaves it), or, when no walk comes back
// to check, the check's own retries.
func NewExport(def *Definition, check string) (*Export, error) {
	if st := def.States[check]; st == nil || st.Type != "Task" {
		return nil, fmt.Errorf("polling: %s is no Task of the definition", check)
	}
	e := &Export{Def: def, Check: check}
	var paths [3][]Step
	var checks [3]int
	for i := range paths {
		p, err := e.walkSuccess(i + 1)
		if err != nil {
			return nil, err
		}
		paths[i] = p
		for _, s := range p {
			if s.Name == check {
				checks[i]++
			}
		}
	}
	e1, err := HistoryEvents(paths[0])
	if err != nil {
		return nil, err
	}
	e.t1, e.e1 = len(paths[0]), e1
	switch {
	case checks[0] != 1:
		return nil, fmt.Errorf("polling: a success after one status read enters %s %d times", check, checks[0])
	case checks[1] == 1:
		if len(def.States[check].Retry) == 0 {
			return nil, fmt.Errorf("polling: %s is entered once whatever the job does, and has no Retry to poll with", check)
		}
		e.RetryPolls, e.tPer, e.ePer = true, 1, EventsRetry
	case checks[1] == 2 && checks[2] == 3:
		e2, err := HistoryEvents(paths[1])
		if err != nil {
			return nil, err
		}
		e3, err := HistoryEvents(paths[2])
		if err != nil {
			return nil, err
		}
		e.tPer, e.ePer = len(paths[1])-len(paths[0]), e2-e1
		if len(paths[2])-len(paths[1]) != e.tPer || e3-e2 != e.ePer || e.tPer <= 0 {
			return nil, fmt.Errorf("polling: the poll loop through %s does not cost the same every time", check)
		}
	default:
		return nil, fmt.Errorf("polling: reads 1, 2, 3 enter %s %v times", check, checks)
	}
	return e, nil
}

// walkSuccess: the job is seen finished at the reads-th status read.
func (e *Export) walkSuccess(reads int) ([]Step, error) {
	return e.Def.Walk(Walker{Vars: func(_ string, visit int) map[string]any {
		status := "running"
		if visit >= reads {
			status = "finished"
		}
		return map[string]any{statusPath: status}
	}})
}

// Success is the walk of an execution whose job is seen finished at the
// reads-th status read (for a retry loop the path is the same whatever
// reads is: the reads after the first are retries).
func (e *Export) Success(reads int) ([]Step, error) {
	if e.RetryPolls {
		reads = 1
	}
	return e.walkSuccess(reads)
}

// Failure is the walk of an execution whose reads-th status read fails
// with errName (JobDeadlineExceededError; a retry loop's still-running
// error once its attempts run out), through Check's catcher.
func (e *Export) Failure(reads int, errName string) ([]Step, error) {
	at := reads
	if e.RetryPolls {
		at = 1
	}
	return e.Def.Walk(Walker{
		Vars: func(string, int) map[string]any {
			return map[string]any{statusPath: "running", "$.Error": errName}
		},
		Fail: func(state string, visit int) string {
			if state == e.Check && visit == at {
				return errName
			}
			return ""
		},
	})
}

func (e *Export) successTransitions(reads int) int { return e.t1 + e.tPer*(reads-1) }
func (e *Export) successEvents(reads int) int      { return e.e1 + e.ePer*(reads-1) }

// price fills r's path and counts for r.Cycles check invocations (r.Polls
// in a retry loop, where each read is an attempt), ending in success
// (failErr "") or in the check failing with failErr.
func (e *Export) price(r *Result, failErr string) error {
	if e.RetryPolls || r.Cycles == 0 {
		r.Cycles = r.Polls
	}
	var path []Step
	var err error
	if failErr == "" {
		path, err = e.Success(r.Cycles)
	} else {
		path, err = e.Failure(r.Cycles, failErr)
	}
	if err != nil {
		return err
	}
	events, err := HistoryEvents(path)
	if err != nil {
		return err
	}
	r.Path, r.Retries = path, 0
	if e.RetryPolls {
		r.Retries = r.Polls - 1
	}
	r.Transitions = len(path) + r.Retries
	r.HistoryEvents = events + EventsRetry*r.Retries
	r.Invocations = r.Retries
	for _, s := range path {
		if s.Lambda() {
			r.Invocations++
		}
	}
	return nil
}

// PerRead is what each status read beyond the first adds to a successful
// export: transitions and history events (3 and 9 for Wait → Task →
// Choice; 1 and 3 for a retry).
func (e *Export) PerRead() (transitions, events int) { return e.tPer, e.ePer }

// Fixed is what a successful export costs besides its reads after the
// first: transitions and history events of the walk for one read.
func (e *Export) Fixed() (transitions, events int) { return e.t1 - e.tPer, e.e1 - e.ePer }
