package batch

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/schedule"
)

// Long catch-up windows (issue 12): PrepareBatch cuts an incremental
// user's window that is longer than MaxWindowDays into windows
// (request.Chunk); the batch state machine's item processor exports them
// one after another and, after each stored one, calls AdvanceMark, which
// moves the user's mark to that window's end. A failure in window k ends
// the user's item with windows 1..k-1 stored and the mark at the end of
// window k-1, where the next run resumes.

// chunk cuts an incremental item's window w into MAX_WINDOW_DAYS windows
// counted from the user's mark (zero: none, the lookback's start). A
// window that needs no cut leaves the item as it was. The item's
// FinishTime becomes the last window's end, which is earlier than w's
// for a user more than request.MaxWindowsPerRun windows behind: the next
// run continues from there.
func chunk(item *request.Item, w schedule.Window, mark time.Time, maxWindowDays int) {
	ws := request.Chunk(w, mark, maxWindowDays, request.MaxWindowsPerRun)
	if len(ws) < 2 {
		return
	}
	item.Windows = request.Windows(ws)
	item.FinishTime = item.Windows[len(item.Windows)-1].FinishTime
}

// Progress is how far a chunked user's item has got: the item processor
// keeps it at $.progress, starting it at {windows, stored: 0, next: the
// first window}, and AdvanceMark returns it after each stored window. The
// item processor's end states hand it to WriteManifest (mapEntry).
type Progress struct {
	// Windows is the item's number of windows; Stored how many of them,
	// oldest first, are stored.
	Windows int `json:"windows"`
	Stored  int `json:"stored"`
	// Bytes and Rows add up the stored reports and their dataset rows.
	Bytes int64 `json:"bytes"`
	Rows  int64 `json:"rows"`
	// StartTime is the first window's start; StartDate when its export
	// execution started (as the .sync Task reports it).
	StartTime string          `json:"startTime,omitempty"`
	StartDate json.RawMessage `json:"startDate,omitempty"`
	// Watermark is the user's mark after the last advance.
	Watermark string `json:"watermark,omitempty"`
	// WithException: a stored report was flagged possibly incomplete
	// (jobStatus 4). Held: such a report's mark was not advanced
	// (ADVANCE_MARKS_ON_EXCEPTION off), so the item stops there: the next
	// run exports that window again, and what follows it.
	WithException bool `json:"withException,omitempty"`
	Held          bool `json:"held,omitempty"`
	// Next is the window to export next; absent when the item is done.
	Next *request.Window `json:"next,omitempty"`
}

// AdvanceInput is the AdvanceMark state's input: the user's item (email,
// event filter, windows), the progress so far, and the report the export
// of window progress.next just stored.
type AdvanceInput struct {
	Email      string           `json:"email"`
	EventTypes []string         `json:"eventTypes"`
	Windows    []request.Window `json:"windows"`
	Progress   Progress         `json:"progress"`
	// Report is the export execution's output; StartDate its start.
	Report    request.ExportOutput `json:"report"`
	StartDate json.RawMessage      `json:"startDate,omitempty"`
	// Execution is the item processor's execution (the mark's writer).
	Execution string `json:"execution"`
}

// MarkAdvancer is the AdvanceMark function's handler. It talks to S3
// only, never to AvePoint.
type MarkAdvancer struct {
	Marks *Watermarks
	// AdvanceOnException: see ManifestWriter.AdvanceOnException.
	AdvanceOnException bool
	Log                *slog.Logger
	Now                func() time.Time
}

