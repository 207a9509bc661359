// Package discover is the DiscoverUsers function (functions/discoverusers):
// the step that turns a batch input's "allUsers" into a user list.
//
// Input, as the PrepareBatch state's: {"input": <the batch execution
// input>, "execution": {"id", "name", "startTime"}} ($$.Execution). The
// input is validated with request.ParseBatch (any refusal is a
// ValidationError, before any AvePoint call) and must use allUsers.
//
// It lists the tenant's users (GET /insights/users/summary, through
// avepoint.Client.ListUsers, whatever paging AvePoint turns out to use),
// keeps those the filter keeps (request.UserFilter.Keep: status, guests,
// domains, exclude; loginName is the identity, never email) and writes
// them as a JSON array of lower-case user principal names, in listing
// order, to <REPORT_PREFIX>/runs/<UTC date>/<execution name>/users.json —
// the run's own folder (request.RunPrefix).
//
// Output, small whatever the tenant:
//
//	{"usersFrom": "s3://<bucket>/<key>",
//	 "summary": {"listed": n, "kept": n,
//	             "dropped": {"status": n, "guest": n, "domain": n, "excluded": n},
//	             "duplicates": n, "pages": n,
//	             "paging": "startPage-from-0 | startPage-from-1 | nextLink-url | nextLink-token"}}
//
// listed counts distinct users (kept + dropped); duplicates, results that
// named a user again. A selection of nobody is a ValidationError ("allUsers
// selects no user: …" with the counts), not an empty run. A listing that
// would not end (a repeated page, a nextLink seen before, more than
// USERS_MAX_PAGES pages) or a result without a usable loginName is a
// ProtocolError; throttling and 5xx answers are retried by the client and,
// past its retries, are ThrottledError and TransientError. Errors reach
// the runtime through failure.Handler. No log line or error names a user.
//
// Environment: AVEPOINT_SECRET_ID, AVEPOINT_REGION / AVEPOINT_API_URL /
// AVEPOINT_TOKEN_URL (as the export functions read them), REPORT_BUCKET,
// REPORT_PREFIX, KMS_KEY_ID, S3_FORCE_PATH_STYLE, USERS_MAX_PAGES (default
// avepoint.DefaultMaxUserPages), LOG_LEVEL.
//
// A listing runs in one invocation: 200,000 users are 2,000 calls, so the
// function's timeout must leave room for them (minutes, not seconds).
package discover
