// Package avesim is a self-contained fake of the AvePoint Insights Graph API
// (export, job status, report file, the users summary) and of its OAuth 2.0 token endpoint.
//
// It is strict on purpose: wherever the real API has a trap (the email path
// segment percent-encoded twice, the exact time format, the jwt-bearer client
// assertion), the fake rejects the mistake instead of tolerating it, so a
// client that passes against avesim is unlikely to fail against AvePoint for
// the same reason. One handler serves both the API and the token endpoint.
package avesim
