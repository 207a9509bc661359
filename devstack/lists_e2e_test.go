package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/batch"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/avesim"
	"github.com/insights-export/insights-export/internal/testing/badinput"
	"github.com/insights-export/insights-export/internal/userlist"
)

// listUsers is how many users the usersFrom run exports end to end.
const listUsers = 2000

// listConcurrency is the run's MaxConcurrency, the job slots and the
// simulator's concurrent jobs: enough users in flight to keep each
// function's RIE (one invocation at a time) busy.
const listConcurrency = 12

func putListObject(t *testing.T, st *Stack, key string, body []byte) {
	t.Helper()
	if _, err := st.S3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(st.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// A usersFrom CSV of 2,000 users (an Entra ID-like export) runs through
// statemachine/batch.asl.json: PrepareBatch reads the list from S3, every
// user is exported once by its own child execution (the simulator's own
// job list says so), and the manifest has every user in the list's order
// and says where the list came from.
func TestBatchUsersFromTwoThousandUsers(t *testing.T) {
	st := startTestStack(t, avesim.Options{PollsToFinish: -1, ReportRows: -1, MaxConcurrentJobs: listConcurrency},
		StackOptions{Env: map[string]string{"MAX_CONCURRENCY": fmt.Sprint(listConcurrency), "POLL_MIN_SECONDS": "1"},
			Bootstraps: batchBootstraps(t), Batch: true, JobSlots: listConcurrency})

	var csv bytes.Buffer
	csv.WriteString("\ufeffdisplayName,userPrincipalName,department\r\n")
	users := make([]string, listUsers)
	for i := range users {
		users[i] = fmt.Sprintf("list.user%04d@contoso.com", i)
		// Mixed case in the list, as directories export it: the run
		// exports the lower-cased UPN.
		fmt.Fprintf(&csv, "\"User %d, Test\",List.User%04d@Contoso.com,Dept %d\r\n", i, i, i%7)
	}
	putListObject(t, st, "lists/e2e-users.csv", csv.Bytes())

	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	began := time.Now()
	exec, err := st.RunBatch(ctx, RunOptions{Input: map[string]any{"usersFrom": "lists/e2e-users.csv",
		"startTime": "2026-10-01T00:00:00", "finishTime": "2026-10-02T00:00:00"},
		WaitOverride: 20 * time.Millisecond, RetryOverride: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	out, ok := BatchOutputOf(exec)
	if exec.Status != StatusSucceeded || !ok {
		t.Fatalf("execution %s: %s %s\n%s", exec.Status, exec.Error, exec.Cause, tailLines(st.Logs(), 40))
	}
	t.Logf("%d users from a usersFrom CSV in %s (%.0f ms a user), peak %d concurrent AvePoint jobs",
		listUsers, took.Round(time.Second), float64(took.Milliseconds())/listUsers, st.Sim.Server.PeakConcurrentJobs())

	// AvePoint's own account: one job per listed user, each for the window.
	jobs := map[string]int{}
	for _, j := range st.Sim.Server.Jobs() {
		jobs[j.Email]++
		if j.StartTime != "2026-10-01T00:00:00" || j.FinishTime != "2026-10-02T00:00:00" || j.State != "finished" {
			t.Errorf("job %+v", j)
		}
	}
	if len(jobs) != listUsers {
		t.Errorf("AvePoint ran jobs for %d users, want %d", len(jobs), listUsers)
	}
	for _, u := range users {
		if jobs[u] != 1 {
			t.Errorf("%s: %d jobs, want 1", u, jobs[u])
		}
	}
	if out.Counts != (request.Counts{Users: listUsers, Succeeded: listUsers}) {
		t.Errorf("counts %+v", out.Counts)
	}
	// The output stays under Step Functions' limit: 2,000 results do not
	// fit, the manifest has them all.
	raw, _ := json.Marshal(out)
	if len(raw) > 256<<10 || out.ResultsOmitted == 0 || len(out.Results)+out.ResultsOmitted != listUsers {
		t.Errorf("output of %d bytes, %d results, %d omitted", len(raw), len(out.Results), out.ResultsOmitted)
	}
	var man batch.Manifest
	if err := json.Unmarshal(getObject(t, st, out.Manifest.Key), &man); err != nil {
		t.Fatal(err)
	}
	src := man.Source
	if src == nil || src.Kind != batch.SourceUsersFrom || src.Object != "s3://"+st.Bucket+"/lists/e2e-users.csv" || src.Format != "csv" || src.Users != listUsers ||
		man.Request.UsersFrom != "lists/e2e-users.csv" || man.Counts != out.Counts || len(man.Results) != listUsers {
		t.Fatalf("manifest source %+v, request %+v, counts %+v, %d results", src, man.Request, man.Counts, len(man.Results))
	}
	for i, r := range man.Results {
		want := request.ObjectKey(st.Prefix, request.Query{Email: users[i], StartTime: "2026-10-01T00:00:00", FinishTime: "2026-10-02T00:00:00"})
		if r.Email != users[i] || r.Status != request.StatusSucceeded || r.Key != want {
			t.Fatalf("manifest result %d: %+v, want %s stored at %s", i, r, users[i], want)
		}
	}
	run := strings.TrimSuffix(out.Manifest.Key, "/manifest.json")
	if leak := badinput.Leaks(string(getObject(t, st, run+"/plan.json")), users[:50]...); leak != "" {
		t.Errorf("plan.json copies the list (%q)", leak)
	}
}

// Every list a run cannot export fails it with a ValidationError on
// usersFrom that says why, before any AvePoint call and before any export
// execution starts.
func TestBatchUsersFromRefusesBadLists(t *testing.T) {
	st := startBatchStack(t, avesim.Options{}, nil)
	putListObject(t, st, "lists/bad-line.txt", []byte("a@contoso.com\nb@contoso.com\nmegan.bowen@contoso\n"))
	putListObject(t, st, "lists/duplicate.csv", []byte("upn\nmegan.bowen@contoso.com\nb@contoso.com\nMegan.Bowen@Contoso.com\n"))
	putListObject(t, st, "lists/empty.csv", []byte("upn,displayName\r\n\r\n"))
	putListObject(t, st, "lists/no-column.csv", []byte("name,mail\nMegan,megan.bowen@contoso.com\n"))
	// One byte past the limit (blank lines after one user): refused by
	// its size before it is read.
	big := bytes.Repeat([]byte("\n"), userlist.MaxBytes+1)
	copy(big, "megan.bowen@contoso.com\n")
	putListObject(t, st, "lists/oversized.txt", big)
	rows := []struct{ name, usersFrom, reason string }{
		{"missing object", "lists/none.csv", "cannot be read: there is no such object, or PrepareBatch may not read it"},
		{"missing bucket", "s3://insights-export-no-such-bucket/x.csv", "cannot be read"},
		{"oversized", "lists/oversized.txt", fmt.Sprintf("is %d bytes; a list is at most 64 MiB", userlist.MaxBytes+1)},
		{"bad line", "lists/bad-line.txt", "line 3: domain must have a dot"},
		{"duplicate line", "lists/duplicate.csv", "line 4 repeats line 2 (user principal names are case-insensitive)"},
		{"empty", "lists/empty.csv", "lists no users"},
		{"no user column", "lists/no-column.csv", "none is named upn, email or loginName"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			exec, _ := runBatch(t, st, map[string]any{"usersFrom": row.usersFrom})
			var cause struct{ ErrorType, ErrorMessage string }
			_ = json.Unmarshal([]byte(exec.Cause), &cause)
			if exec.Status != StatusFailed || exec.Error != "ValidationError" || !strings.HasPrefix(cause.ErrorMessage, "invalid usersFrom: ") ||
				!strings.Contains(cause.ErrorMessage, row.reason) {
				t.Fatalf("got %s %s %s, want ValidationError on usersFrom: …%s…", exec.Status, exec.Error, exec.Cause, row.reason)
			}
			if leak := badinput.Leaks(exec.Cause, "megan.bowen@contoso.com", "megan.bowen"); leak != "" {
				t.Errorf("the cause spells %q", leak)
			}
			// The run failed at PrepareBatch: no export execution started.
			if children := childExecutions(exec.Events); len(children) != 0 {
				t.Errorf("%d child executions", len(children))
			}
		})
	}
	if calls := st.Sim.Server.Calls(); len(calls) != 0 {
		t.Errorf("%d calls reached AvePoint", len(calls))
	}
}

// tailLines is the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
