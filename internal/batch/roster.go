package batch

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
)

// roster is WriteManifest's account of the run's users, in the run's
// order: what PrepareBatch decided (users.json) and, as the Map's results
// arrive, what each result says, with the result itself spooled.
type roster struct {
	users []rosterUser
	index map[string]int32
}

type rosterUser struct {
	email    string
	mark     string // the mark when the run was prepared
	upToDate bool
	// From the user's result (status "" while there is none).
	status        string
	withException bool
	watermark     string // the mark that stands after the run
	bytes, rows   int64  // the stored report's (succeeded)
	off           int64  // the encoded result in the spool
	n             int32
}

// roster reads the run's users: users.json as a stream, or for a plan
// written before it, the request's users with the plan's up-to-date users
// and marks.
func (m *ManifestWriter) roster(ctx context.Context, bucket string, plan Plan) (*roster, error) {
	ro := &roster{index: map[string]int32{}}
	add := func(u PlannedUser) {
		if _, dup := ro.index[u.Email]; dup || u.Email == "" {
			return // PrepareBatch never writes one twice; keep the first
		}
		ro.index[u.Email] = int32(len(ro.users))
		ru := rosterUser{email: u.Email, mark: u.Mark, upToDate: u.UpToDate}
		if u.UpToDate {
			ru.status, ru.watermark = request.StatusUpToDate, u.Mark
		}
		ro.users = append(ro.users, ru)
	}
	if plan.UsersKey == "" {
		upToDate := make(map[string]string, len(plan.UpToDate))
		for _, u := range plan.UpToDate {
			upToDate[u.Email] = u.Watermark
		}
		for _, u := range plan.Request.Users() {
			if w, ok := upToDate[u]; ok {
				add(PlannedUser{Email: u, Mark: w, UpToDate: true})
			} else {
				add(PlannedUser{Email: u, Mark: plan.Marks[u]})
			}
		}
		return ro, nil
	}
	if plan.Users > 0 {
		ro.users = make([]rosterUser, 0, plan.Users)
	}
	obj, err := m.Store.Open(ctx, bucket, plan.UsersKey)
	if storage.IsNotFound(err) {
		return nil, &failure.ValidationError{Field: "planKey", Reason: "users.json, which plan.json names, is missing"}
	}
	if err != nil {
		return nil, err
	}
	defer obj.Body.Close()
	err = eachElement(obj.Body, func(u PlannedUser) error { add(u); return nil })
	var pe *protocolSyntax
	if errors.As(err, &pe) {
		return nil, &failure.ProtocolError{Reason: "users.json is not PrepareBatch's list of users: " + pe.err.Error()}
	}
	return ro, err
}

// collectChunk is how many results are advanced together: their marks
// go up markWriters at a time, then they are spooled in order.
const collectChunk = 1024

