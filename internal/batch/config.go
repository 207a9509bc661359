package batch

import (
	"log/slog"
	"os"
	"time"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/metrics"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
)

// Defaults of the batch functions' environment.
const (
	DefaultStatePrefix = "state"
	// DefaultRunLockLease is how long an incremental run's lock counts
	// when nothing gave it back (every run ends by releasing it, and the
	// execution-status rule releases it for runs that fail or are stopped):
	// a week, longer than a 50,000-user run at five 1-minute jobs at a time.
	DefaultRunLockLease = 7 * 24 * time.Hour
	// MaxRunLockHours bounds RUN_LOCK_HOURS (a Standard execution lasts a
	// year at most).
	MaxRunLockHours = 366 * 24
	// DefaultMaxConcurrency is how many users' exports a batch has in
	// flight. AvePoint's 5 concurrent jobs per tenant are enforced by the
	// job slots across every execution; three more than the slots keep a
	// child parked for the next slot while others store and convert their
	// reports (a child keeps its Map place through them), and a parked
	// child is woken when a slot is given back, at one round of
	// transitions (BENCHMARKS.md, "Slot utilisation"). template.yaml's
	// MaxConcurrency default is the same.
	DefaultMaxConcurrency = 8
	// MaxMaxConcurrency bounds the setting: far above the job slots,
	// far below Distributed Map's.
	MaxMaxConcurrency = 100
)

// Config is the environment of the PrepareBatch and WriteManifest
// functions. They talk to S3 only, never to AvePoint.
type Config struct {
	Storage        config.Storage // REPORT_BUCKET (required), REPORT_PREFIX, KMS_KEY_ID, S3_FORCE_PATH_STYLE
	StatePrefix    string         // STATE_PREFIX: high-water marks (default "state")
	MaxConcurrency int            // MAX_CONCURRENCY: users exported at once (default 8)
	// MAX_WINDOW_DAYS: an incremental user further behind is exported in
	// windows of at most this many days (PrepareBatch's; default 7).
	MaxWindowDays int
	// RUN_LOCK_HOURS: how long an incremental run's lock counts when it is
	// not given back (PrepareBatch's; default DefaultRunLockLease).
	RunLockLease time.Duration
	// ADVANCE_MARKS_ON_EXCEPTION: move marks past reports AvePoint flagged
	// as possibly incomplete (default false).
	AdvanceOnException bool
	// FAIL_ON_USER_FAILURES: a run in which users failed ends in the
	// UsersFailed state, after the manifest and the marks (default true).
	FailOnUserFailures bool
	LogLevel           slog.Level     // LOG_LEVEL
	Metrics            metrics.Config // METRICS_NAMESPACE, METRICS_STACK (WriteManifest's)
}

// LoadConfig reads the environment through getenv and names the variable
// at fault.
func LoadConfig(getenv func(string) string) (Config, error) {
	env := config.NewEnv(getenv)
	c := Config{
		Storage:            env.Storage(),
		StatePrefix:        env.Prefix("STATE_PREFIX", DefaultStatePrefix),
		MaxConcurrency:     env.Int("MAX_CONCURRENCY", DefaultMaxConcurrency, 1, MaxMaxConcurrency),
		MaxWindowDays:      env.Int("MAX_WINDOW_DAYS", request.DefaultMaxWindowDays, 1, request.MaxMaxWindowDays),
		RunLockLease:       time.Duration(env.Int("RUN_LOCK_HOURS", int(DefaultRunLockLease/time.Hour), 1, MaxRunLockHours)) * time.Hour,
		AdvanceOnException: env.Bool("ADVANCE_MARKS_ON_EXCEPTION", false),
		FailOnUserFailures: env.Bool("FAIL_ON_USER_FAILURES", true),
		LogLevel:           env.LogLevel(),
		Metrics:            metrics.LoadConfig(env),
	}
	return c, env.Err()
}

// load reads the environment and builds the run's object store.
func load(getenv func(string) string) (Config, *storage.Objects, *slog.Logger, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return Config{}, nil, nil, err
	}
	awsCfg, err := config.AWSConfig()
	if err != nil {
		return Config{}, nil, nil, err
	}
	st := cfg.Storage
	awsCfg = storage.WithConnections(awsCfg, Connections)
	objects := &storage.Objects{Client: storage.NewS3Client(awsCfg, st.ForcePathStyle), Bucket: st.Bucket, KMSKeyID: st.KMSKeyID}
	return cfg, objects, config.NewLogger(cfg.LogLevel), nil
}

// LoadPreparer builds the PrepareBatch function's handler from getenv.
func LoadPreparer(getenv func(string) string) (*Preparer, error) {
	cfg, objects, log, err := load(getenv)
	if err != nil {
		return nil, err
	}
	return &Preparer{
		Store:          objects,
		Marks:          &Watermarks{Store: objects, Prefix: cfg.StatePrefix},
		Prefix:         cfg.Storage.Prefix,
		MaxConcurrency: cfg.MaxConcurrency,
		MaxWindowDays:  cfg.MaxWindowDays,
		RunLockLease:   cfg.RunLockLease,
		Log:            log,
		Now:            time.Now,
	}, nil
}

// LoadManifestWriter builds the WriteManifest function's handler from getenv.
func LoadManifestWriter(getenv func(string) string) (*ManifestWriter, error) {
	cfg, objects, log, err := load(getenv)
	if err != nil {
		return nil, err
	}
	return &ManifestWriter{
		Store:              objects,
		Marks:              &Watermarks{Store: objects, Prefix: cfg.StatePrefix},
		AdvanceOnException: cfg.AdvanceOnException,
		FailOnUserFailures: cfg.FailOnUserFailures,
		Log:                log,
		Now:                time.Now,
		Metrics:            metrics.New(cfg.Metrics, os.Stdout, log),
	}, nil
}
