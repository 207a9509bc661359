package convert

import (
	"time"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/dataset"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/xlsx"
)

// LoadConverter builds the ConvertReport function's handler from getenv.
func LoadConverter(getenv func(string) string) (*Converter, error) {
	env := config.NewEnv(getenv)
	st := env.Storage()
	prefix := env.Prefix("DATASET_PREFIX", dataset.DefaultPrefix)
	level := env.LogLevel()
	if err := env.Err(); err != nil {
		return nil, err
	}
	awsCfg, err := config.AWSConfig()
	if err != nil {
		return nil, err
	}
	client := storage.NewS3Client(awsCfg, st.ForcePathStyle)
	return &Converter{
		Files:         &storage.Files{Client: client, Bucket: st.Bucket, KMSKeyID: st.KMSKeyID},
		Records:       &storage.Objects{Client: client, Bucket: st.Bucket, KMSKeyID: st.KMSKeyID},
		Bucket:        st.Bucket,
		Prefix:        st.Prefix,
		Layout:        dataset.Layout{Prefix: prefix},
		Open:          openWorkbook,
		ParseTextTime: xlsx.ParseTextTime,
		Log:           config.NewLogger(level),
		Now:           time.Now,
	}, nil
}
