// Package api is the HTTP API in front of the state machines:
//
//	POST /exports        start an export (one user or a batch); 202
//	GET  /exports/{id}   its status, progress, report locations or error
//
// It is an http.Handler, so it runs the same under API Gateway (see
// LambdaHandler) and in tests. Request bodies are validated by the same
// code the state machines run (request.ParseBatch), and every error is JSON
// {"error": "<Name>", "message": "...", "field": "..."} that never carries
// internal details (ARNs, SDK messages, stack traces): those are logged.
package api
