// Package metrics writes CloudWatch metrics in the Embedded Metric Format
// (EMF): one JSON line per emission on the function's stdout, which
// CloudWatch Logs turns into metrics as it ingests the log group. No API
// call, no permission, no SDK; encoding/json is all it takes.
//
// A line follows the specification
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
//
//	{"level":"INFO","msg":"metrics",
//	 "_aws":{"Timestamp":1764072000000,"CloudWatchMetrics":[{"Namespace":"InsightsExport",
//	   "Dimensions":[["Stack"]],"Metrics":[{"Name":"ReportsStored","Unit":"Count"},{"Name":"ReportBytes","Unit":"Bytes"}]}]},
//	 "Stack":"insights-export","ReportsStored":1,"ReportBytes":48213}
//
// Lambda's JSON log format passes a JSON line from a custom runtime
// through as it is; "level" keeps it through the log-level filter (a line
// without one counts as INFO anyway). At most 100 metrics go in a line
// (more are split over several), a dimension set names at most 30
// dimensions, and a dimension value CloudWatch would refuse (empty, over
// 1,024 characters, not printable ASCII) becomes "Other". Values that
// come from outside — an event's error field — must also look like a
// name (Name), so neither an address nor message text can become a
// dimension, and no caller passes either: metrics carry counts, sizes,
// times and our own error names only.
//
// Emitting never fails a handler: a nil or zero Emitter does nothing, and
// a line that cannot be written is logged at WARN and dropped.
//
// # Configuration
//
//   - METRICS_NAMESPACE: the namespace (default InsightsExport).
//   - METRICS_STACK: the Stack dimension's value, which every metric has
//     (default insights-export; template.yaml sets the stack name).
//
// Each function's Load… reads them (LoadConfig) beside its own settings.
//
// # Metrics
//
// Every metric has the dimension Stack; ExportsEnded also has a second
// dimension set. Each is emitted once per event in the last column, in
// the same line as the others of its row group.
//
//	Name                  Unit     Dimensions                         Emitted by                       When
//	ReportsStored         Count    [Stack]                            StoreReport                      a report is stored (value 1)
//	ReportBytes           Bytes    [Stack]                            StoreReport                      a report is stored: its size
//	RowsConverted         Count    [Stack]                            ConvertReport, BackfillReports   a report is converted: its dataset rows
//	DatasetObjects        Count    [Stack]                            ConvertReport, BackfillReports   a report is converted: its Parquet objects
//	JobSlotWaits          Count    [Stack]                            CheckJobSlots                    it decides a wait (value 1)
//	JobSlotWaitSeconds    Seconds  [Stack]                            CheckJobSlots                    it decides a wait: the wait scheduled
//	JobSlotHolders        Count    [Stack]                            CheckJobSlots                    it decides a wait: holders after eviction
//	ExportsEnded          Count    [Stack, Status, Error] and [Stack] ReleaseJobSlot                   an export execution ended ABORTED, TIMED_OUT or FAILED (value 1)
//	BatchRuns             Count    [Stack]                            WriteManifest                    a batch run's manifest is written (value 1)
//	UsersSucceeded        Count    [Stack]                            WriteManifest                    same line: the manifest's succeeded count
//	UsersWithException    Count    [Stack]                            WriteManifest                    same line: succeeded with AvePoint's exception flag
//	UsersFailed           Count    [Stack]                            WriteManifest                    same line: the failed count
//	UsersUpToDate         Count    [Stack]                            WriteManifest                    same line: the up-to-date count (incremental)
//	BatchBytesStored      Bytes    [Stack]                            WriteManifest                    same line: bytes of the reports the run stored
//	BatchRowsConverted    Count    [Stack]                            WriteManifest                    same line: dataset rows of those reports (0 if none)
//	MarkStalenessSeconds  Seconds  [Stack]                            WriteManifest                    same line, incremental runs with a marked user: age of the oldest high-water mark
//
// Status is the execution's status from the event; Error is the event
// detail's error (Step Functions sets it for FAILED and TIMED_OUT) or
// "None" when there is none (ABORTED), "Other" when it is not a name.
// ExportsEnded is emitted when the event arrives, before the ledger is
// touched: an event whose release fails is retried and counted again,
// rather than lost when DynamoDB is down.
//
// MarkStalenessSeconds is measured at the end of the run, after the marks
// advanced, over the run's users that have a mark: a user whose export
// failed keeps its old mark (recorded in plan.json when the run was
// prepared, so no mark is read again), and its staleness grows until
// somebody looks. A run where no user has a mark yet sends none.
package metrics
