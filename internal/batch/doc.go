// Package batch is the many-users side of the workflow: the steps around
// the batch state machine's Map — PrepareBatch (validate, resolve every
// user's window, write the work list) and WriteManifest (read the Map's
// results, advance incremental high-water marks, write the manifest) —
// and the marks themselves. It talks to S3 only, never to AvePoint.
package batch
