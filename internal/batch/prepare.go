package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/schedule"
	"github.com/insights-export/insights-export/internal/storage"
)

// markReaders bounds concurrent mark reads of an incremental run (S3
// answers a GET in tens of milliseconds: 5000 users take seconds).
const markReaders = 16

// Execution identifies the batch execution, from the context object.
type Execution struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	StartTime string `json:"startTime"`
}

// PrepareInput is what the PrepareBatch state passes: the execution input
// as the user wrote it, and the execution's identity; for an allUsers
// input, what the discovery step found.
type PrepareInput struct {
	Input      json.RawMessage `json:"input"`
	Execution  Execution       `json:"execution"`
	Discovered *Discovered     `json:"discovered,omitempty"`
}

// UpToDate is an incremental user with nothing new to export.
type UpToDate struct {
	Email     string `json:"email"`
	Watermark string `json:"watermark"`
}

// Plan is plan.json: what the run was asked and where its users came
// from, for the manifest step and for people. Its size does not grow with
// the users of a list: they, and what PrepareBatch decided for each, are
// in users.json (UsersKey).
type Plan struct {
	Execution  Execution     `json:"execution"`
	Request    request.Batch `json:"request"`
	PreparedAt string        `json:"preparedAt"`
	Users      int           `json:"users"`
	Source     *Source       `json:"source,omitempty"`
	// UsersKey is users.json: every user in the list's order, each a
	// PlannedUser.
	UsersKey string `json:"usersKey,omitempty"`

	// Plans written before users.json (a run prepared by an earlier
	// version, finishing after an update) list the up-to-date users and
	// the marks of the users to export here, and their users are the
	// request's emails; WriteManifest still reads them.
	UpToDate []UpToDate        `json:"upToDate,omitempty"`
	Marks    map[string]string `json:"marks,omitempty"`
}

// PlannedUser is one entry of users.json: a user of the run and what
// PrepareBatch decided. Mark is the user's high-water mark when the run
// was prepared (incremental runs), which WriteManifest measures the
// staleness of a failed user's mark by without reading it again
// (MarkStalenessSeconds); an up-to-date user's mark is its watermark.
type PlannedUser struct {
	Email    string `json:"email"`
	Mark     string `json:"mark,omitempty"`
	UpToDate bool   `json:"upToDate,omitempty"`
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
}

// Preparer is the PrepareBatch function's handler.
type Preparer struct {
	Store          *storage.Objects
	Marks          *Watermarks
	Prefix         string // REPORT_PREFIX
	MaxConcurrency int
	Log            *slog.Logger
	Now            func() time.Time
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
	users, src, err := p.runUsers(ctx, b, in.Discovered, now)
	if err != nil {
		p.Log.WarnContext(ctx, "batch users refused", "error", err.Error())
		return Prepared{}, err
	}
	items, planned, err := p.items(ctx, b, users)
	if err != nil {
		p.Log.ErrorContext(ctx, "high-water marks unavailable", "error", err.Error())
		return Prepared{}, err
	}

	out := Prepared{
		Execution:      in.Execution,
		Bucket:         p.Store.Bucket,
		RunPrefix:      RunPrefix(p.Prefix, in.Execution, now),
		Users:          len(items),
		UpToDate:       len(users) - len(items),
		MaxConcurrency: p.MaxConcurrency,
	}
	out.PlanKey = out.RunPrefix + "/plan.json"
	out.ItemsKey = out.RunPrefix + "/items.json"
	out.ResultsPrefix = out.RunPrefix + "/results"
	out.ManifestKey = out.RunPrefix + "/manifest.json"
	plan := Plan{Execution: in.Execution, Request: b, PreparedAt: now.Format(time.RFC3339), Users: len(users), Source: &src, UsersKey: out.RunPrefix + "/users.json"}
	if err := p.Store.PutJSON(ctx, out.ItemsKey, items); err != nil {
		return Prepared{}, err
	}
	if err := p.Store.PutJSON(ctx, plan.UsersKey, planned); err != nil {
		return Prepared{}, err
	}
	// The plan last: WriteManifest reads the others through it.
	if err := p.Store.PutJSON(ctx, out.PlanKey, plan); err != nil {
		return Prepared{}, err
	}
	p.Log.InfoContext(ctx, "batch prepared", "execution", in.Execution.Name, "source", src.Kind, "users", len(users),
		"toExport", len(items), "upToDate", out.UpToDate, "incremental", b.Incremental(), "maxConcurrency", p.MaxConcurrency)
	return out, nil
}

