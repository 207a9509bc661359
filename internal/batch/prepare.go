package batch

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
)

// markReaders bounds concurrent mark reads of an incremental run (S3
// answers a GET in tens of milliseconds: 5000 users take seconds).
const markReaders = 16

// Execution identifies the batch execution, from the context object
// (request.Execution: the user discovery writes into the same run folder).
type Execution = request.Execution

// PrepareInput is what the PrepareBatch state passes: the execution input
// as the user wrote it, and the execution's identity.
type PrepareInput struct {
	Input     json.RawMessage `json:"input"`
	Execution Execution       `json:"execution"`
}

// UpToDate is an incremental user with nothing new to export.
type UpToDate struct {
	Email     string `json:"email"`
	Watermark string `json:"watermark"`
}

// Plan is plan.json: what the run was asked and what it decided, for the
// manifest step and for people.
type Plan struct {
	Execution  Execution     `json:"execution"`
	Request    request.Batch `json:"request"`
	PreparedAt string        `json:"preparedAt"`
	Users      int           `json:"users"`
	UpToDate   []UpToDate    `json:"upToDate,omitempty"`
	// Marks are the high-water marks (FinishTime) of the incremental
	// users to export who had one, by address. WriteManifest measures
	// the staleness of marks from them and the results, so a user whose
	// export fails, and keeps its mark, is counted without reading the
	// mark again (MarkStalenessSeconds).
	Marks map[string]string `json:"marks,omitempty"`
}

// Prepared is PrepareBatch's output and the batch state machine's working
// state: small on purpose (the user list stays in S3), whatever the
// number of users.
type Prepared struct {
	Execution      Execution `json:"execution"`
	Bucket         string    `json:"bucket"`
	RunPrefix      string    `json:"runPrefix"`
	PlanKey        string    `json:"planKey"`
	ItemsKey       string    `json:"itemsKey"`
	ResultsPrefix  string    `json:"resultsPrefix"`
	ManifestKey    string    `json:"manifestKey"`
	Users          int       `json:"users"`
	UpToDate       int       `json:"upToDate"`
	MaxConcurrency int       `json:"maxConcurrency"`
	// RunLock is set for incremental runs: the batch state machine takes
	// the run lock (internal/slots, runlock.go) with these times before it
	// exports anyone.
	RunLock *RunLock `json:"runLock,omitempty"`
}

// RunLock is the run lock's times as the state machine's conditional write
// compares them: RFC 3339 UTC strings of one layout, which order as their
// times do.
type RunLock struct {
	Now       string `json:"now"`
	ExpiresAt string `json:"expiresAt"`
}

// runLock is the lock of an incremental run prepared at now.
func runLock(now time.Time, lease time.Duration) *RunLock {
	return &RunLock{Now: now.UTC().Format(time.RFC3339), ExpiresAt: now.Add(lease).UTC().Format(time.RFC3339)}
}

// Preparer is the PrepareBatch function's handler.
type Preparer struct {
	Store          *storage.Objects
	Marks          *Watermarks
	Prefix         string // REPORT_PREFIX
	MaxConcurrency int
	MaxWindowDays  int // MAX_WINDOW_DAYS (see chunk); 0 cuts no window
	// RunLockLease is how long an incremental run's lock counts when
	// nobody gives it back (RUN_LOCK_HOURS; 0: DefaultRunLockLease).
	RunLockLease time.Duration
	Log          *slog.Logger
	Now          func() time.Time
}

