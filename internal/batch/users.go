package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/userlist"
)

// Where a run's users come from (Source.Kind).
const (
	SourceEmails    = "emails"    // email or emails in the input
	SourceUsersFrom = "usersFrom" // a list in S3 the input names
	SourceAllUsers  = "allUsers"  // the list the discovery step wrote
)

// Discovered is what the batch state machine's discovery step hands
// PrepareBatch when the input asked for allUsers: the list it wrote (a
// JSON array of user principal names) and its account of how it chose
// them, which the run records as it is.
type Discovered struct {
	UsersFrom string          `json:"usersFrom"`
	Summary   json.RawMessage `json:"summary,omitempty"`
}

// Source is how a run obtained its users, in plan.json and manifest.json.
type Source struct {
	Kind string `json:"kind"`
	// Object is the list read (usersFrom, allUsers): s3://bucket/key,
	// with the version and ETag read, so that a list rewritten since can
	// be told apart.
	Object    string `json:"object,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	ETag      string `json:"etag,omitempty"`
	// Format is the list's: json, csv or lines.
	Format string `json:"format,omitempty"`
	Users  int    `json:"users"`
	// Discovery is the discovery step's summary (allUsers).
	Discovery json.RawMessage `json:"discovery,omitempty"`
}

// listRef is a list to read and the field that names it in errors.
type listRef struct {
	field, bucket, key string
}

// runUsers returns the run's users in order and where they came from:
// the input's emails, or the list usersFrom (or the discovery step) names,
// read and validated whole before anything else happens, so a bad list
// costs no mark read and writes nothing.
func (p *Preparer) runUsers(ctx context.Context, b request.Batch, disc *Discovered, now time.Time) ([]string, Source, error) {
	if disc != nil && b.AllUsers == nil {
		return nil, Source{}, &failure.ValidationError{Field: "discovered", Reason: "is the discovery step's list, which only an allUsers input has"}
	}
	var ref listRef
	src := Source{Kind: SourceEmails}
	switch {
	case b.UsersFrom != "":
		bucket, key := request.UsersFromObject(b.UsersFrom, p.Store.Bucket)
		ref, src.Kind = listRef{"usersFrom", bucket, key}, SourceUsersFrom
	case b.AllUsers != nil:
		if disc == nil || disc.UsersFrom == "" {
			return nil, Source{}, &failure.ValidationError{Field: "discovered",
				Reason: "is required for allUsers: the state machine's discovery step lists the users before PrepareBatch (is this state machine older than the function?)"}
		}
		if err := validListRef(disc.UsersFrom, now); err != nil {
			return nil, Source{}, err
		}
		if len(disc.Summary) > 0 && !json.Valid(disc.Summary) {
			return nil, Source{}, &failure.ValidationError{Field: "discovered.summary", Reason: "is not JSON"}
		}
		bucket, key := request.UsersFromObject(disc.UsersFrom, p.Store.Bucket)
		ref, src.Kind, src.Discovery = listRef{"discovered.usersFrom", bucket, key}, SourceAllUsers, disc.Summary
	default:
		users := b.Users()
		src.Users = len(users)
		return users, src, nil
	}
	users, err := p.readList(ctx, ref, &src)
	if err != nil {
		return nil, Source{}, err
	}
	src.Users = len(users)
	return users, src, nil
}

// validListRef checks the discovery step's usersFrom by the input's own
// rules for usersFrom (request validates it only as part of an input).
func validListRef(v string, now time.Time) error {
	_, err := request.BatchRequest{UsersFrom: v}.Validate(now)
	var ve *failure.ValidationError
	if errors.As(err, &ve) {
		ve.Field = "discovered." + ve.Field
	}
	return err
}

// readList reads and validates the list ref names. A list that cannot be
// read for a reason the user must fix (no such object or bucket, access
// denied, a KMS key it may not use) is a ValidationError naming the field;
// S3 failing is a StorageError, which the state machine retries.
func (p *Preparer) readList(ctx context.Context, ref listRef, src *Source) ([]string, error) {
	src.Object = "s3://" + ref.bucket + "/" + ref.key
	obj, err := p.Store.Open(ctx, ref.bucket, ref.key)
	if err != nil {
		if storage.Unreadable(err) {
			return nil, &failure.ValidationError{Field: ref.field, Reason: "cannot be read: there is no such object, or PrepareBatch may not read it " +
				"(a list outside the report bucket needs a bucket policy that lets PrepareBatch's role get it; see the README's Lists from S3)"}
		}
		return nil, listStorageError(err, ref.key)
	}
	defer obj.Body.Close()
	src.VersionID, src.ETag = obj.VersionID, strings.Trim(obj.ETag, `"`)
	if obj.Size > userlist.MaxBytes {
		return nil, &failure.ValidationError{Field: ref.field, Reason: fmt.Sprintf("is %d bytes; a list is at most %d MiB", obj.Size, userlist.MaxBytes>>20)}
	}
	r := userlist.NewReader(obj.Body)
	r.Field = ref.field
	users, err := userlist.ReadAll(r)
	src.Format = string(r.Format())
	if err != nil {
		var ve *failure.ValidationError
		if errors.As(err, &ve) {
			return nil, ve
		}
		return nil, listStorageError(err, ref.key)
	}
	return users, nil
}

// listStorageError keeps a list's key out of an error when it holds an
// address (a list kept per person, say): the key becomes "(usersFrom)".
func listStorageError(err error, key string) error {
	var se *failure.StorageError
	if !errors.As(err, &se) {
		return &failure.StorageError{Op: failure.OpGet, Reason: "reading the user list: " + err.Error(), Err: err}
	}
	if strings.Contains(key, "@") {
		se.Key = "(usersFrom)"
		se.Reason = request.Redact(se.Reason, key, "(usersFrom)")
		for _, seg := range strings.Split(key, "/") {
			if strings.Contains(seg, "@") {
				se.Reason = request.Redact(se.Reason, seg, "(usersFrom)")
			}
		}
	}
	return se
}
