// Package zipcheck verifies a ZIP archive while it streams past, so a
// corrupt report is refused before its upload is completed, without
// holding the report in memory.
//
// It reads the archive front to back as a streaming unzip would: every
// local entry is delimited and its CRC-32 and sizes are checked (deflated
// data is inflated and discarded; stored data is hashed), then the central
// directory must list exactly those entries with the same names, CRCs,
// sizes and offsets, then the end records (zip64 ones included) must point
// at that directory, and nothing may follow them. Memory stays at a few
// buffers plus a small record per entry, whatever the archive's size.
//
// What it cannot judge: fields that carry no redundancy (timestamps,
// attributes, comments, extra fields other than zip64). Encrypted entries
// and compression methods other than stored (0) and deflate (8) are
// refused, as a report never uses them.
package zipcheck
