// Package request is the leaf every other package builds on: what users
// ask for and what the steps hand each other.
//
//   - Inputs as users write them (Request for one user, BatchRequest for
//     many, WindowRequest for a rolling window) and their validated,
//     normalized forms (Query, Batch, Rolling), parsed strictly: unknown
//     fields, repeated fields, wrong types and oversized input are a
//     failure.ValidationError naming the field.
//   - The object key layout (ObjectKey) and the spellings of its parts,
//     kept within S3's key limit (FitKey); the redaction of a key's
//     address from error text in any encoding (RedactKey, ScrubKey).
//   - The polling wait policy.
//   - The wire types of the state machines (Job, ExportOutput, Item,
//     BatchOutput, …), read back by the HTTP API.
//   - AvePoint's time layout and the one percent encoder.
//
// It imports no AWS SDK and no AvePoint code, so every function can link
// it for free.
package request
