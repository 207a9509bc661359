// Package depcheck holds no code, only a test: every function's bootstrap
// links only what that function calls. A cross-link that pulls the
// AvePoint stack into the API, or the transfer manager into the check
// step, costs every cold start; this test fails at the import that did it.
package depcheck
