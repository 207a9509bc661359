// Package slots keeps the tenant's AvePoint job slots: AvePoint lets 5
// export jobs run at a time per tenant through the API, and every export
// execution — one user, a batch's child, the API's, a schedule's — takes a
// slot before it starts its job and gives it back as soon as the job is
// over.
//
// The ledger is one DynamoDB item (see Ledger). The export state machine
// takes, records and gives back slots itself with Step Functions' DynamoDB
// integration (statemachine/export.asl.json: AcquireJobSlot,
// RecordJobOnSlot, ReleaseJobSlot), because those are single conditional
// writes. This package holds what needs a clock, which the state
// language's JSONPath does not have:
//
//   - Waiter (CheckJobSlots, functions/checkjobslots), the slow path of an
//     execution that found every slot taken: it evicts holders whose lease
//     is over, decides how long the export parks before trying again
//     without a wake-up (WaitForJobSlot's timeout) and ends the wait at the
//     export's deadline;
//   - Releaser (functions/releasejobslot), run by an EventBridge rule when
//     an export execution is stopped, times out or fails: it removes that
//     execution's holder, so a slot is never left behind by an execution
//     that ended outside the state machine's own Catch paths, and wakes
//     the oldest export parked for a slot.
//
// Waking (internal/slots/wake, apart so that CheckJobSlots links neither
// SQS nor Step Functions): WaitForJobSlot parks the export's task token on
// a FIFO queue; whoever gives a slot back answers the oldest token still
// waiting (WakeJobSlotWaiter, functions/wakejobslotwaiter; the Releaser
// through its Wake hook).
package slots
