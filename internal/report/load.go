package report

import (
	"fmt"
	"os"
	"time"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/export"
	"github.com/insights-export/insights-export/internal/metrics"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/storage/upload"
)

// LoadStorer builds the StoreReport function's handler from getenv.
func LoadStorer(getenv func(string) string) (*Storer, error) {
	env := config.NewEnv(getenv)
	cfg := export.LoadConfig(env)
	st := env.Storage()
	mc := metrics.LoadConfig(env)
	if len(st.Prefix) > request.MaxPrefixBytes {
		// Past this even a key with its user and filter hashed could be
		// longer than S3 allows (request.FitKey).
		env.Fail("REPORT_PREFIX", fmt.Sprintf("is %d bytes; at most %d, so that every report key fits S3's %d", len(st.Prefix), request.MaxPrefixBytes, request.MaxKeyBytes))
	}
	if err := env.Err(); err != nil {
		return nil, err
	}
	awsCfg, err := config.AWSConfig()
	if err != nil {
		return nil, err
	}
	log := config.NewLogger(cfg.LogLevel)
	client, err := export.NewClient(cfg, awsCfg, log)
	if err != nil {
		return nil, err
	}
	store, err := upload.New(storage.NewS3Client(awsCfg, st.ForcePathStyle), upload.Config{Bucket: st.Bucket, KMSKeyID: st.KMSKeyID})
	if err != nil {
		return nil, err
	}
	return &Storer{API: client, Store: store, Prefix: st.Prefix, Log: log, Now: time.Now, Metrics: metrics.New(mc, os.Stdout, log)}, nil
}
