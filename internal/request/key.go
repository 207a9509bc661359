package request

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"
	"time"
)

// ObjectKey is where a query's report is stored. The key is derived only
// from the normalized query, so rerunning the same request replaces the
// object instead of adding a second one:
//
//	<prefix>/user=<email>/window=<start>--<finish>/events=<types>/activities.zip
//
// email is lower-cased with every character but letters, digits and
// ".-_@~" percent-encoded (a guest's "#EXT#" becomes "%23EXT%23"); start
// and finish are compact UTC (20230101T013757Z), start "earliest" when the
// request had none; types are the sorted event types joined by '+', "all"
// for no filter, or "sha256-<16 hex>" of that list when it would make the
// key longer than is comfortable (more than 200 characters).
func ObjectKey(prefix string, q Query) string {
	start := "earliest"
	if q.StartTime != "" {
		start = compactTime(q.StartTime)
	}
	return path.Join(strings.Trim(prefix, "/"),
		"user="+KeyEscape(q.Email),
		"window="+start+"--"+compactTime(q.FinishTime),
		"events="+EventsKeyPart(q.EventTypes),
		"activities.zip")
}

// UserKeyPart is the email as ObjectKey writes it (user=<this>); other
// per-user objects (high-water marks) use the same spelling.
func UserKeyPart(email string) string { return KeyEscape(strings.ToLower(email)) }

// EventsKeyPart is the event filter as ObjectKey writes it (events=<this>):
// the sorted types joined by '+', "all", or a hash of a long list.
func EventsKeyPart(eventTypes []string) string {
	if len(eventTypes) == 0 {
		return "all"
	}
	events := strings.Join(eventTypes, "+")
	if len(events) > 200 {
		sum := sha256.Sum256([]byte(events))
		events = "sha256-" + hex.EncodeToString(sum[:8])
	}
	return events
}

func compactTime(v string) string {
	t, err := time.Parse(TimeLayout, v)
	if err != nil {
		return "invalid"
	}
	return t.Format("20060102T150405Z")
}
