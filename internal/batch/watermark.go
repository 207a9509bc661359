package batch

import (
	"cmp"
	"context"
	"path"
	"sync"
	"time"

	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
)

// Mark is a user's incremental high-water mark: their activity is stored
// up to FinishTime (exclusive). It is kept per user and event filter, so
// two schedules watching the same user with different filters do not move
// each other's mark, while two with the same filter share it (they export
// the same data).
type Mark struct {
	Email      string   `json:"email"`
	EventTypes []string `json:"eventTypes,omitempty"`
	// FinishTime is the end of the last stored report, AvePoint format.
	FinishTime string `json:"finishTime"`
	// Where that report is and who stored it, for whoever reads the mark.
	ReportKey string `json:"reportKey,omitempty"`
	JobID     string `json:"jobId,omitempty"`
	Execution string `json:"execution,omitempty"`
	UpdatedAt string `json:"updatedAt,omitempty"`
	// ExportSeconds is how long that export's execution ran, start to end
	// (its slot wait, job, store and convert): PrepareBatch puts the
	// longest first in the next run's work list, so that the last jobs of
	// a run are short ones and the slots are not left idle behind one
	// long job (BENCHMARKS.md, "Slot utilisation"). The job's own time is
	// not in the export's output; the rest of the execution is about
	// alike for every user of a run, so the order is nearly the jobs'.
	// Absent in marks written before, and for windowed users' marks.
	ExportSeconds float64 `json:"exportSeconds,omitempty"`
}

// Time returns FinishTime as an instant.
func (m Mark) Time() time.Time {
	t, _ := time.Parse(request.TimeLayout, m.FinishTime)
	return t
}

// Watermarks keeps marks as JSON objects in S3:
//
//	<prefix>/watermarks/user=<email>/events=<filter>.json
//
// S3 rather than DynamoDB: the marks are read once per user per run,
// written once per stored report, and the bucket already exists with the
// right encryption, versioning (the previous mark survives as a
// noncurrent version) and IAM scoping.
type Watermarks struct {
	Store  *storage.Objects
	Prefix string
}

// Key is where the mark of email for the given event filter lives. The
// user and the filter are spelled as in report keys, so different users
// and filters get different marks (no filter is "all", which no event
// type may be called), shortened by request.FitKey only where the key
// would not fit S3.
func (w *Watermarks) Key(email string, eventTypes []string) string {
	return request.FitKey(email, eventTypes, func(user, events string) string {
		return path.Join(w.Prefix, "watermarks", "user="+user, "events="+events+".json")
	})
}

// Get reads a mark; found is false for a user without one. Its errors,
// like Advance's, are storage.Objects': a StorageError of op get ("reading
// …") or put ("storing …") naming the key by request.UserRef, never by the
// address.
func (w *Watermarks) Get(ctx context.Context, email string, eventTypes []string) (m Mark, found bool, err error) {
	found, err = w.Store.GetJSON(ctx, "", w.Key(email, eventTypes), &m)
	if err != nil || !found {
		return Mark{}, false, err
	}
	if m.Time().IsZero() {
		// A mark nobody can read is treated as absent rather than
		// blocking the user forever; the lookback then applies.
		return Mark{}, false, nil
	}
	return m, true, nil
}

// Advance stores m unless the stored mark is already at or past it: a
// late or repeated run must never move a mark backwards (that would
// re-export, not lose data, but still). advanced reports a write.
func (w *Watermarks) Advance(ctx context.Context, m Mark) (advanced bool, err error) {
	_, advanced, err = w.advanceTo(ctx, m)
	return advanced, err
}

// advanceTo is Advance, and returns the mark that stands after it: m, or
// the later one already stored (a newer run finished first).
func (w *Watermarks) advanceTo(ctx context.Context, m Mark) (now Mark, advanced bool, err error) {
	cur, found, err := w.Get(ctx, m.Email, m.EventTypes)
	if err != nil {
		return Mark{}, false, err
	}
	if found && !cur.Time().Before(m.Time()) {
		return cur, false, nil
	}
	if err := w.Store.PutJSON(ctx, w.Key(m.Email, m.EventTypes), m); err != nil {
		return Mark{}, false, err
	}
	return m, true, nil
}

// markWriters bounds concurrent high-water mark updates: a GET and, when
// the mark moves, a PUT each (see markReaders for why 64).
const markWriters = 64

// advance moves the marks of users whose report is stored to that
// report's finish: only now, after the store step succeeded, so a failed
// or skipped run is picked up by the next one. Each result's Watermark
// becomes the mark that stands.
func (m *ManifestWriter) advance(ctx context.Context, plan Plan, results []*request.Result) error {
	sem := make(chan struct{}, markWriters)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	now := m.Now().UTC().Format(time.RFC3339)
	for _, r := range results {
		stored := r.Status == request.StatusSucceeded || r.Error == reportStoredError
		if !stored || r.FinishTime == "" {
			continue
		}
		if r.WithException && !m.AdvanceOnException {
			r.Message = "AvePoint flagged this report as possibly incomplete (jobStatus 4); the high-water mark stays, so the next run exports this window again"
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			mark, _, err := m.Marks.advanceTo(ctx, Mark{Email: r.Email, EventTypes: plan.Request.EventTypes, FinishTime: r.FinishTime,
				ReportKey: r.Key, JobID: r.JobID, Execution: plan.Execution.ID, UpdatedAt: now, ExportSeconds: r.DurationSeconds})
			if err != nil {
				mu.Lock()
				firstErr = cmp.Or(firstErr, err)
				mu.Unlock()
				return
			}
			// The mark that stands: a newer run's, if it finished first.
			r.Watermark = mark.FinishTime
		}()
	}
	wg.Wait()
	return firstErr
}
