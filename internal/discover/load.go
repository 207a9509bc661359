package discover

import (
	"time"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/export"
	"github.com/insights-export/insights-export/internal/storage"
)

// MaxMaxPages bounds USERS_MAX_PAGES: ten million users at 100 a page.
const MaxMaxPages = 100_000

// Config is the DiscoverUsers function's environment.
type Config struct {
	AvePoint export.Config  // AVEPOINT_SECRET_ID, AVEPOINT_REGION, AVEPOINT_API_URL, AVEPOINT_TOKEN_URL, LOG_LEVEL
	Storage  config.Storage // REPORT_BUCKET (required), REPORT_PREFIX, KMS_KEY_ID, S3_FORCE_PATH_STYLE
	// MaxPages is USERS_MAX_PAGES: the pages a listing may take before it
	// is refused as endless (default avepoint.DefaultMaxUserPages, enough
	// for 200,000 users).
	MaxPages int
}

// LoadConfig reads the environment through getenv and names the variable
// at fault.
func LoadConfig(getenv func(string) string) (Config, error) {
	env := config.NewEnv(getenv)
	c := Config{
		AvePoint: export.LoadConfig(env),
		Storage:  env.Storage(),
		MaxPages: env.Int("USERS_MAX_PAGES", avepoint.DefaultMaxUserPages, 1, MaxMaxPages),
	}
	return c, env.Err()
}

// LoadDiscoverer builds the DiscoverUsers function's handler from getenv.
func LoadDiscoverer(getenv func(string) string) (*Discoverer, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.AWSConfig()
	if err != nil {
		return nil, err
	}
	log := config.NewLogger(cfg.AvePoint.LogLevel)
	client, err := export.NewClient(cfg.AvePoint, awsCfg, log)
	if err != nil {
		return nil, err
	}
	st := cfg.Storage
	return &Discoverer{
		API:      client,
		Store:    &storage.Objects{Client: storage.NewS3Client(awsCfg, st.ForcePathStyle), Bucket: st.Bucket, KMSKeyID: st.KMSKeyID},
		Prefix:   st.Prefix,
		MaxPages: cfg.MaxPages,
		Log:      log,
		Now:      time.Now,
	}, nil
}