// Handle validates the input with the same code as the HTTP API, resolves
// every user's window and writes plan.json and items.json.
func (p *Preparer) Handle(ctx context.Context, in PrepareInput) (Prepared, error) {
	now := p.Now().UTC()
	if err := validExecutionName(in.Execution.Name); err != nil {
		return Prepared{}, err
	}
	b, err := request.ParseBatch(in.Input, now)
	if err != nil {
		p.Log.WarnContext(ctx, "batch input refused", "error", err.Error())
		return Prepared{}, err
	}
	if b.UsersFrom != "" || b.AllUsers != nil {
		// Until the run reads user lists (issue 12), say so rather than
		// prepare a run of nobody.
		return Prepared{}, &failure.ValidationError{Field: "usersFrom", Reason: "user lists are not read by this version yet; give emails"}
	}
	items, upToDate, marks, err := p.items(ctx, b)
	if err != nil {
		p.Log.ErrorContext(ctx, "high-water marks unavailable", "error", err.Error())
		return Prepared{}, err
	}

	out := Prepared{
		Execution:      in.Execution,
		Bucket:         p.Store.Bucket,
		RunPrefix:      RunPrefix(p.Prefix, in.Execution, now),
		Users:          len(items),
		UpToDate:       len(upToDate),
		MaxConcurrency: p.MaxConcurrency,
	}
	if b.Incremental() {
		out.RunLock = runLock(now, cmp.Or(p.RunLockLease, DefaultRunLockLease))
	}
	out.PlanKey = out.RunPrefix + "/plan.json"
	out.ItemsKey = out.RunPrefix + "/items.json"
	out.ResultsPrefix = out.RunPrefix + "/results"
	out.ManifestKey = out.RunPrefix + "/manifest.json"
	plan := Plan{Execution: in.Execution, Request: b, PreparedAt: now.Format(time.RFC3339), Users: len(b.Users()), UpToDate: upToDate, Marks: marks}
	if err := p.Store.PutJSON(ctx, out.PlanKey, plan); err != nil {
		return Prepared{}, err
	}
	if err := p.Store.PutJSON(ctx, out.ItemsKey, items); err != nil {
		return Prepared{}, err
	}
	p.Log.InfoContext(ctx, "batch prepared", "execution", in.Execution.Name, "users", len(b.Users()),
		"toExport", len(items), "upToDate", len(upToDate), "incremental", b.Incremental(), "maxConcurrency", p.MaxConcurrency)
	return out, nil
}

// items resolves each user's window: shared for fixed and rolling
// windows, from the user's mark for incremental ones. marks are the marks
// of the users to export that have one (see Plan.Marks).
func (p *Preparer) items(ctx context.Context, b request.Batch) ([]request.Item, []UpToDate, map[string]string, error) {
	users := b.Users()
	types := b.EventTypes
	if types == nil {
		types = []string{}
	}
	if !b.Incremental() {
		start, finish := b.Fixed()
		items := make([]request.Item, len(users))
		for i, u := range users {
			items[i] = request.Item{Email: u, StartTime: start, FinishTime: finish, EventTypes: types}
		}
		return items, nil, nil, nil
	}

	spec, at := b.Window.Spec()
	type decision struct {
		item *request.Item
		skip *UpToDate
		mark string // the exported user's mark, if any
		err  error
	}
	decided := make([]decision, len(users))
	sem := make(chan struct{}, markReaders)
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			mark, found, err := p.Marks.Get(ctx, u, b.EventTypes)
			if err != nil {
				decided[i].err = err
				return
			}
			var from time.Time
			if found {
				from = mark.Time()
			}
			w, ok := spec.Incremental(at, from, b.Window.LookbackPeriods)
			if !ok {
				decided[i].skip = &UpToDate{Email: u, Watermark: mark.FinishTime}
				return
			}
			decided[i].item = &request.Item{Email: u, StartTime: request.FormatTime(w.Start), FinishTime: request.FormatTime(w.Finish), EventTypes: types}
			p.chunk(decided[i].item, w, from)
			if found {
				decided[i].mark = mark.FinishTime
			}
		}()
	}
	wg.Wait()
	items := make([]request.Item, 0, len(users))
	var skipped []UpToDate
	marks := map[string]string{}
	for _, d := range decided {
		switch {
		case d.err != nil:
			return nil, nil, nil, d.err
		case d.skip != nil:
			skipped = append(skipped, *d.skip)
		default:
			items = append(items, *d.item)
			if d.mark != "" {
				marks[d.item.Email] = d.mark
			}
		}
	}
	return items, skipped, marks, nil
}

// validExecutionName refuses a name that cannot be a run folder
// (request.ValidateExecutionName).
func validExecutionName(name string) error {
	return request.ValidateExecutionName("PrepareBatch", name)
}

// RunPrefix is where a run's files go, beside the reports:
// <prefix>/runs/<UTC date the execution started>/<execution name>
// (request.RunPrefix, which the user discovery shares).
func RunPrefix(prefix string, e Execution, now time.Time) string {
	return request.RunPrefix(prefix, e, now)
}
