package config

import (
	"log/slog"
	"os"
)

// NewLogger writes JSON lines to stdout at the given level, the format the
// functions' JSON log configuration expects.
func NewLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
}

// Exit reports a cold-start failure and ends the process: the Lambda
// service then reports an init error instead of a hung function.
func Exit(err error) {
	NewLogger(slog.LevelInfo).Error("cold start failed", "error", err.Error())
	os.Exit(1)
}
