package request

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/schedule"
)

// Limits of a batch input. The byte limit is Step Functions' own for an
// execution input (256 KiB), so anything that passes here can be started;
// MaxBatchUsers keeps one run's manifest and result files reasonable.
const (
	MaxBatchInputBytes  = 256 << 10
	MaxBatchUsers       = 5000
	MaxOverlapMinutes   = 7 * 24 * 60
	MaxLookbackPeriods  = 366
	batchFields         = "email, emails, usersFrom, allUsers, startTime, finishTime, eventTypes, window"
	windowFields        = "period, timeZone, overlapMinutes, incremental, lookbackPeriods, at"
	defaultWindowZone   = "UTC"
	defaultLookbackRuns = 1
)

// BatchRequest is the batch state machine's execution input as users write
// it (and the HTTP API's request body): one user as "email", many as
// "emails", a list in S3 as "usersFrom", or every user AvePoint lists as
// "allUsers" (with filters); and either a fixed window
// (startTime/finishTime, as for one user) or a rolling "window" computed
// from the run's time.
type BatchRequest struct {
	Email      string          `json:"email,omitempty"`
	Emails     []string        `json:"emails,omitempty"`
	UsersFrom  string          `json:"usersFrom,omitempty"`
	AllUsers   json.RawMessage `json:"allUsers,omitempty"`
	StartTime  string          `json:"startTime,omitempty"`
	FinishTime string          `json:"finishTime,omitempty"`
	EventTypes []string        `json:"eventTypes,omitempty"`
	Window     json.RawMessage `json:"window,omitempty"`
	StartedBy  string          `json:"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID,omitempty"`
	// PinnedNow: see Request.PinnedNow.
	PinnedNow *bool `json:"pinnedNow,omitempty"`
}

// WindowRequest asks for a window aligned to whole periods of a time zone
// instead of fixed times: what schedules send.
type WindowRequest struct {
	// Period: hour, day, week (Monday to Monday) or month.
	Period string `json:"period"`
	// TimeZone is an IANA name (Europe/Berlin); default UTC.
	TimeZone string `json:"timeZone,omitempty"`
	// OverlapMinutes re-reads this margin before the window for
	// late-arriving activity.
	OverlapMinutes int `json:"overlapMinutes,omitempty"`
	// Incremental continues each user from their high-water mark (the end
	// of their last stored report) instead of exporting the last period.
	Incremental bool `json:"incremental,omitempty"`
	// LookbackPeriods is how many whole periods an incremental user's
	// first run exports (default 1).
	LookbackPeriods int `json:"lookbackPeriods,omitempty"`
	// At is the run's reference time, RFC 3339 (schedules pass
	// <aws.scheduler.scheduled-time>); default: now.
	At string `json:"at,omitempty"`
}

// Batch is a validated, normalized batch input. Marshalled, it is a valid
// input again that means the same thing: the window's reference time and
// a fixed window's finish are pinned, emails lower-cased.
type Batch struct {
	// Email is set when the input named one user as "email".
	Email  string   `json:"email,omitempty"`
	Emails []string `json:"emails,omitempty"`
	// UsersFrom is the user list's object (s3://bucket/key, or a key in
	// the report bucket); PrepareBatch reads it (UsersFromObject).
	UsersFrom string `json:"usersFrom,omitempty"`
	// AllUsers selects among the users AvePoint lists; the discovery step
	// writes the selection as a user list the run then reads.
	AllUsers   *UserFilter `json:"allUsers,omitempty"`
	StartTime  string      `json:"startTime,omitempty"`
	FinishTime string      `json:"finishTime,omitempty"`
	EventTypes []string    `json:"eventTypes,omitempty"`
	Window     *Rolling    `json:"window,omitempty"`
}

// Rolling is a validated WindowRequest: a window rolling with the run's
// reference time.
type Rolling struct {
	Period          schedule.Period `json:"period"`
	TimeZone        string          `json:"timeZone"`
	OverlapMinutes  int             `json:"overlapMinutes,omitempty"`
	Incremental     bool            `json:"incremental,omitempty"`
	LookbackPeriods int             `json:"lookbackPeriods,omitempty"`
	At              string          `json:"at"`
}

// ParseBatch decodes and validates a batch input as strictly as
// ParseRequest does a single one: every refusal is a ValidationError that
// names the field (emails[3], window.timeZone, …).
func ParseBatch(raw []byte, now time.Time) (Batch, error) {
	if len(raw) > MaxBatchInputBytes {
		return Batch{}, &failure.ValidationError{Reason: fmt.Sprintf("input is %d bytes; at most %d", len(raw), MaxBatchInputBytes)}
	}
	var req BatchRequest
	if err := decodeStrict(raw, &req, batchFields); err != nil {
		return Batch{}, err
	}
	return req.Validate(now)
}

