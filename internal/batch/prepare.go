package batch

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/schedule"
	"github.com/insights-export/insights-export/internal/storage"
)

// markReaders bounds concurrent mark reads of an incremental run. S3
// answers a GET in tens of milliseconds: 64 in flight read 100,000 marks
// in about half a minute in Lambda, where the CPU they take (about 0.1 ms
// each, BENCHMARKS.md §6) is the other bound; 16 would take two minutes.
// S3 serves 5,500 GETs a second per prefix, and every user's mark is a
// prefix of its own.
const markReaders = 64

// markWindow bounds the users whose mark is read or waits to be written
// out in order behind a slower one: the memory of PrepareBatch's
// pipeline, whatever the number of users.
const markWindow = 1024

// Connections is how many idle connections to S3 the batch functions'
// client keeps: one for each request they have in flight (markReaders,
// markWriters), and a few for the run's files.
const Connections = markReaders + 8

// Execution identifies the batch execution, from the context object
// (request.Execution: the user discovery writes into the same run folder).
type Execution = request.Execution

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

// Handle validates the input with the same code as the HTTP API, reads
// the user list when the input names one, resolves every user's window
// and writes items.json, users.json and plan.json. Its memory holds the
// run's user principal names (about 50 bytes a user: the list is
// validated whole before a mark is read) and a bounded window of users in
// flight, not the work list.
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
	out := Prepared{
		Execution:      in.Execution,
		Bucket:         p.Store.Bucket,
		RunPrefix:      RunPrefix(p.Prefix, in.Execution, now),
		MaxConcurrency: p.MaxConcurrency,
	}
	if b.Incremental() {
		out.RunLock = runLock(now, cmp.Or(p.RunLockLease, DefaultRunLockLease))
	}
	out.PlanKey = out.RunPrefix + "/plan.json"
	out.ItemsKey = out.RunPrefix + "/items.json"
	out.ResultsPrefix = out.RunPrefix + "/results"
	out.ManifestKey = out.RunPrefix + "/manifest.json"
	plan := Plan{Execution: in.Execution, Request: b, PreparedAt: now.Format(time.RFC3339), Users: len(users), Source: &src, UsersKey: out.RunPrefix + "/users.json"}
	if out.Users, err = p.writeWork(ctx, b, users, out.ItemsKey, plan.UsersKey); err != nil {
		p.Log.ErrorContext(ctx, "work list not written", "error", err.Error())
		return Prepared{}, err
	}
	out.UpToDate = len(users) - out.Users
	// The plan last: WriteManifest reads the others through it.
	if err := p.Store.PutJSON(ctx, out.PlanKey, plan); err != nil {
		return Prepared{}, err
	}
	p.Log.InfoContext(ctx, "batch prepared", "execution", in.Execution.Name, "source", src.Kind, "users", len(users),
		"toExport", out.Users, "upToDate", out.UpToDate, "incremental", b.Incremental(), "maxConcurrency", p.MaxConcurrency)
	return out, nil
}

