package report

import (
	"time"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/export"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/storage/upload"
)

// LoadStorer builds the StoreReport function's handler from getenv.
func LoadStorer(getenv func(string) string) (*Storer, error) {
	env := config.NewEnv(getenv)
	cfg := export.LoadConfig(env)
	st := env.Storage()
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
	return &Storer{API: client, Store: store, Prefix: st.Prefix, Log: log, Now: time.Now}, nil
}