func decodeStrict(raw []byte, into any, allowed string) error {
	if err := checkDuplicateKeys(raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return decodeError(err, allowed)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &failure.ValidationError{Reason: "input must be one JSON object with nothing after it"}
	}
	return nil
}

// Validate checks a batch request and normalizes it.
func (r BatchRequest) Validate(now time.Time) (Batch, error) {
	var b Batch
	sources := 0
	for _, given := range []bool{r.Email != "", r.Emails != nil, r.UsersFrom != "", len(r.AllUsers) > 0 && string(r.AllUsers) != "null"} {
		if given {
			sources++
		}
	}
	switch {
	case sources > 1:
		return Batch{}, &failure.ValidationError{Field: "emails", Reason: "give one of email (one user), emails (a list), usersFrom (a list in S3) or allUsers (every user AvePoint lists)"}
	case r.Email != "":
		email, err := ValidateEmail(r.Email)
		if err != nil {
			return Batch{}, err
		}
		b.Email = email
	case r.UsersFrom != "":
		if err := validateUsersFrom(r.UsersFrom); err != nil {
			return Batch{}, err
		}
		b.UsersFrom = r.UsersFrom
	case sources == 1 && r.Emails == nil:
		var fr UserFilterRequest
		if err := decodeStrict(r.AllUsers, &fr, allUsersFields); err != nil {
			var ve *failure.ValidationError
			if errors.As(err, &ve) {
				ve.Field = strings.TrimSuffix("allUsers."+ve.Field, ".")
			}
			return Batch{}, err
		}
		f, err := fr.Validate()
		if err != nil {
			return Batch{}, err
		}
		b.AllUsers = &f
	case r.Emails == nil:
		return Batch{}, &failure.ValidationError{Field: "emails", Reason: "is required (or email for one user, usersFrom for a list in S3, allUsers for every user AvePoint lists)"}
	default:
		emails, err := validateEmails(r.Emails)
		if err != nil {
			return Batch{}, err
		}
		b.Emails = emails
	}
	// A window is checked with a stand-in user when the users are not in
	// the input (they are read or listed when the run is prepared).
	first := "window.check@example.com"
	if users := b.Users(); len(users) > 0 {
		first = users[0]
	}

	if len(r.Window) == 0 || string(r.Window) == "null" {
		// A fixed window, validated exactly as a single user's.
		q, err := Request{Email: first, StartTime: r.StartTime, FinishTime: r.FinishTime, EventTypes: r.EventTypes}.Validate(now)
		if err != nil {
			return Batch{}, err
		}
		b.StartTime, b.FinishTime, b.EventTypes = q.StartTime, q.FinishTime, q.EventTypes
		return b, nil
	}
	if r.StartTime != "" || r.FinishTime != "" {
		return Batch{}, &failure.ValidationError{Field: "window", Reason: "cannot be combined with startTime or finishTime"}
	}
	var err error
	if b.EventTypes, err = validateEventTypes(r.EventTypes); err != nil {
		return Batch{}, err
	}
	var wr WindowRequest
	if err := decodeStrict(r.Window, &wr, windowFields); err != nil {
		var ve *failure.ValidationError
		if errors.As(err, &ve) {
			ve.Field = strings.TrimSuffix("window."+ve.Field, ".")
		}
		return Batch{}, err
	}
	w, err := wr.Validate(now)
	if err != nil {
		return Batch{}, err
	}
	b.Window = &w
	if !w.Incremental {
		// Resolve once so a window that cannot be exported (too early)
		// is refused now, not per user later.
		start, finish := b.Fixed()
		if _, err := (Request{Email: first, StartTime: start, FinishTime: finish}).Validate(now); err != nil {
			var ve *failure.ValidationError
			if errors.As(err, &ve) {
				ve.Field = "window"
			}
			return Batch{}, err
		}
	}
	return b, nil
}

func validateEmails(in []string) ([]string, error) {
	switch {
	case len(in) == 0:
		return nil, &failure.ValidationError{Field: "emails", Reason: "must list at least one user"}
	case len(in) > MaxBatchUsers:
		return nil, &failure.ValidationError{Field: "emails", Reason: fmt.Sprintf("has %d entries; at most %d", len(in), MaxBatchUsers)}
	}
	out := make([]string, len(in))
	seen := make(map[string]int, len(in))
	for i, e := range in {
		field := fmt.Sprintf("emails[%d]", i)
		email, err := ValidateEmail(e)
		if err != nil {
			var ve *failure.ValidationError
			if errors.As(err, &ve) {
				ve.Field = field
			}
			return nil, err
		}
		if j, dup := seen[email]; dup {
			return nil, &failure.ValidationError{Field: field, Reason: fmt.Sprintf("repeats emails[%d] (user principal names are case-insensitive)", j)}
		}
		seen[email] = i
		out[i] = email
	}
	return out, nil
}

