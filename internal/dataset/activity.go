package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"time"
)

// Activity is one row of the dataset: the fixed columns every row has,
// and the report's own columns in Columns.
//
// Every report column is text: the cell's displayed value exactly (dates
// as ISO-8601). An empty cell is no key at all, so columns['x'] is null
// for it, as it is for a column the report does not have.
type Activity struct {
	// UPN is the user principal name the export was for (the request's,
	// lower-cased).
	UPN string `parquet:"upn"`
	// ActivityTime is the activity's instant (UTC) when a time column
	// parsed; null otherwise (and the row is in NoTimePartition).
	ActivityTime *time.Time `parquet:"activity_time,optional,timestamp(millisecond)"`
	// EventType is copied from the first column EventTypeColumns names.
	EventType *string `parquet:"event_type,optional"`
	// Where the row comes from.
	JobID        string `parquet:"job_id"`
	ReportKey    string `parquet:"report_key"`
	ReportSHA256 string `parquet:"report_sha256"`
	Sheet        string `parquet:"sheet"`
	SourceRow    int64  `parquet:"source_row"`
	// RowID identifies the activity, not the export: the same row seen by
	// two overlapping exports has the same RowID (see RowID).
	RowID      string    `parquet:"row_id"`
	ExportedAt time.Time `parquet:"exported_at,timestamp(millisecond)"`
	// Columns holds the report's columns by normalized header name.
	Columns map[string]string `parquet:"columns"`
}

// FixedColumns are the dataset's own column names. Report columns never
// clash with them: they are keys of the columns map.
var FixedColumns = []string{"upn", "activity_time", "event_type", "job_id", "report_key", "report_sha256", "sheet", "source_row", "row_id", "exported_at", "columns", "dt"}

// RowID is the hex SHA-256 of the UPN, the sheet name and the row's
// non-empty cells as name=value pairs sorted by name: independent of the
// export (job, report key, row number) so overlapping windows agree, and
// of column order.
func RowID(upn, sheet string, columns map[string]string) string {
	names := make([]string, 0, len(columns))
	for n := range columns {
		names = append(names, n)
	}
	slices.Sort(names)
	values := make([]string, len(names))
	order := make([]int, len(names))
	for i, n := range names {
		values[i], order[i] = columns[n], i
	}
	return rowID(nil, upn, sheet, names, values, order)
}

// rowID is RowID over a row as the writer holds it: values by column, and
// order, the column indexes sorted by name (fixed per sheet, so not
// sorted per row). It hashes one buffer, buf's storage reused, in one call.
func rowID(buf []byte, upn, sheet string, names, values []string, order []int) string {
	// Length-prefixed, so no two different rows hash the same bytes.
	field := func(s string) {
		buf = strconv.AppendInt(buf, int64(len(s)), 10)
		buf = append(buf, ':')
		buf = append(buf, s...)
	}
	buf = buf[:0]
	field(upn)
	field(sheet)
	for _, i := range order {
		if i < len(values) && values[i] != "" {
			field(names[i])
			field(values[i])
		}
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}
