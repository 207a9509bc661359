// Package polling prices the export's poll loop in Step Functions terms:
// state transitions (what Standard workflows bill), execution history
// events (capped at 25,000 per execution) and the delay between the job
// finishing and the workflow noticing.
//
// Model mirrors statemachine/export.asl.json and the handlers exactly:
//
//	StartExport (Task) → [WaitForJob (Wait) → CheckJob (Task) → IsJobFinished (Choice)]×n → StoreReport (Task) → Done (Succeed)
//
// StartExport records startedAt and the first wait (Policy.Next(0)); each
// CheckJob reads the status once at age = now − startedAt and, while the
// job runs, returns the next wait Policy.Next(age). The counts per state
// are those of a Standard workflow's history with direct Lambda ARN tasks
// (see HistoryEvents). RunReal runs the same loop for real (the ASL under
// the interpreter, the bootstraps under the RIE) so the model can be
// checked against an execution history.
package polling