// Validate checks a window request and pins its reference time.
func (r WindowRequest) Validate(now time.Time) (Rolling, error) {
	bad := func(field, reason string) error {
		return &failure.ValidationError{Field: "window." + field, Reason: reason}
	}
	if r.Period == "" {
		return Rolling{}, bad("period", "is required (hour, day, week or month)")
	}
	p, err := schedule.ParsePeriod(r.Period)
	if err != nil {
		return Rolling{}, bad("period", fmt.Sprintf("%s is not hour, day, week or month", quote(r.Period)))
	}
	w := Rolling{Period: p, TimeZone: cmp.Or(r.TimeZone, defaultWindowZone), OverlapMinutes: r.OverlapMinutes, Incremental: r.Incremental}
	if _, err := loadZone(w.TimeZone); err != nil {
		return Rolling{}, bad("timeZone", fmt.Sprintf("%s is not an IANA time zone name such as Europe/Berlin", quote(w.TimeZone)))
	}
	if r.OverlapMinutes < 0 || r.OverlapMinutes > MaxOverlapMinutes {
		return Rolling{}, bad("overlapMinutes", fmt.Sprintf("must be 0 to %d", MaxOverlapMinutes))
	}
	switch {
	case r.LookbackPeriods != 0 && !r.Incremental:
		return Rolling{}, bad("lookbackPeriods", "applies to incremental windows only")
	case r.LookbackPeriods < 0 || r.LookbackPeriods > MaxLookbackPeriods:
		return Rolling{}, bad("lookbackPeriods", fmt.Sprintf("must be 1 to %d", MaxLookbackPeriods))
	case r.Incremental:
		w.LookbackPeriods = r.LookbackPeriods
		if w.LookbackPeriods == 0 {
			w.LookbackPeriods = defaultLookbackRuns
		}
	}
	at := now.UTC().Truncate(time.Second)
	if r.At != "" {
		if at, err = time.Parse(time.RFC3339, r.At); err != nil {
			return Rolling{}, bad("at", fmt.Sprintf("%s is not an RFC 3339 time such as 2026-11-25T00:15:00Z", quote(r.At)))
		}
		if at.After(now.Add(clockSkew)) {
			return Rolling{}, bad("at", "is in the future")
		}
	}
	w.At = at.UTC().Format(time.RFC3339)
	return w, nil
}

// loadZone refuses "Local", which names the machine's zone rather than a
// place, and anything time.LoadLocation does not know.
func loadZone(name string) (*time.Location, error) {
	if name == "Local" || name == "" {
		return nil, errors.New("not a zone name")
	}
	return time.LoadLocation(name)
}

// Spec returns the window's schedule rule and reference time.
func (w Rolling) Spec() (schedule.Spec, time.Time) {
	loc, err := loadZone(w.TimeZone)
	if err != nil {
		loc = time.UTC // unreachable for a validated Rolling
	}
	at, _ := time.Parse(time.RFC3339, w.At)
	return schedule.Spec{Period: w.Period, Location: loc, Overlap: time.Duration(w.OverlapMinutes) * time.Minute}, at
}

// Users lists the batch's users in input order: none for usersFrom and
// allUsers, whose users are read when the run is prepared.
func (b Batch) Users() []string {
	if b.Email != "" {
		return []string{b.Email}
	}
	return b.Emails
}

// Incremental reports whether each user's window comes from their mark.
func (b Batch) Incremental() bool { return b.Window != nil && b.Window.Incremental }

// Fixed returns the window every user shares (startTime may be empty:
// from the earliest activity). It is meaningless for an incremental batch.
func (b Batch) Fixed() (startTime, finishTime string) {
	if b.Window == nil {
		return b.StartTime, b.FinishTime
	}
	spec, at := b.Window.Spec()
	w := spec.Last(at)
	return FormatTime(w.Start), FormatTime(w.Finish)
}

// Single returns the query of a batch that is really one plain export:
// one user given as "email", fixed times. The HTTP API starts the export
// state machine directly for those.
func (b Batch) Single() (Query, bool) {
	if b.Email == "" || b.Window != nil {
		return Query{}, false
	}
	return Query{Email: b.Email, StartTime: b.StartTime, FinishTime: b.FinishTime, EventTypes: b.EventTypes}, true
}
