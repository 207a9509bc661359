package discover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
)

// UsersFile is the name of the user list in the run's folder.
const UsersFile = "users.json"

// CallMargin is how long before the invocation's deadline the listing
// stops waiting for AvePoint, so the function still answers with a typed
// error (a TransientError the state machine may retry) instead of being
// killed mid-call (as export.CallMargin).
const CallMargin = 3 * time.Second

// Input is what the DiscoverUsers state passes, as PrepareBatch's state
// does: the execution input as the user wrote it, and the execution.
type Input struct {
	Input     json.RawMessage   `json:"input"`
	Execution request.Execution `json:"execution"`
}

// Output is the function's result: where the list is, and what the
// listing saw. It stays small whatever the tenant's size; PrepareBatch
// reads the list from UsersFrom as it reads a usersFrom input, and records
// the summary in plan.json and the manifest.
type Output struct {
	UsersFrom string  `json:"usersFrom"` // s3://bucket/key
	Summary   Summary `json:"summary"`
}

// Summary counts the listing: Listed = Kept + the Dropped counts, each
// user counted once; Duplicates are results that named a user again.
type Summary struct {
	Listed     int     `json:"listed"`
	Kept       int     `json:"kept"`
	Dropped    Dropped `json:"dropped"`
	Duplicates int     `json:"duplicates"`
	Pages      int     `json:"pages"`
	// Paging is how the pages were walked: startPage-from-0,
	// startPage-from-1, nextLink-url or nextLink-token (avepoint.Paging).
	Paging string `json:"paging"`
}

// Dropped counts the users allUsers left out, by the first reason that
// applied (request.UserFilter.Keep).
type Dropped struct {
	Status   int `json:"status"`
	Guest    int `json:"guest"`
	Domain   int `json:"domain"`
	Excluded int `json:"excluded"`
}

// count adds one user left out for why; false for a reason it does not
// know.
func (d *Dropped) count(why string) bool {
	switch why {
	case request.DroppedStatus:
		d.Status++
	case request.DroppedGuest:
		d.Guest++
	case request.DroppedDomain:
		d.Domain++
	case request.DroppedExcluded:
		d.Excluded++
	default:
		return false
	}
	return true
}

// userLister is the AvePoint call the step makes.
type userLister interface {
	ListUsers(ctx context.Context, opts avepoint.ListOptions, fn func(avepoint.User) error) (avepoint.ListStats, error)
}

// Discoverer is the DiscoverUsers function's handler.
type Discoverer struct {
	API      userLister
	Store    *storage.Objects
	Prefix   string // REPORT_PREFIX
	MaxPages int    // USERS_MAX_PAGES (0 = avepoint.DefaultMaxUserPages)
	Log      *slog.Logger
	Now      func() time.Time
}

// Handle validates the input, lists the tenant's users, keeps those
// allUsers selects and writes them, lower-cased, as a JSON array to
// <prefix>/runs/<date>/<execution>/users.json. Bad input is a
// ValidationError before any AvePoint call; a selection of nobody is a
// ValidationError too, not an empty run.
func (d *Discoverer) Handle(ctx context.Context, in Input) (Output, error) {
	now := d.Now().UTC()
	if err := request.ValidateExecutionName("DiscoverUsers", in.Execution.Name); err != nil {
		return Output{}, err
	}
	b, err := request.ParseBatch(in.Input, now)
	if err != nil {
		d.Log.WarnContext(ctx, "batch input refused", "error", err.Error())
		return Output{}, err
	}
	if b.AllUsers == nil {
		err := &failure.ValidationError{Field: "allUsers", Reason: "is required: DiscoverUsers lists AvePoint's users for an allUsers input (this one names its users)"}
		d.Log.WarnContext(ctx, "batch input refused", "error", err.Error())
		return Output{}, err
	}
	filter := *b.AllUsers

	var (
		kept []string
		sum  Summary
	)
	call, cancel := withCallDeadline(ctx, CallMargin)
	defer cancel()
	stats, err := d.API.ListUsers(call, avepoint.ListOptions{MaxPages: d.MaxPages}, func(u avepoint.User) error {
		ok, why := filter.Keep(u.LoginName, u.UserStatus)
		switch {
		case ok:
			kept = append(kept, u.LoginName)
		case !sum.Dropped.count(why):
			return &failure.InternalError{Reason: "user filter gave an unknown reason"}
		}
		return nil
	})
	err = timedOut(call, ctx, err)
	sum.Listed, sum.Kept, sum.Duplicates, sum.Pages, sum.Paging = stats.Listed, len(kept), stats.Duplicates, stats.Pages, string(stats.Paging)
	if err != nil {
		d.Log.ErrorContext(ctx, "users not listed", "error", err.Error(), "pages", stats.Pages, "listed", stats.Listed)
		return Output{}, err
	}
	if len(kept) == 0 {
		err := &failure.ValidationError{Field: "allUsers", Reason: fmt.Sprintf(
			"allUsers selects no user: AvePoint listed %d (%d pages, %s), dropped %d by status, %d guests, %d by domain, %d excluded",
			sum.Listed, sum.Pages, sum.Paging, sum.Dropped.Status, sum.Dropped.Guest, sum.Dropped.Domain, sum.Dropped.Excluded)}
		d.Log.WarnContext(ctx, "no user selected", "execution", in.Execution.Name, "listed", sum.Listed, "summary", sum)
		return Output{}, err
	}
	key := request.RunPrefix(d.Prefix, in.Execution, now) + "/" + UsersFile
	if err := d.Store.PutJSON(ctx, key, kept); err != nil {
		d.Log.ErrorContext(ctx, "user list not written", "error", err.Error())
		return Output{}, err
	}
	out := Output{UsersFrom: "s3://" + d.Store.Bucket + "/" + key, Summary: sum}
	d.Log.InfoContext(ctx, "users discovered", "execution", in.Execution.Name, "usersFrom", out.UsersFrom, "summary", sum)
	return out, nil
}

// withCallDeadline bounds ctx to the invocation's deadline less margin.
// Without a deadline (tests, local runs) ctx is returned as it is.
func withCallDeadline(ctx context.Context, margin time.Duration) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline.Add(-margin))
}

// timedOut replaces err by a TransientError when the listing ran into the
// margin deadline rather than failing on its own (as the export step's).
func timedOut(call, parent context.Context, err error) error {
	if err == nil || parent.Err() != nil || !errors.Is(call.Err(), context.DeadlineExceeded) {
		return err
	}
	if up := failure.Upstream(err); up != nil {
		if _, transient := up.(*failure.TransientError); !transient {
			return err // AvePoint answered with something definite
		}
	}
	return &failure.TransientError{Reason: fmt.Sprintf("AvePoint's user listing did not end before the function's deadline (stopped %s early to report it)", CallMargin)}
}
