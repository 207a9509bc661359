// Package xlsx reads the sheets of an XLSX workbook as tables, streaming:
// a header-driven, schema-agnostic reader for reports whose columns are not
// documented (AvePoint's activity export is a ZIP holding such a workbook).
//
// Open reads the workbook's directory parts (the sheet list, the date
// system, which cell styles are dates, the shared strings); Table streams
// one sheet: it finds the header row, names the columns from the header
// text, and calls a function for every data row, in sheet order, with the
// cells' displayed values as text (dates as ISO-8601). What the columns
// mean is the caller's business: nothing here knows a column name.
//
// Memory: a sheet is never held. It is decompressed and tokenized in a
// fixed 64 KiB buffer by the package's own XML scanner, and one row's
// values live at a time; so a 2M-row sheet costs what a 20k-row one does.
// The shared-string table, which a sheet's cells index into, is the only
// thing that grows with the workbook, and is bounded by
// MaxSharedStringBytes and MaxSharedStrings. Other bounds: a tag 1 MiB, a
// row's text 64 MiB, a directory part (workbook, styles, relationships)
// 32 MiB decompressed; past any of them Open or Table fails with an *Error.
//
// Faithfulness is checked cell by cell against excelize (in the tests
// only; excelize holds the workbook in memory and is several times
// slower), on workbooks written by excelize, openpyxl and LibreOffice. The
// deliberate differences: numbers are the shortest round-trip text of the
// value (excelize's raw value is the writer's text, e.g. 17 digits from
// Excel); a t="str" formula result has its _xHHHH_ escapes decoded, as in
// Excel (excelize leaves them); a surrogate pair written as two escapes is
// one character, a lone surrogate U+FFFD (excelize drops both); date
// serials below 61 follow Excel's calendar (serial 60 is 1900-02-29, a time
// alone is on 1899-12-31; excelize gives 1900-02-28 and 1899-12-30).
//
// Errors: anything that is not a readable workbook is an *Error naming the
// part and what is wrong, never quoting cell content. No input makes the
// package panic (FuzzTable).
package xlsx
