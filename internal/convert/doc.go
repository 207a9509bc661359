// Package convert is the convert step of the export state machine: it
// reads a stored report (a ZIP holding an XLSX workbook) back from S3 and
// writes its rows into the queryable dataset (package dataset) as Parquet,
// one file per UTC day, replacing the files of an earlier conversion of
// the same report.
//
// The workbook is read header-first and schema-agnostic (package xlsx):
// AvePoint documents no column, sheet or file name. A workbook that cannot
// be read ends the step with a ConversionError; the raw report stays
// stored and a later run of this step (a backfill) can convert it without
// exporting again.
package convert
