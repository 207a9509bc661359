// Package dataset is the queryable side of a stored report: the Parquet
// rows every report becomes, their schema, the Hive-style layout under
// <prefix>/activities/dt=YYYY-MM-DD/, and the rules that derive the fixed
// columns (activity_time, event_type, row_id) from whatever columns the
// report has.
//
// AvePoint publishes no column list for its activity report, so nothing
// here depends on a column's name beyond the alias lists in aliases.go,
// the one place to edit when a real tenant's report names them otherwise.
// Report columns are kept as they come, by their normalized header name,
// in the map column `columns` (see Activity): the table's schema never
// changes when a report gains a column, so no DDL, crawler or schema
// update is ever needed, and a ragged row is just one more key.
package dataset
