package metrics

// The metrics' names: the vocabulary template.yaml's alarms and dashboard
// refer to (doc.go has the table). Renaming one breaks them silently.
const (
	// StoreReport
	ReportsStored = "ReportsStored"
	ReportBytes   = "ReportBytes"
	// ConvertReport (and BackfillReports, which converts through it)
	RowsConverted  = "RowsConverted"
	DatasetObjects = "DatasetObjects"
	// CheckJobSlots
	JobSlotWaits       = "JobSlotWaits"
	JobSlotWaitSeconds = "JobSlotWaitSeconds"
	JobSlotHolders     = "JobSlotHolders"
	// ReleaseJobSlot
	ExportsEnded = "ExportsEnded"
	// WriteManifest
	BatchRuns            = "BatchRuns"
	UsersSucceeded       = "UsersSucceeded"
	UsersWithException   = "UsersWithException"
	UsersFailed          = "UsersFailed"
	UsersUpToDate        = "UsersUpToDate"
	BatchBytesStored     = "BatchBytesStored"
	BatchRowsConverted   = "BatchRowsConverted"
	MarkStalenessSeconds = "MarkStalenessSeconds"
)

// Dimensions besides Stack.
const (
	// Status is an ended export execution's status (ABORTED, TIMED_OUT,
	// FAILED).
	Status = "Status"
	// Error is its error name, NoError when it has none.
	Error = "Error"
	// NoError is Error's value for an execution that ended without one
	// (ABORTED).
	NoError = "None"
)
