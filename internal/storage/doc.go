// Package storage is every S3 object the functions write or read: the
// small JSON objects of a batch run (plan, work list, manifest, marks)
// here, and report streaming in storage/upload, apart so that the
// functions that never upload a report do not link the transfer manager.
package storage