// writeWork resolves every user's window (decide) and streams the work
// list (items.json, the users to export) and users.json (every user and
// its decision) into S3 as it goes. It returns how many users are to be
// exported. On failure neither object is left behind.
//
// An incremental run's work list is ordered longest first by each user's
// last export time (Mark.ExportSeconds), users without one first, the
// users' order otherwise (longestFirst): its items are held until every
// user is decided, as encoded JSON (a few hundred bytes a user).
func (p *Preparer) writeWork(ctx context.Context, b request.Batch, users []string, itemsKey, usersKey string) (int, error) {
	items := newArrayWriter(p.Store.Create(ctx, itemsKey, "application/json"))
	planned := newArrayWriter(p.Store.Create(ctx, usersKey, "application/json"))
	exported := 0
	var held []heldItem
	order := newWindowing(b).incremental
	err := p.decide(ctx, b, users, func(item *request.Item, u PlannedUser, last float64) error {
		if item != nil {
			exported++
			if order {
				raw, err := json.Marshal(item)
				if err != nil {
					return err
				}
				held = append(held, heldItem{raw: raw, seconds: last})
			} else if err := items.add(item); err != nil {
				return err
			}
		}
		return planned.add(u)
	})
	if err == nil && order {
		for _, h := range longestFirst(held) {
			if err = items.addRaw(h.raw); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = items.close()
	}
	if err == nil {
		err = planned.close()
	}
	if err != nil {
		items.abort()
		planned.abort()
		return 0, err
	}
	return exported, nil
}

// decide resolves every user's window (windowing.resolve) and hands each
// to emit in the users' order. An incremental run reads the users' marks,
// markReaders at a time, while emit writes out the users before them; at
// most markWindow users are between the two.
func (p *Preparer) decide(ctx context.Context, b request.Batch, users []string, emit func(*request.Item, PlannedUser, float64) error) error {
	w := newWindowing(b)
	w.maxWindowDays = p.MaxWindowDays
	if !w.incremental {
		for _, u := range users {
			item, plan := w.resolve(u, Mark{}, false)
			if err := emit(item, plan, 0); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type decision struct {
		item *request.Item
		plan PlannedUser
		last float64 // the mark's ExportSeconds
		err  error
	}
	// Each user's decision arrives on a channel of its own; the channels
	// queue in the users' order.
	pending := make(chan chan decision, markWindow)
	sem := make(chan struct{}, markReaders)
	go func() {
		defer close(pending)
		for _, u := range users {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			ch := make(chan decision, 1)
			select {
			case pending <- ch:
			case <-ctx.Done():
				<-sem
				return
			}
			go func() {
				defer func() { <-sem }()
				mark, found, err := p.Marks.Get(ctx, u, b.EventTypes)
				if err != nil {
					ch <- decision{err: err}
					return
				}
				item, plan := w.resolve(u, mark, found)
				ch <- decision{item: item, plan: plan, last: mark.ExportSeconds}
			}()
		}
	}()
	var first error
	for ch := range pending {
		d := <-ch // every queued channel gets its decision, also after a cancel
		if first != nil {
			continue
		}
		if first = d.err; first == nil {
			first = emit(d.item, d.plan, d.last)
		}
		if first != nil {
			cancel()
		}
	}
	return first
}

// heldItem is a work list item waiting for its place: its JSON and its
// user's last export time (0: unknown).
type heldItem struct {
	raw     []byte
	seconds float64
}

// longestFirst orders the work list so that the longest exports start
// first: a run ends when its last job does, and a long job started last
// keeps one slot busy while the others have nothing left (BENCHMARKS.md,
// "Slot utilisation"). Users whose time is unknown (new users, marks
// from before) come first: their length is a guess, and a long job costs
// less early than late. Equal times keep the users' order.
func longestFirst(items []heldItem) []heldItem {
	slices.SortStableFunc(items, func(a, b heldItem) int {
		switch {
		case (a.seconds <= 0) != (b.seconds <= 0):
			if a.seconds <= 0 {
				return -1
			}
			return 1
		default:
			return cmp.Compare(b.seconds, a.seconds)
		}
	})
	return items
}

// arrayWriter writes a JSON array into an object, one element a line.
type arrayWriter struct {
	w   *storage.Writer
	buf *bufio.Writer
	n   int
}

func newArrayWriter(w *storage.Writer) *arrayWriter {
	return &arrayWriter{w: w, buf: bufio.NewWriterSize(w, 64<<10)}
}

func (a *arrayWriter) add(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return a.addRaw(b)
}

// addRaw adds an element already encoded.
func (a *arrayWriter) addRaw(b []byte) error {
	sep := ",\n"
	if a.n == 0 {
		sep = "[\n"
	}
	a.n++
	if _, err := a.buf.WriteString(sep); err != nil {
		return err
	}
	_, err := a.buf.Write(b)
	return err
}

func (a *arrayWriter) close() error {
	end := "\n]\n"
	if a.n == 0 {
		end = "[]\n"
	}
	if _, err := a.buf.WriteString(end); err != nil {
		return err
	}
	if err := a.buf.Flush(); err != nil {
		return err
	}
	return a.w.Close()
}

func (a *arrayWriter) abort() { a.w.Abort() }

// windowing is what every user's window is resolved from, worked out once
// per run (the window's zone is loaded once, not per user).
type windowing struct {
	incremental   bool
	types         []string
	start, finish string // fixed and rolling windows
	spec          schedule.Spec
	at            time.Time
	lookback      int
	maxWindowDays int // MAX_WINDOW_DAYS: incremental windows are cut (chunk)
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
	item := &request.Item{Email: u, StartTime: request.FormatTime(win.Start), FinishTime: request.FormatTime(win.Finish), EventTypes: w.types}
	chunk(item, win, from, w.maxWindowDays)
	return item, PlannedUser{Email: u, Mark: mark.FinishTime}
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
