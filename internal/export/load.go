package export

import (
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/secrets"
)

// Config is the environment of the functions that call AvePoint.
type Config struct {
	SecretID  string             // AVEPOINT_SECRET_ID (required)
	Endpoints avepoint.Endpoints // AVEPOINT_REGION, AVEPOINT_API_URL, AVEPOINT_TOKEN_URL
	Wait      request.WaitPolicy // POLL_MIN_SECONDS, POLL_MAX_SECONDS, POLL_AGE_FACTOR, JOB_DEADLINE_SECONDS
	// InProcess is the check step's in-process waiting per invocation
	// (POLL_INPROCESS_SECONDS, 0 = one read per invocation).
	InProcess time.Duration
	LogLevel  slog.Level // LOG_LEVEL
}

// LoadConfig reads the AvePoint settings from env; the caller checks
// env.Err once it has read its own.
func LoadConfig(env *config.Env) Config {
	c := Config{
		SecretID: env.Required("AVEPOINT_SECRET_ID", "secret name or ARN"),
		LogLevel: env.LogLevel(),
	}
	region, apiURL := env.Raw("AVEPOINT_REGION"), env.Raw("AVEPOINT_API_URL")
	if region == "" && apiURL == "" {
		region = "us"
	}
	endpoints, err := avepoint.ResolveEndpoints(region, apiURL, env.Raw("AVEPOINT_TOKEN_URL"))
	if err != nil {
		env.Fail("AVEPOINT_REGION", err.Error())
	}
	c.Endpoints = endpoints
	d := request.DefaultWaitPolicy
	c.Wait = request.WaitPolicy{
		Min:       env.Seconds("POLL_MIN_SECONDS", d.Min),
		Max:       env.Seconds("POLL_MAX_SECONDS", d.Max),
		AgeFactor: env.Float("POLL_AGE_FACTOR", d.AgeFactor, 0, 10),
		Deadline:  env.Seconds("JOB_DEADLINE_SECONDS", d.Deadline),
	}
	c.InProcess = time.Duration(env.Int("POLL_INPROCESS_SECONDS", int(DefaultInProcess/time.Second), 0, int(MaxInProcess/time.Second))) * time.Second
	if c.Wait.Min > c.Wait.Max {
		env.Fail("POLL_MIN_SECONDS", "is greater than POLL_MAX_SECONDS")
	}
	return c
}

// NewClient builds the AvePoint client with credentials from Secrets
// Manager. It makes no network call: the secret and the token are fetched
// on first use, inside an invocation and under its deadline.
func NewClient(cfg Config, awsCfg aws.Config, log *slog.Logger) (*avepoint.Client, error) {
	creds, err := secrets.New(secretsmanager.NewFromConfig(awsCfg), cfg.SecretID, secrets.DefaultTTL, time.Now)
	if err != nil {
		return nil, err
	}
	return avepoint.New(avepoint.Config{Endpoints: cfg.Endpoints, Credentials: creds, Logger: log})
}

// LoadStarter builds the StartExport function's handler from getenv.
func LoadStarter(getenv func(string) string) (*Starter, error) {
	cfg, client, log, err := load(getenv)
	if err != nil {
		return nil, err
	}
	return &Starter{API: client, Policy: cfg.Wait, Log: log, Now: time.Now}, nil
}

// LoadChecker builds the CheckJob function's handler from getenv.
func LoadChecker(getenv func(string) string) (*Checker, error) {
	cfg, client, log, err := load(getenv)
	if err != nil {
		return nil, err
	}
	return &Checker{API: client, Policy: cfg.Wait, Log: log, Now: time.Now, InProcess: cfg.InProcess}, nil
}

func load(getenv func(string) string) (Config, *avepoint.Client, *slog.Logger, error) {
	env := config.NewEnv(getenv)
	cfg := LoadConfig(env)
	if err := env.Err(); err != nil {
		return Config{}, nil, nil, err
	}
	awsCfg, err := config.AWSConfig()
	if err != nil {
		return Config{}, nil, nil, err
	}
	log := config.NewLogger(cfg.LogLevel)
	client, err := NewClient(cfg, awsCfg, log)
	return cfg, client, log, err
}
