package request

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/insights-export/insights-export/internal/failure"
)

// Where a batch's users come from when the input does not list them.
const (
	// MaxUsersFromLen bounds a usersFrom reference (S3 keys are at most
	// 1024 bytes, bucket names 63).
	MaxUsersFromLen = 1100
	// MaxFilterEntries bounds allUsers' domains and exclude lists.
	MaxFilterEntries   = 1000
	allUsersFields     = "status, guests, domains, exclude"
	maxFilterEntryLen  = MaxEmailLen
	userStatusNotInAAD = "Not in Azure AD"
)

// UserStatuses are AvePoint's userStatus values (users/summary), as the
// filter and the discovery step spell them.
var UserStatuses = []string{"Active", "Blocked", userStatusNotInAAD}

// UserFilterRequest is allUsers as users write it: which of the users
// AvePoint lists (GET /insights/users/summary) a run exports. {} means
// every active user, guests included.
type UserFilterRequest struct {
	// Status lists userStatus values to keep (default ["Active"]).
	Status []string `json:"status,omitempty"`
	// Guests keeps #ext# accounts (default true).
	Guests *bool `json:"guests,omitempty"`
	// Domains, when given, keeps only UPNs in these domains.
	Domains []string `json:"domains,omitempty"`
	// Exclude drops these UPNs; * matches any run of characters.
	Exclude []string `json:"exclude,omitempty"`
}

