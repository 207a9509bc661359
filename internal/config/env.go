package config

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
)

// Env reads a function's environment. Each getter returns the variable's
// value (or the default when it is unset) and remembers the first
// variable that was unusable, so a loader reads all of its settings in a
// row and checks Err once.
//
// A hand-written reader rather than a struct-tag library: the functions
// read about a dozen variables, each needs its own range and message
// (named by failure.ConfigError), and a few checks span two variables
// (POLL_MIN_SECONDS ≤ POLL_MAX_SECONDS), which tags cannot say.
type Env struct {
	getenv func(string) string
	err    error
}

// NewEnv reads through getenv (os.Getenv in main, a map in tests).
func NewEnv(getenv func(string) string) *Env { return &Env{getenv: getenv} }

// Err is the first problem found, a *failure.ConfigError, or nil.
func (e *Env) Err() error { return e.err }

// Fail records a problem found by the caller (a check across variables).
func (e *Env) Fail(name, reason string) {
	if e.err == nil {
		e.err = &failure.ConfigError{Variable: name, Reason: reason}
	}
}

// Raw returns the variable exactly as set.
func (e *Env) Raw(name string) string { return e.getenv(name) }

// String returns the trimmed value, or def when it is unset or blank.
func (e *Env) String(name, def string) string {
	if v := strings.TrimSpace(e.getenv(name)); v != "" {
		return v
	}
	return def
}

// Required returns the trimmed value and records a problem when there is
// none; what says what the variable should hold.
func (e *Env) Required(name, what string) string {
	v := e.String(name, "")
	if v == "" {
		e.Fail(name, "is required ("+what+")")
	}
	return v
}

// Prefix returns a key prefix without leading or trailing slashes.
func (e *Env) Prefix(name, def string) string {
	if v := strings.Trim(e.String(name, ""), "/"); v != "" {
		return v
	}
	return def
}

// Bool reads true/false (and strconv.ParseBool's other spellings).
func (e *Env) Bool(name string, def bool) bool {
	v := e.String(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.Fail(name, "must be true or false")
		return def
	}
	return b
}

// Int reads a whole number in [lo, hi].
func (e *Env) Int(name string, def, lo, hi int) int {
	v := e.String(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		e.Fail(name, fmt.Sprintf("%s is not a whole number from %d to %d", quote(v), lo, hi))
		return def
	}
	return n
}

// Seconds reads a whole number of seconds ≥ 1.
func (e *Env) Seconds(name string, def time.Duration) time.Duration {
	v := e.String(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		e.Fail(name, fmt.Sprintf("%s is not a whole number of seconds ≥ 1", quote(v)))
		return def
	}
	return time.Duration(n) * time.Second
}

// Float reads a number in (lo, hi].
func (e *Env) Float(name string, def, lo, hi float64) float64 {
	v := e.String(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > lo && f <= hi) {
		e.Fail(name, fmt.Sprintf("%s is not a number in (%g, %g]", quote(v), lo, hi))
		return def
	}
	return f
}

// LogLevel reads LOG_LEVEL: debug, info (default), warn or error.
func (e *Env) LogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(e.String("LOG_LEVEL", "info"))); err != nil {
		e.Fail("LOG_LEVEL", "must be debug, info, warn or error")
		return slog.LevelInfo
	}
	return l
}

// Storage is where a function keeps its S3 objects.
type Storage struct {
	Bucket         string // REPORT_BUCKET (required)
	Prefix         string // REPORT_PREFIX: reports and runs/ live under it
	KMSKeyID       string // KMS_KEY_ID: SSE-KMS key; "" = SSE-S3
	ForcePathStyle bool   // S3_FORCE_PATH_STYLE: path-style addressing (emulators)
}

// Storage reads the report bucket's settings; the bucket is required.
func (e *Env) Storage() Storage {
	return Storage{
		Bucket:         e.Required("REPORT_BUCKET", "the report bucket's name"),
		Prefix:         e.Prefix("REPORT_PREFIX", ""),
		KMSKeyID:       e.String("KMS_KEY_ID", ""),
		ForcePathStyle: e.Bool("S3_FORCE_PATH_STYLE", false),
	}
}

// quote renders a value safely inside a message: escaped and cut short.
func quote(s string) string {
	r := []rune(s)
	if len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return strconv.Quote(s)
}
