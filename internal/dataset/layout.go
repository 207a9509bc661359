package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"
	"time"
)

// NoTimePartition holds the rows whose activity time could not be read:
// kept, never dropped, in a partition every date-typed dt projection
// reaches (see template.yaml) and no real activity has.
const NoTimePartition = "1970-01-01"

// DefaultPrefix is where the dataset lives in the report bucket.
const DefaultPrefix = "dataset"

// Layout places the dataset's objects:
//
//	<prefix>/activities/dt=YYYY-MM-DD/<report id>.parquet   rows, by UTC day
//	<prefix>/conversions/<report id>.json                  what a conversion wrote
//
// The report id derives from the raw report's key only, so converting the
// same report again writes the same names: a rerun replaces its files
// rather than adding rows, and the record lets it delete the files of days
// the new conversion no longer has.
type Layout struct {
	Prefix string
}

// ReportID names a raw report's dataset files: "r-" and 128 bits of the
// SHA-256 of its key. Keys hold the user's address; the id does not.
func ReportID(reportKey string) string {
	sum := sha256.Sum256([]byte(reportKey))
	return "r-" + hex.EncodeToString(sum[:16])
}

func (l Layout) prefix() string {
	if p := strings.Trim(l.Prefix, "/"); p != "" {
		return p
	}
	return DefaultPrefix
}

// ActivitiesPrefix is the table's location: the Glue table's LOCATION
// and what read_parquet reads with hive_partitioning.
func (l Layout) ActivitiesPrefix() string { return path.Join(l.prefix(), "activities") + "/" }

// Key is the object of one report's rows of one day.
func (l Layout) Key(partition, reportID string) string {
	return path.Join(l.prefix(), "activities", "dt="+partition, reportID+".parquet")
}

// RecordKey is the record of one report's conversion.
func (l Layout) RecordKey(reportID string) string {
	return path.Join(l.prefix(), "conversions", reportID+".json")
}

// Partition is the dt of an activity time: its UTC date, or
// NoTimePartition.
func Partition(t *time.Time) string {
	if t == nil {
		return NoTimePartition
	}
	return t.UTC().Format("2006-01-02")
}