// collect reads every result of the Map, advances the marks of the
// stored reports (incremental runs) and spools each result of a user of
// the run. A user's last result wins; an up-to-date user keeps that.
func (m *ManifestWriter) collect(ctx context.Context, in ManifestInput, plan Plan, ro *roster, sp *spool) (mapRun string, err error) {
	type pending struct {
		i    int32
		r    request.Result
		rows int64
	}
	chunk := make([]pending, 0, collectChunk)
	flush := func() error {
		if plan.Request.Incremental() {
			rs := make([]*request.Result, len(chunk))
			for k := range chunk {
				rs[k] = &chunk[k].r
			}
			if err := m.advance(ctx, plan, rs); err != nil {
				m.Log.ErrorContext(ctx, "high-water marks not advanced", "error", err.Error())
				return err
			}
		}
		for _, p := range chunk {
			off, n, err := sp.add(p.r)
			if err != nil {
				return err
			}
			u := &ro.users[p.i]
			u.status, u.withException, u.watermark, u.off, u.n = p.r.Status, p.r.WithException, p.r.Watermark, off, n
			u.bytes, u.rows = 0, 0
			if p.r.Status == request.StatusSucceeded {
				u.bytes, u.rows = p.r.Bytes, p.rows
			}
		}
		chunk = chunk[:0]
		return nil
	}
	mapRun, err = m.eachResult(ctx, in, func(r request.Result, rows int64) error {
		i, ok := ro.index[r.Email]
		if !ok || ro.users[i].upToDate {
			return nil // not a user of the run to export
		}
		chunk = append(chunk, pending{i, r, rows})
		if len(chunk) == collectChunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = sp.finish()
	}
	return mapRun, err
}

// missingResult is the result of a user the Map returned nothing for.
func missingResult(email string) request.Result {
	return request.Result{Email: email, Status: request.StatusFailed, Error: "MissingResult", Message: "the map run returned no result for this user"}
}

// result is user i's result as JSON, and its status: the spooled one,
// the up-to-date one, or MissingResult.
func (ro *roster) result(i int, sp *spool) ([]byte, string, error) {
	u := ro.users[i]
	var r request.Result
	switch {
	case u.upToDate:
		r = request.Result{Email: u.email, Status: request.StatusUpToDate, Watermark: u.mark}
	case u.status == "":
		r = missingResult(u.email)
	default:
		b, err := sp.read(u.off, u.n)
		return b, u.status, err
	}
	b, err := json.Marshal(r)
	return b, r.Status, err
}

// counts counts the run's users by their results; a user without one
// failed (MissingResult).
func (ro *roster) counts() request.Counts {
	c := request.Counts{Users: len(ro.users)}
	for _, u := range ro.users {
		switch u.status {
		case request.StatusSucceeded:
			c.Succeeded++
			if u.withException {
				c.WithException++
			}
		case request.StatusUpToDate:
			c.UpToDate++
		default:
			c.Failed++
		}
	}
	return c
}

// oldestMark is the oldest high-water mark among the run's users after
// the marks advanced: a result's watermark where the run has one (the
// mark advanced, or the user was up to date), else the mark the user had
// when the run was prepared (its export failed, or its report was flagged
// and the mark stayed). ok is false when no user has a mark.
func (ro *roster) oldestMark() (oldest time.Time, ok bool) {
	for _, u := range ro.users {
		finish := u.watermark
		if finish == "" {
			finish = u.mark
		}
		t := Mark{FinishTime: finish}.Time()
		if t.IsZero() {
			continue
		}
		if !ok || t.Before(oldest) {
			oldest, ok = t, true
		}
	}
	return oldest, ok
}

// spool keeps the encoded results of a run in a local file (Lambda's
// /tmp): 100,000 of them are ~80 MB, which need not be in memory while
// the manifest is written in the run's order.
type spool struct {
	f   *os.File
	w   *bufio.Writer
	end int64
}

// spoolPattern names spool files. A WriteManifest that timed out never
// removed its own, and Lambda keeps /tmp for the next invocation in the
// same environment: newSpool removes those older than any invocation.
const (
	spoolPattern = "insights-export-results-*.jsonl"
	spoolMaxAge  = 20 * time.Minute // WriteManifest's timeout is 15
)

func newSpool() (*spool, error) {
	dir := os.TempDir()
	if old, err := filepath.Glob(filepath.Join(dir, strings.ReplaceAll(spoolPattern, "*", "?*"))); err == nil {
		for _, f := range old {
			if st, err := os.Stat(f); err == nil && time.Since(st.ModTime()) > spoolMaxAge {
				_ = os.Remove(f)
			}
		}
	}
	f, err := os.CreateTemp(dir, spoolPattern)
	if err != nil {
		return nil, fmt.Errorf("batch: the result spool: %w", err)
	}
	return &spool{f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

// add appends r; read reads it back once add is done (finish).
func (s *spool) add(r request.Result) (off int64, n int32, err error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, 0, err
	}
	if _, err := s.w.Write(append(b, '\n')); err != nil {
		return 0, 0, fmt.Errorf("batch: the result spool: %w", err)
	}
	off = s.end
	s.end += int64(len(b)) + 1
	return off, int32(len(b)), nil
}

// finish writes out what add buffered.
func (s *spool) finish() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("batch: the result spool: %w", err)
	}
	return nil
}

func (s *spool) read(off int64, n int32) ([]byte, error) {
	b := make([]byte, n)
	if _, err := s.f.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("batch: the result spool: %w", err)
	}
	return b, nil
}

func (s *spool) remove() {
	_ = s.f.Close()
	_ = os.Remove(s.f.Name())
}
