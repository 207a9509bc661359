package api

import (
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/failure"
)

// Config is the API function's environment.
type Config struct {
	ExportStateMachineARN string     // EXPORT_STATE_MACHINE_ARN
	BatchStateMachineARN  string     // BATCH_STATE_MACHINE_ARN
	IdempotencyTable      string     // IDEMPOTENCY_TABLE: the key claims (optional; see keyClaims)
	LogLevel              slog.Level // LOG_LEVEL
}

// LoadConfig reads the environment through getenv.
func LoadConfig(getenv func(string) string) (Config, error) {
	env := config.NewEnv(getenv)
	c := Config{
		ExportStateMachineARN: env.String("EXPORT_STATE_MACHINE_ARN", ""),
		BatchStateMachineARN:  env.String("BATCH_STATE_MACHINE_ARN", ""),
		IdempotencyTable:      env.String("IDEMPOTENCY_TABLE", ""),
		LogLevel:              env.LogLevel(),
	}
	if err := env.Err(); err != nil {
		return Config{}, err
	}
	return c, c.validate()
}

func (c Config) validate() error {
	for _, v := range []struct{ name, arn string }{
		{"EXPORT_STATE_MACHINE_ARN", c.ExportStateMachineARN},
		{"BATCH_STATE_MACHINE_ARN", c.BatchStateMachineARN},
	} {
		if !strings.HasPrefix(v.arn, "arn:") || !strings.Contains(v.arn, ":stateMachine:") {
			return &failure.ConfigError{Variable: v.name, Reason: "must be a state machine ARN (arn:…:states:…:stateMachine:NAME)"}
		}
	}
	return nil
}

// Load builds the API function's handler from getenv.
func Load(getenv func(string) string) (*Handler, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.AWSConfig()
	if err != nil {
		return nil, err
	}
	h, err := New(sfn.NewFromConfig(awsCfg), cfg, config.NewLogger(cfg.LogLevel), time.Now)
	if err != nil {
		return nil, err
	}
	if cfg.IdempotencyTable != "" {
		h.claims = &dynamoClaims{client: dynamodb.NewFromConfig(awsCfg), table: cfg.IdempotencyTable, now: time.Now}
	}
	return h, nil
}
