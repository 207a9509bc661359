// Package export is the start and check steps of the export state
// machine: StartExport validates the execution input and starts an
// AvePoint export job; CheckJob polls it and sets the next wait. It also
// builds the AvePoint client every step that calls AvePoint shares
// (NewClient), so the store step (package report) uses the same one.
package export
