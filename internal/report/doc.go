// Package report is the store step of the export state machine: it
// streams a finished job's report from AvePoint into S3, verifying the
// length and the ZIP structure while it streams, so a damaged report fails
// the upload before it completes and never becomes an object.
package report
