// Package avepoint is a client for the AvePoint Graph API's Insights export
// calls: start a user-activity export, poll its job, stream the report; and
// list the tenant's users (users.go), whose paging AvePoint documents in
// contradictory ways.
package avepoint
