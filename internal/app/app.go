// Package app builds what every function needs once per container: the
// configuration, the logger, the AWS config and the AvePoint client. The
// functions' main.go files only pick a handler and start it.
package app

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/export"
	"github.com/insights-export/insights-export/internal/secrets"
)

// SecretTTL bounds how long a container trusts its copy of the secret, so a
// rotation is picked up even without an auth failure.
const SecretTTL = 15 * time.Minute

// App is the cold-start state shared by the three functions.
type App struct {
	Config   export.Config
	Log      *slog.Logger
	AWS      aws.Config
	AvePoint *avepoint.Client
}

// Load reads the environment and builds clients. It makes no network call:
// the secret and the token are fetched on first use, inside an invocation
// and under its deadline.
func Load(ctx context.Context, getenv func(string) string) (*App, error) {
	cfg, err := export.LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	log := NewLogger(cfg.LogLevel)
	awsCfg, err := AWSConfig()
	if err != nil {
		return nil, err
	}
	creds, err := secrets.New(secretsmanager.NewFromConfig(awsCfg), cfg.SecretID, SecretTTL, time.Now)
	if err != nil {
		return nil, err
	}
	client, err := avepoint.New(avepoint.Config{Endpoints: cfg.Endpoints, Credentials: creds, Logger: log})
	if err != nil {
		return nil, err
	}
	return &App{Config: cfg, Log: log, AWS: awsCfg, AvePoint: client}, nil
}

// NewLogger writes JSON lines to stdout, the format the functions' JSON log
// configuration expects.
func NewLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
}

// Exit reports a cold-start failure and ends the process: the Lambda
// service then reports an init error instead of a hung function.
func Exit(err error) {
	NewLogger(slog.LevelInfo).Error("cold start failed", "error", err.Error())
	os.Exit(1)
}
