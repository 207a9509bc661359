// Package slotsim simulates one batch run through the tenant's AvePoint
// job slots, event by event, to see how busy the slots are kept: issue 13,
// item 4, "slot utilisation".
//
// The model follows statemachine/batch.asl.json and
// statemachine/export.asl.json state by state, and takes its decisions
// from the production code itself:
//
//   - the batch's Distributed Map runs at most MaxConcurrency children at
//     once, in the work list's order, each HowManyWindows (Choice) →
//     ExportUser (startExecution.sync:2) → UserSucceeded (Pass);
//   - a child (one export execution) takes a slot with AcquireJobSlot (one
//     conditional write: at most Slots holders), and when refused loops
//     CheckJobSlots → WaitForJobSlot → AcquireJobSlotAfterWait with the
//     wait of slots.WaitPolicy.Next (and CheckJobSlots' "a slot is free"
//     shortcut of 1 s, internal/slots.Waiter);
//   - with a slot it starts the job (StartExport: the job's clock starts,
//     the first wait is request.WaitPolicy.Next(0)), RecordJobOnSlot, then
//     polls WaitForJob → CheckJob → IsJobFinished with the waits of
//     request.WaitPolicy.Next(age), age measured as the check function
//     measures it (the status read's time − startedAt);
//   - the poll that sees the job finished leads to ReleaseJobSlot, then
//     StoreReport, ConvertReport, AnnounceReport and Done, which hold no
//     slot but do hold the child's place in the Map.
//
// Every state takes Latencies.State (a state transition and, for the
// DynamoDB and EventBridge integrations, their call); a Lambda task adds
// Latencies.Invoke; the store and convert tasks take their own durations.
// A conditional write takes effect at the end of its state, a status read
// and a job start at the end of their task.
//
// Measure turns per-user timelines (Record) into the utilisation figures;
// it serves the simulation and the real runs alike (real.go reads the
// same timelines from a devstack batch's execution events and the
// simulator's job list), so the cross-check compares like with like.
//
// Variants the production code does not have are modelled so that their
// figures can be weighed: Wake (a release wakes the oldest waiter through
// a Step Functions task token instead of letting it sleep its wait out)
// and Order (the work list sorted by job duration, longest first).
package slotsim
