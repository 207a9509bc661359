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
// Every metric has the dimension Stack; ExportsEnded is in two dimension
// sets. The metrics of one function go out together, in one line, at the
// moment in the last column.
//
//	Name                  Unit     Dimensions                          Emitted by                      When
//	ReportsStored         Count    [Stack]                             StoreReport                     a report is stored (value 1)
//	ReportBytes           Bytes    [Stack]                             StoreReport                     a report is stored: its size
//	RowsConverted         Count    [Stack]                             ConvertReport, BackfillReports  a report is converted: its dataset rows
//	DatasetObjects        Count    [Stack]                             ConvertReport, BackfillReports  a report is converted: its Parquet objects
//	JobSlotWaits          Count    [Stack]                             CheckJobSlots                   it decides a wait (value 1)
//	JobSlotWaitSeconds    Seconds  [Stack]                             CheckJobSlots                   it decides a wait: the wait it scheduled
//	JobSlotHolders        Count    [Stack]                             CheckJobSlots                   it decides a wait: holders after eviction
//	ExportsEnded          Count    [Stack, Status, Error] and [Stack]  ReleaseJobSlot                  an export execution ended ABORTED, TIMED_OUT or FAILED (value 1)
//	BatchRuns             Count    [Stack]                             WriteManifest                   a batch run's manifest is written (value 1)
//	UsersSucceeded        Count    [Stack]                             WriteManifest                   the same: the manifest's succeeded users
//	UsersWithException    Count    [Stack]                             WriteManifest                   the same: succeeded users whose report AvePoint flagged
//	UsersFailed           Count    [Stack]                             WriteManifest                   the same: failed users
//	UsersUpToDate         Count    [Stack]                             WriteManifest                   the same: up-to-date users (incremental runs)
//	BatchBytesStored      Bytes    [Stack]                             WriteManifest                   the same: bytes of the succeeded users' reports
//	BatchRowsConverted    Count    [Stack]                             WriteManifest                   the same: dataset rows of those reports (0 if none converted)
//	MarkStalenessSeconds  Seconds  [Stack]                             WriteManifest                   the same, incremental runs where a user has a mark: age of the oldest mark
//
// A step that fails emits nothing (its retry emits once it succeeds),
// except ReleaseJobSlot: ExportsEnded is emitted when the event arrives,
// before the ledger is touched, so an event whose release fails is
// counted again on redelivery rather than lost while DynamoDB is down.
// BackfillReports converts through ConvertReport's code and so emits the
// same two metrics per report. CheckJobSlots counts every wait it
// returns, the 1 s ones after an eviction or a freed slot and the 0 s one
// of an execution that already holds a slot included; the wait that ends
// at the deadline (JobDeadlineExceededError) is not one.
//
// Status is the execution's status from the event. Error is the event
// detail's error — Step Functions puts the execution's error name there
// when it has one (FAILED) — or "None" when there is none (ABORTED), and
// "Other" when it does not look like a name (metrics.Name).
//
// MarkStalenessSeconds is measured at the end of the run, after the marks
// advanced, over the run's users that have a mark: a user whose export
// failed keeps its old mark (recorded in users.json when the run was
// prepared, so no mark is read again), and its staleness grows until
// somebody looks. A run where no user has a mark yet sends none.
package metrics
