// Package avepoint is a client for the AvePoint Graph API's Insights export
// calls: start a user-activity export, poll its job, stream the report.
package avepoint
