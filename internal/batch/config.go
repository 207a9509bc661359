package batch

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/insights-export/insights-export/internal/failure"
)

// Defaults of the batch functions' environment.
const (
	DefaultStatePrefix = "state"
	// DefaultMaxConcurrency is AvePoint's documented limit of concurrent
	// export jobs per tenant through the API.
	DefaultMaxConcurrency = 5
	// MaxMaxConcurrency bounds the setting: far above AvePoint's limit,
	// far below Distributed Map's.
	MaxMaxConcurrency = 100
)

// Config is the environment of the PrepareBatch and WriteManifest
// functions. They talk to S3 only, never to AvePoint.
type Config struct {
	Bucket         string     // REPORT_BUCKET (required)
	Prefix         string     // REPORT_PREFIX: reports and runs/ live under it
	StatePrefix    string     // STATE_PREFIX: high-water marks (default "state")
	KMSKeyID       string     // KMS_KEY_ID
	MaxConcurrency int        // MAX_CONCURRENCY: users exported at once (default 5)
	ForcePathStyle bool       // S3_FORCE_PATH_STYLE
	LogLevel       slog.Level // LOG_LEVEL
}

// LoadConfig reads the environment through getenv and names the variable
// at fault.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Bucket:         strings.TrimSpace(getenv("REPORT_BUCKET")),
		Prefix:         strings.Trim(strings.TrimSpace(getenv("REPORT_PREFIX")), "/"),
		StatePrefix:    strings.Trim(strings.TrimSpace(getenv("STATE_PREFIX")), "/"),
		KMSKeyID:       strings.TrimSpace(getenv("KMS_KEY_ID")),
		MaxConcurrency: DefaultMaxConcurrency,
	}
	bad := func(name, reason string) error { return &failure.ValidationError{Field: name, Reason: reason} }
	if c.Bucket == "" {
		return Config{}, bad("REPORT_BUCKET", "is required")
	}
	if c.StatePrefix == "" {
		c.StatePrefix = DefaultStatePrefix
	}
	if v := getenv("MAX_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxMaxConcurrency {
			return Config{}, bad("MAX_CONCURRENCY", fmt.Sprintf("%q is not a whole number from 1 to %d", v, MaxMaxConcurrency))
		}
		c.MaxConcurrency = n
	}
	if v := getenv("S3_FORCE_PATH_STYLE"); v != "" {
		var err error
		if c.ForcePathStyle, err = strconv.ParseBool(v); err != nil {
			return Config{}, bad("S3_FORCE_PATH_STYLE", "must be true or false")
		}
	}
	level := getenv("LOG_LEVEL")
	if level == "" {
		level = "info"
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return Config{}, bad("LOG_LEVEL", "must be debug, info, warn or error")
	}
	return c, nil
}
