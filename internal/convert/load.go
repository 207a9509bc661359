package convert

import (
	"os"
	"time"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/dataset"
	"github.com/insights-export/insights-export/internal/metrics"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/xlsx"
)

// LoadConverter builds the ConvertReport function's handler from getenv.
func LoadConverter(getenv func(string) string) (*Converter, error) {
	c, _, err := load(getenv)
	return c, err
}

// LoadBackfiller builds the BackfillReports function's handler from
// getenv: the same converter, and a lister over the report prefix.
func LoadBackfiller(getenv func(string) string) (*Backfiller, error) {
	c, files, err := load(getenv)
	if err != nil {
		return nil, err
	}
	return &Backfiller{Converter: c, Reports: files}, nil
}

func load(getenv func(string) string) (*Converter, *storage.Files, error) {
	env := config.NewEnv(getenv)
	st := env.Storage()
	prefix := env.Prefix("DATASET_PREFIX", dataset.DefaultPrefix)
	level := env.LogLevel()
	mc := metrics.LoadConfig(env)
	if err := env.Err(); err != nil {
		return nil, nil, err
	}
	awsCfg, err := config.AWSConfig()
	if err != nil {
		return nil, nil, err
	}
	client := storage.NewS3Client(awsCfg, st.ForcePathStyle)
	files := &storage.Files{Client: client, Bucket: st.Bucket, KMSKeyID: st.KMSKeyID}
	log := config.NewLogger(level)
	return &Converter{
		Files:         files,
		Records:       &storage.Objects{Client: client, Bucket: st.Bucket, KMSKeyID: st.KMSKeyID},
		Bucket:        st.Bucket,
		Prefix:        st.Prefix,
		Layout:        dataset.Layout{Prefix: prefix},
		Open:          openWorkbook,
		ParseTextTime: xlsx.ParseTextTime,
		Log:           log,
		Now:           time.Now,
		Metrics:       metrics.New(mc, os.Stdout, log),
	}, files, nil
}
