package slots

import (
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/metrics"
	"github.com/insights-export/insights-export/internal/request"
)

// LeaseMargin is what a lease adds to the job deadline and a last poll
// wait: room for StartExport's retries before the job starts (at most
// about 15 minutes) and CheckJob's after the deadline, with time to
// spare. A lease that ends while its execution still runs would give
// away a slot in use, which is worse than keeping a lost one an hour
// longer.
const LeaseMargin = time.Hour

// Config is the environment of the slot functions.
type Config struct {
	Table string        // JOB_SLOTS_TABLE (required)
	Wait  WaitPolicy    // JOB_DEADLINE_SECONDS ends a wait
	Retry WaitPolicy    // after an acquisition that failed otherwise; the same deadline
	Lease time.Duration // JOB_DEADLINE_SECONDS + POLL_MAX_SECONDS + LeaseMargin
	// BatchStateMachine (BATCH_STATE_MACHINE_ARN, optional): ReleaseJobSlot
	// gives back the run lock of its ended runs.
	BatchStateMachine string
}

// LoadConfig reads the slot functions' settings.
func LoadConfig(env *config.Env) Config {
	d := request.DefaultWaitPolicy
	deadline := env.Seconds("JOB_DEADLINE_SECONDS", d.Deadline)
	pollMax := env.Seconds("POLL_MAX_SECONDS", d.Max)
	w := DefaultWaitPolicy
	w.Deadline = deadline
	retry := DefaultRetryPolicy
	retry.Deadline = deadline
	return Config{
		Table:             env.Required("JOB_SLOTS_TABLE", "the job slot table's name"),
		Wait:              w,
		Retry:             retry,
		Lease:             deadline + pollMax + LeaseMargin,
		BatchStateMachine: env.String("BATCH_STATE_MACHINE_ARN", ""),
	}
}

func load(getenv func(string) string) (Config, *Ledger, *slog.Logger, *metrics.Emitter, error) {
	env := config.NewEnv(getenv)
	cfg := LoadConfig(env)
	level := env.LogLevel()
	mc := metrics.LoadConfig(env)
	if err := env.Err(); err != nil {
		return Config{}, nil, nil, nil, err
	}
	awsCfg, err := config.AWSConfig()
	if err != nil {
		return Config{}, nil, nil, nil, err
	}
	ledger := &Ledger{DB: dynamodb.NewFromConfig(awsCfg), Table: cfg.Table, Lease: cfg.Lease}
	log := config.NewLogger(level)
	return cfg, ledger, log, metrics.New(mc, os.Stdout, log), nil
}

// LoadWaiter builds the CheckJobSlots function's handler from getenv.
func LoadWaiter(getenv func(string) string) (*Waiter, error) {
	cfg, ledger, log, m, err := load(getenv)
	if err != nil {
		return nil, err
	}
	return &Waiter{Ledger: ledger, Policy: cfg.Wait, Retry: cfg.Retry, Log: log, Now: time.Now, Metrics: m}, nil
}

// LoadReleaser builds the ReleaseJobSlot function's handler from getenv.
func LoadReleaser(getenv func(string) string) (*Releaser, error) {
	cfg, ledger, log, m, err := load(getenv)
	if err != nil {
		return nil, err
	}
	return &Releaser{Ledger: ledger, Log: log, Now: time.Now, Metrics: m, BatchStateMachine: cfg.BatchStateMachine}, nil
}