// UserFilter is a validated UserFilterRequest: statuses in AvePoint's
// spelling, domains and patterns lower-cased.
type UserFilter struct {
	Status  []string `json:"status"`
	Guests  bool     `json:"guests"`
	Domains []string `json:"domains,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
}

// Why a listed user was left out (the discovery's counts).
const (
	DroppedStatus   = "status"
	DroppedGuest    = "guest"
	DroppedDomain   = "domain"
	DroppedExcluded = "excluded"
)

// Validate checks the filter and fills its defaults.
func (r UserFilterRequest) Validate() (UserFilter, error) {
	bad := func(field, reason string) error {
		return &failure.ValidationError{Field: "allUsers." + field, Reason: reason}
	}
	f := UserFilter{Status: []string{"Active"}, Guests: r.Guests == nil || *r.Guests}
	if r.Status != nil {
		if len(r.Status) == 0 {
			return UserFilter{}, bad("status", "must list at least one of Active, Blocked, Not in Azure AD (or be left out for Active)")
		}
		f.Status = nil
		for i, s := range r.Status {
			j := slices.IndexFunc(UserStatuses, func(v string) bool { return strings.EqualFold(v, strings.TrimSpace(s)) })
			if j < 0 {
				return UserFilter{}, bad(fmt.Sprintf("status[%d]", i), fmt.Sprintf("%s is not Active, Blocked or Not in Azure AD", quote(s)))
			}
			if slices.Contains(f.Status, UserStatuses[j]) {
				return UserFilter{}, bad(fmt.Sprintf("status[%d]", i), "is given twice")
			}
			f.Status = append(f.Status, UserStatuses[j])
		}
	}
	if len(r.Domains) > MaxFilterEntries {
		return UserFilter{}, bad("domains", fmt.Sprintf("has %d entries; at most %d", len(r.Domains), MaxFilterEntries))
	}
	for i, d := range r.Domains {
		d = strings.ToLower(strings.TrimPrefix(d, "@"))
		if _, err := ValidateEmail("user@" + d); err != nil {
			return UserFilter{}, bad(fmt.Sprintf("domains[%d]", i), "is not a domain such as contoso.com")
		}
		f.Domains = append(f.Domains, d)
	}
	if len(r.Exclude) > MaxFilterEntries {
		return UserFilter{}, bad("exclude", fmt.Sprintf("has %d entries; at most %d", len(r.Exclude), MaxFilterEntries))
	}
	for i, e := range r.Exclude {
		field := fmt.Sprintf("exclude[%d]", i)
		switch {
		case e == "" || strings.Trim(e, "*") == "":
			return UserFilter{}, bad(field, "must name a user or a pattern with more than *")
		case len(e) > maxFilterEntryLen:
			return UserFilter{}, bad(field, fmt.Sprintf("is %d characters; at most %d", len(e), maxFilterEntryLen))
		case strings.IndexFunc(e, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
			return UserFilter{}, bad(field, "contains a space or a control character")
		}
		if !strings.Contains(e, "*") {
			if _, err := ValidateEmail(e); err != nil {
				var ve *failure.ValidationError
				if errors.As(err, &ve) {
					ve.Field = "allUsers." + field
				}
				return UserFilter{}, err
			}
		}
		f.Exclude = append(f.Exclude, strings.ToLower(e))
	}
	return f, nil
}

// Keep decides one listed user: upn is AvePoint's loginName (lower-cased
// here), status its userStatus. A user left out comes with the reason
// (DroppedStatus, …), checked in that order.
func (f UserFilter) Keep(upn, status string) (keep bool, dropped string) {
	upn = strings.ToLower(upn)
	if !slices.ContainsFunc(f.Status, func(s string) bool { return strings.EqualFold(s, strings.TrimSpace(status)) }) {
		return false, DroppedStatus
	}
	if !f.Guests && IsGuest(upn) {
		return false, DroppedGuest
	}
	if len(f.Domains) > 0 {
		at := strings.LastIndexByte(upn, '@')
		if at < 0 || !slices.Contains(f.Domains, upn[at+1:]) {
			return false, DroppedDomain
		}
	}
	for _, p := range f.Exclude {
		if wildcard(p, upn) {
			return false, DroppedExcluded
		}
	}
	return true, ""
}

// IsGuest reports a B2B guest account: Entra ID writes the guest's own
// address into the UPN's local part followed by #ext#.
func IsGuest(upn string) bool { return strings.Contains(strings.ToLower(upn), "#ext#") }

// wildcard matches s against p, where * is any run of characters (also
// none) and every other byte stands for itself.
func wildcard(p, s string) bool {
	parts := strings.Split(p, "*")
	if len(parts) == 1 {
		return p == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}

// validateUsersFrom checks a usersFrom reference: s3://bucket/key, or a
// key under the report bucket. It is read when the run is prepared.
func validateUsersFrom(v string) error {
	bad := func(reason string) error { return &failure.ValidationError{Field: "usersFrom", Reason: reason} }
	switch {
	case len(v) > MaxUsersFromLen:
		return bad(fmt.Sprintf("is %d characters; at most %d", len(v), MaxUsersFromLen))
	case strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) >= 0:
		return bad("contains a control character or invalid UTF-8")
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(v, "s3://"), "/")
	if !strings.HasPrefix(v, "s3://") {
		bucket, key, ok = "", v, true
	}
	switch {
	case !ok || key == "" || strings.HasSuffix(key, "/"):
		return bad("must be s3://bucket/key or a key in the report bucket, naming an object")
	case strings.HasPrefix(key, "/"):
		return bad("key must not start with /")
	case strings.HasPrefix(v, "s3://") && !validBucketName(bucket):
		return bad(fmt.Sprintf("%s is not an S3 bucket name", quote(bucket)))
	}
	return nil
}

// UsersFromObject resolves a validated usersFrom: its bucket (the report
// bucket for a bare key) and key.
func UsersFromObject(usersFrom, reportBucket string) (bucket, key string) {
	if rest, ok := strings.CutPrefix(usersFrom, "s3://"); ok {
		bucket, key, _ = strings.Cut(rest, "/")
		return bucket, key
	}
	return reportBucket, usersFrom
}

// validBucketName applies S3's general-purpose bucket naming rules.
func validBucketName(b string) bool {
	if len(b) < 3 || len(b) > 63 || b[0] == '-' || b[0] == '.' || b[len(b)-1] == '-' || b[len(b)-1] == '.' || strings.Contains(b, "..") {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
