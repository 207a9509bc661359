package request

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"
	"time"
)

// MaxKeyBytes is S3's limit on the length of an object key (UTF-8 bytes).
const MaxKeyBytes = 1024

// MaxPrefixBytes bounds the key prefix (REPORT_PREFIX, STATE_PREFIX) under
// which FitKey can still make every key fit: the rest of the longest
// report key, with both the user and the event filter hashed, is under
// 130 bytes.
const MaxPrefixBytes = 512

// maxEventsPart is the longest event filter ObjectKey spells out; a longer
// one is hashed.
const maxEventsPart = 200

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
// key longer than is comfortable (more than 200 characters). A key that
// would still be longer than S3 allows is shortened by FitKey.
//
// Different queries get different keys: no event type can be spelled
// "all" (validateEventTypes refuses it) or contain the '-' of a hash, and
// no address lacks the '@' a hashed user part lacks.
func ObjectKey(prefix string, q Query) string {
	start := "earliest"
	if q.StartTime != "" {
		start = compactTime(q.StartTime)
	}
	prefix = strings.Trim(prefix, "/")
	window := "window=" + start + "--" + compactTime(q.FinishTime)
	return FitKey(q.Email, q.EventTypes, func(user, events string) string {
		return path.Join(prefix, "user="+user, window, "events="+events, "activities.zip")
	})
}

// FitKey returns build(user, events) with the user and event filter as
// UserKeyPart and EventsKeyPart spell them, unless that key is longer than
// MaxKeyBytes: then the event filter is hashed, and if that is not enough
// the user too ("sha256-<16 hex>" of the lower-cased address). Keys that
// fit are never changed, so objects stored before this rule keep their
// keys; a key that does not fit could never have been stored. With a
// prefix of at most MaxPrefixBytes every key fits.
func FitKey(email string, eventTypes []string, build func(user, events string) string) string {
	user, events := UserKeyPart(email), EventsKeyPart(eventTypes)
	key := build(user, events)
	if len(key) <= MaxKeyBytes {
		return key
	}
	if len(eventTypes) > 0 {
		events = EventsDigest(eventTypes)
		if key = build(user, events); len(key) <= MaxKeyBytes {
			return key
		}
	}
	return build(userHash(email), events)
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
	if len(events) > maxEventsPart {
		return EventsDigest(eventTypes)
	}
	return events
}

// EventsDigest is the hashed spelling of an event filter, as a key names a
// long one: "sha256-" and the first 16 hex digits of the hash of the
// '+'-joined types. Object metadata uses it for a list too long to write
// out.
func EventsDigest(eventTypes []string) string {
	sum := sha256.Sum256([]byte(strings.Join(eventTypes, "+")))
	return "sha256-" + hex.EncodeToString(sum[:8])
}

// userHash is the hashed spelling of an address, for the rare one too long
// to be spelled out in a key.
func userHash(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	return "sha256-" + hex.EncodeToString(sum[:8])
}

func compactTime(v string) string {
	t, err := time.Parse(TimeLayout, v)
	if err != nil {
		return "invalid"
	}
	return t.Format("20060102T150405Z")
}
