package export

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
)

// Config is the functions' environment, read once at cold start.
type Config struct {
	SecretID       string
	Endpoints      avepoint.Endpoints
	Bucket         string
	Prefix         string
	KMSKeyID       string
	ForcePathStyle bool
	Wait           request.WaitPolicy
	LogLevel       slog.Level
}

// LoadConfig reads the environment through getenv (os.Getenv in main) and
// names the variable at fault when a value is unusable.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		SecretID: strings.TrimSpace(getenv("AVEPOINT_SECRET_ID")),
		Bucket:   strings.TrimSpace(getenv("REPORT_BUCKET")),
		Prefix:   strings.Trim(strings.TrimSpace(getenv("REPORT_PREFIX")), "/"),
		KMSKeyID: strings.TrimSpace(getenv("KMS_KEY_ID")),
		Wait:     request.DefaultWaitPolicy,
	}
	region := getenv("AVEPOINT_REGION")
	if region == "" && getenv("AVEPOINT_API_URL") == "" {
		region = "us"
	}
	var err error
	if c.Endpoints, err = avepoint.ResolveEndpoints(region, getenv("AVEPOINT_API_URL"), getenv("AVEPOINT_TOKEN_URL")); err != nil {
		return Config{}, err
	}
	if c.SecretID == "" {
		return Config{}, &failure.ValidationError{Field: "AVEPOINT_SECRET_ID", Reason: "is required (secret name or ARN)"}
	}
	if v := getenv("S3_FORCE_PATH_STYLE"); v != "" {
		if c.ForcePathStyle, err = strconv.ParseBool(v); err != nil {
			return Config{}, &failure.ValidationError{Field: "S3_FORCE_PATH_STYLE", Reason: "must be true or false"}
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(orDefault(getenv("LOG_LEVEL"), "info"))); err != nil {
		return Config{}, &failure.ValidationError{Field: "LOG_LEVEL", Reason: "must be debug, info, warn or error"}
	}
	seconds := func(name string, into *time.Duration) error {
		v := getenv(name)
		if v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return &failure.ValidationError{Field: name, Reason: fmt.Sprintf("%q is not a whole number of seconds ≥ 1", v)}
		}
		*into = time.Duration(n) * time.Second
		return nil
	}
	for name, into := range map[string]*time.Duration{
		"POLL_MIN_SECONDS": &c.Wait.Min, "POLL_MAX_SECONDS": &c.Wait.Max, "JOB_DEADLINE_SECONDS": &c.Wait.Deadline,
	} {
		if err := seconds(name, into); err != nil {
			return Config{}, err
		}
	}
	if v := getenv("POLL_AGE_FACTOR"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 10 {
			return Config{}, &failure.ValidationError{Field: "POLL_AGE_FACTOR", Reason: fmt.Sprintf("%q is not a number in (0, 10]", v)}
		}
		c.Wait.AgeFactor = f
	}
	if c.Wait.Min > c.Wait.Max {
		return Config{}, &failure.ValidationError{Field: "POLL_MIN_SECONDS", Reason: "is greater than POLL_MAX_SECONDS"}
	}
	return c, nil
}

// RequireBucket is checked by the store function only.
func (c Config) RequireBucket() error {
	if c.Bucket == "" {
		return &failure.ValidationError{Field: "REPORT_BUCKET", Reason: "is required"}
	}
	return nil
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
