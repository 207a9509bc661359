// Package polling prices the export's poll loop in Step Functions terms:
// state transitions (what Standard workflows bill), execution history
// events (capped at 25,000 per execution) and the delay between the job
// finishing and the workflow noticing.
//
// The model walks statemachine/export.asl.json (Definition.Walk) instead of
// hard-coding its states: a success after n status reads is the states
// from StartAt through the loop
//
//	… → [WaitForJob (Wait) → CheckJob (Task) → IsJobFinished (Choice)]×n → … → Done (Succeed)
//
// and a failure at the n-th read follows CheckJob's catcher. StartExport
// records startedAt and the first wait (Policy.Next(0)); each CheckJob
// reads the status once at age = now − startedAt and, while the job runs,
// returns the next wait Policy.Next(age) (Simulate). The counts per state
// are those of a Standard workflow's history (see the Events constants).
//
// RetryVariant rewrites the definition so that CheckJob's own Retry is the
// loop (the check fails with a still-running error while the job runs);
// SimulateRetry and ExpectRetry price that design with Step Functions'
// retry arithmetic, with and without FULL jitter. RunReal and RunRealRetry
// run both for real (the ASL under the interpreter, the bootstraps under
// the RIE) so the model can be checked against execution histories.
package polling