// items resolves each user's window (resolve) and returns the work list
// and every user's plan, in the users' order.
func (p *Preparer) items(ctx context.Context, b request.Batch, users []string) ([]request.Item, []PlannedUser, error) {
	w := newWindowing(b)
	type decision struct {
		item *request.Item
		plan PlannedUser
		err  error
	}
	decided := make([]decision, len(users))
	sem := make(chan struct{}, markReaders)
	var wg sync.WaitGroup
	for i, u := range users {
		if !w.incremental {
			decided[i].item, decided[i].plan = w.resolve(u, Mark{}, false)
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			mark, found, err := p.Marks.Get(ctx, u, b.EventTypes)
			if err != nil {
				decided[i].err = err
				return
			}
			decided[i].item, decided[i].plan = w.resolve(u, mark, found)
		}()
	}
	wg.Wait()
	items := make([]request.Item, 0, len(users))
	planned := make([]PlannedUser, 0, len(users))
	for _, d := range decided {
		if d.err != nil {
			return nil, nil, d.err
		}
		if d.item != nil {
			items = append(items, *d.item)
		}
		planned = append(planned, d.plan)
	}
	return items, planned, nil
}

// windowing is what every user's window is resolved from, worked out once
// per run (the window's zone is loaded once, not per user).
type windowing struct {
	incremental   bool
	types         []string
	start, finish string // fixed and rolling windows
	spec          schedule.Spec
	at            time.Time
	lookback      int
}

func newWindowing(b request.Batch) windowing {
	w := windowing{incremental: b.Incremental(), types: b.EventTypes}
	if w.types == nil {
		w.types = []string{} // every item has the field: the Map addresses it by path
	}
	if !w.incremental {
		w.start, w.finish = b.Fixed()
		return w
	}
	w.spec, w.at = b.Window.Spec()
	w.lookback = b.Window.LookbackPeriods
	return w
}

// resolve decides one user's window: the shared one for fixed and rolling
// windows; for incremental ones the window from the user's mark (found
// false: none yet, the lookback applies), or none when the user is up to
// date (item nil).
func (w windowing) resolve(u string, mark Mark, found bool) (*request.Item, PlannedUser) {
	if !w.incremental {
		return &request.Item{Email: u, StartTime: w.start, FinishTime: w.finish, EventTypes: w.types}, PlannedUser{Email: u}
	}
	var from time.Time
	if found {
		from = mark.Time()
	}
	win, ok := w.spec.Incremental(w.at, from, w.lookback)
	if !ok {
		return nil, PlannedUser{Email: u, Mark: mark.FinishTime, UpToDate: true}
	}
	return &request.Item{Email: u, StartTime: request.FormatTime(win.Start), FinishTime: request.FormatTime(win.Finish), EventTypes: w.types},
		PlannedUser{Email: u, Mark: mark.FinishTime}
}

// maxExecutionName is Step Functions' own limit on execution names.
const maxExecutionName = 80

// validExecutionName refuses a name that cannot be a run folder: "." and
// ".." would be cleaned out of the path (runs of every execution of the
// day, or of all days, would share a folder), and anything longer than
// Step Functions allows did not come from Step Functions.
func validExecutionName(name string) error {
	bad := func(reason string) error { return &failure.ValidationError{Field: "execution.name", Reason: reason} }
	switch {
	case name == "":
		return bad("is required: PrepareBatch needs the execution's name (the state's Parameters pass $$.Execution)")
	case name == "." || name == "..":
		return bad(`cannot be "." or ".." (it names the run's folder)`)
	case len(name) > maxExecutionName:
		return bad(fmt.Sprintf("is %d bytes; Step Functions allows %d", len(name), maxExecutionName))
	case !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '/' }):
		return bad("has control characters, a slash or invalid UTF-8")
	}
	return nil
}

// RunPrefix is where a run's files go, beside the reports:
// <prefix>/runs/<UTC date the execution started>/<execution name>.
func RunPrefix(prefix string, e Execution, now time.Time) string {
	day := now
	if t, err := time.Parse(time.RFC3339Nano, e.StartTime); err == nil {
		day = t
	}
	return path.Join(prefix, "runs", day.UTC().Format("2006-01-02"), request.KeyEscape(e.Name))
}
