package convert

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/dataset"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
)

// Backfill converts reports already stored — before the convert step
// existed, or whose conversion failed — by walking the report prefix. The
// backfill state machine calls it in a loop, passing its output back as
// its input, until Done: each call converts reports in key order until
// its time is nearly up, so any number of reports fits, and a call that
// dies is retried from the last key it finished (conversion is
// idempotent: a report converted twice has the same files).
type Backfill struct {
	// Prefix selects the reports: a key prefix under REPORT_PREFIX
	// (default: every report, "<REPORT_PREFIX>/user=").
	Prefix string `json:"prefix,omitempty"`
	// StartAfter is the last key handled by an earlier call.
	StartAfter string `json:"startAfter,omitempty"`
	// Progress, cumulative over the calls.
	Converted int64 `json:"converted"`
	Failed    int64 `json:"failed"`
	Skipped   int64 `json:"skipped"`
	Rows      int64 `json:"rows"`
	// Failures lists the latest reports that could not be converted
	// (at most maxFailures), by report id and error.
	Failures []BackfillFailure `json:"failures,omitempty"`
	Done     bool              `json:"done"`
}

// BackfillFailure is one report the backfill could not convert.
type BackfillFailure struct {
	Report string `json:"report"`
	Error  string `json:"error"`
}

const (
	maxFailures = 50
	// backfillReserve is the time a call keeps for the report it is on
	// when it decides to start no new one.
	backfillReserve = 5 * time.Minute
	listPage        = 200
)

type reportLister interface {
	List(ctx context.Context, prefix, startAfter string, max int32) (storage.Listing, error)
	Head(ctx context.Context, key string) (storage.ObjectInfo, error)
}

// Backfiller is the BackfillReports function's handler.
type Backfiller struct {
	Converter *Converter
	Reports   reportLister
}

// Handle converts the next reports after in.StartAfter.
func (b *Backfiller) Handle(ctx context.Context, in Backfill) (Backfill, error) {
	c := b.Converter
	root := path.Join(strings.Trim(c.Prefix, "/"), "user=")
	if in.Prefix == "" {
		in.Prefix = root
	}
	if !strings.HasPrefix(in.Prefix, root) || strings.Contains(in.Prefix, "..") {
		return Backfill{}, &failure.ValidationError{Field: "prefix", Reason: "must be a key prefix of the reports (" + root + "…)"}
	}
	if in.StartAfter != "" && !strings.HasPrefix(in.StartAfter, in.Prefix) {
		return Backfill{}, &failure.ValidationError{Field: "startAfter", Reason: "is not a key under prefix"}
	}
	deadline, hasDeadline := ctx.Deadline()
	for {
		page, err := b.Reports.List(ctx, in.Prefix, in.StartAfter, listPage)
		if err != nil {
			return Backfill{}, err
		}
		for _, key := range page.Keys {
			if hasDeadline && time.Until(deadline) < backfillReserve {
				return in, nil // the state machine calls again from here
			}
			if err := b.one(ctx, key, &in); err != nil {
				return Backfill{}, err
			}
			in.StartAfter = key
		}
		if !page.More {
			in.Done = true
			c.Log.InfoContext(ctx, "backfill done", "converted", in.Converted, "failed", in.Failed, "skipped", in.Skipped, "rows", in.Rows)
			return in, nil
		}
	}
}

// one converts one key: a conversion failure is counted and the walk goes
// on; anything else (S3 unavailable) ends the call for the state machine
// to retry.
func (b *Backfiller) one(ctx context.Context, key string, st *Backfill) error {
	if path.Base(key) != "activities.zip" {
		st.Skipped++
		return nil
	}
	info, err := b.Reports.Head(ctx, key)
	if err != nil {
		return err
	}
	in := request.ExportOutput{
		Bucket: b.Converter.Bucket, Key: key, Bytes: info.Size,
		Email:     info.Metadata["email"],
		JobID:     info.Metadata["job-id"],
		StoredAt:  info.LastModified.UTC().Format(time.RFC3339),
		StartTime: info.Metadata["start-time"], FinishTime: info.Metadata["finish-time"],
	}
	if in.Email == "" {
		in.Email = keyUser(key) // a report stored without metadata
	}
	out, err := b.Converter.Handle(ctx, in)
	var ce *failure.ConversionError
	var ve *failure.ValidationError
	switch {
	case err == nil:
		st.Converted++
		st.Rows += out.Dataset.Rows
	case errors.As(err, &ce), errors.As(err, &ve):
		st.Failed++
		st.Failures = append(st.Failures, BackfillFailure{Report: dataset.ReportID(key), Error: bounded(err.Error(), 300)})
		if len(st.Failures) > maxFailures {
			st.Failures = st.Failures[len(st.Failures)-maxFailures:]
		}
	default:
		return fmt.Errorf("backfill: %w", err)
	}
	return nil
}

func bounded(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// keyUser reads the address back from a report key's user= segment.
func keyUser(key string) string {
	for _, seg := range strings.Split(key, "/") {
		if enc, ok := strings.CutPrefix(seg, "user="); ok {
			if email, err := url.PathUnescape(enc); err == nil {
				return email
			}
		}
	}
	return ""
}