// Handle moves the user's mark to the end of the window just stored
// (never backwards: Watermarks.Advance) and returns the progress with the
// next window. A retry with the same input does the same again, so the
// state machine's Retry is harmless.
func (a *MarkAdvancer) Handle(ctx context.Context, in AdvanceInput) (Progress, error) {
	w, err := in.check()
	if err != nil {
		return Progress{}, err
	}
	out := in.Progress
	out.Windows = len(in.Windows)
	out.Next = nil
	if out.Stored == 0 {
		out.StartTime, out.StartDate = w.StartTime, in.StartDate
	}
	out.Stored++
	out.Bytes += in.Report.Bytes
	if d := in.Report.Dataset; d != nil {
		out.Rows += d.Rows
	}
	if in.Report.WithException {
		out.WithException = true
		if !a.AdvanceOnException {
			out.Held = true
			a.Log.InfoContext(ctx, "mark held at a report with exception", "user", request.UserRef(in.Email),
				"window", out.Stored, "windows", out.Windows, "finishTime", w.FinishTime)
			return out, nil
		}
	}
	mark, advanced, err := a.Marks.advanceTo(ctx, Mark{Email: in.Email, EventTypes: in.EventTypes, FinishTime: w.FinishTime,
		ReportKey: in.Report.Key, JobID: in.Report.JobID, Execution: in.Execution, UpdatedAt: a.Now().UTC().Format(time.RFC3339)})
	if err != nil {
		return Progress{}, err
	}
	out.Watermark = mark.FinishTime
	if out.Stored < len(in.Windows) {
		next := in.Windows[out.Stored]
		out.Next = &next
	}
	a.Log.InfoContext(ctx, "window stored", "user", request.UserRef(in.Email), "window", out.Stored, "windows", out.Windows,
		"watermark", out.Watermark, "advanced", advanced)
	return out, nil
}

// check refuses an input that is not the item processor's: the report
// must be the export of window progress.stored of the item. A mismatch
// is a wiring mistake, and moving the mark on it could skip a window.
func (in AdvanceInput) check() (request.Window, error) {
	bad := func(field, reason string) (request.Window, error) {
		return request.Window{}, &failure.ValidationError{Field: field, Reason: reason}
	}
	n := len(in.Windows)
	switch {
	case in.Email == "":
		return bad("email", "is required")
	case n == 0 || n > request.MaxWindowsPerRun:
		return bad("windows", fmt.Sprintf("has %d windows; 1 to %d", n, request.MaxWindowsPerRun))
	case in.Progress.Stored < 0 || in.Progress.Stored >= n:
		return bad("progress.stored", fmt.Sprintf("is %d; the item has %d windows, so 0 to %d", in.Progress.Stored, n, n-1))
	}
	w := in.Windows[in.Progress.Stored]
	for _, f := range [][2]string{{"startTime", w.StartTime}, {"finishTime", w.FinishTime}} {
		if _, err := time.Parse(request.TimeLayout, f[1]); err != nil {
			return bad(fmt.Sprintf("windows[%d].%s", in.Progress.Stored, f[0]), "is not yyyy-MM-ddTHH:mm:ss")
		}
	}
	r := in.Report
	switch {
	case !strings.EqualFold(r.Email, in.Email):
		return bad("report.email", "is not the item's user")
	case r.StartTime != w.StartTime || r.FinishTime != w.FinishTime:
		// The window's times, checked above, are safe to quote.
		return bad("report", fmt.Sprintf("is not the export of window %d (%s to %s)", in.Progress.Stored+1, w.StartTime, w.FinishTime))
	case r.Key == "":
		return bad("report.key", "is required (the export's stored report)")
	}
	return w, nil
}

// LoadMarkAdvancer builds the AdvanceMark function's handler from getenv
// (REPORT_BUCKET, STATE_PREFIX, KMS_KEY_ID, ADVANCE_MARKS_ON_EXCEPTION).
func LoadMarkAdvancer(getenv func(string) string) (*MarkAdvancer, error) {
	cfg, objects, log, err := load(getenv)
	if err != nil {
		return nil, err
	}
	return &MarkAdvancer{
		Marks:              &Watermarks{Store: objects, Prefix: cfg.StatePrefix},
		AdvanceOnException: cfg.AdvanceOnException,
		Log:                log,
		Now:                time.Now,
	}, nil
}

// complete fills in the result of a user exported in several windows
// (see request.Result.Windows) and returns when the first window's
// export started (zero if unknown), which is when the user's did.
func (p *Progress) complete(r *request.Result) time.Time {
	stored := p.Stored
	if r.Status == request.StatusFailed && r.Error == reportStoredError {
		stored++ // the failed window's report is stored, only not converted
	}
	r.Windows = &request.WindowCount{Total: p.Windows, Stored: stored}
	// Where the item's AdvanceMark calls left the mark; WriteManifest
	// restates it for the users whose marks it advances.
	r.Watermark = p.Watermark
	if r.Status == request.StatusSucceeded {
		r.Bytes = p.Bytes
		r.StartTime = cmp.Or(p.StartTime, r.StartTime)
		r.WithException = r.WithException || p.WithException
	}
	return parseDate(p.StartDate)
}
