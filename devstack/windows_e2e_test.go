package devstack

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/batch"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/schedule"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

// Long catch-up windows (issue 12, section 4): a user 30 days behind is
// exported in 5 windows of at most 7 days (MAX_WINDOW_DAYS' default),
// each stored at its own key, the mark moved after each; a user whose
// window 3 fails keeps windows 1 and 2 and a mark at the end of window 2,
// and the next run exports windows 3, 4 and 5 only.
func TestBatchCatchesUpInWindows(t *testing.T) {
	const behind, broken = "far.behind@contoso.com", "window.three@contoso.com"
	st := startBatchStack(t, avesim.Options{PollsToFinish: 1, Plans: map[string]avesim.JobPlan{
		broken: {Outcome: avesim.Fail, Message: "window 3 failed", OutcomeJobs: []int{3}},
	}}, map[string]string{"STATE_PREFIX": "state", "FAIL_ON_USER_FAILURES": "false"})

	at := time.Now().UTC()
	end := schedule.Spec{Period: schedule.Day}.Floor(at)
	mark := end.AddDate(0, 0, -30)
	day := 24 * time.Hour
	var windows []string // the 5 expected windows, "start--finish"
	for _, w := range [][2]time.Time{
		{mark, mark.Add(7 * day)}, {mark.Add(7 * day), mark.Add(14 * day)}, {mark.Add(14 * day), mark.Add(21 * day)},
		{mark.Add(21 * day), mark.Add(28 * day)}, {mark.Add(28 * day), end},
	} {
		windows = append(windows, request.FormatTime(w[0])+"--"+request.FormatTime(w[1]))
	}
	markKey := func(email string) string { return "state/watermarks/user=" + email + "/events=all.json" }
	for _, u := range []string{behind, broken} {
		b, _ := json.Marshal(batch.Mark{Email: u, FinishTime: request.FormatTime(mark)})
		if _, err := st.S3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(st.Bucket), Key: aws.String(markKey(u)),
			Body: strings.NewReader(string(b))}); err != nil {
			t.Fatal(err)
		}
	}
	readMark := func(email string) string {
		var m batch.Mark
		if err := json.Unmarshal(getObject(t, st, markKey(email)), &m); err != nil {
			t.Fatal(err)
		}
		return m.FinishTime
	}
	// jobs are the simulator's own job list, per user, from job number from.
	jobs := func(from int) map[string][]string {
		out := map[string][]string{}
		for _, j := range st.Sim.Server.Jobs()[from:] {
			out[j.Email] = append(out[j.Email], j.StartTime+"--"+j.FinishTime)
		}
		return out
	}
	reportKey := func(email, window string) string {
		start, finish, _ := strings.Cut(window, "--")
		return request.ObjectKey(st.Prefix, request.Query{Email: email, StartTime: start, FinishTime: finish})
	}
	input := map[string]any{"emails": []string{behind, broken},
		"window": map[string]any{"period": "day", "incremental": true, "at": at.Format(time.RFC3339)}}
	result := func(out request.BatchOutput, email string) request.Result {
		for _, r := range out.Results {
			if r.Email == email {
				return r
			}
		}
		t.Fatalf("no result for %s in %+v", email, out.Results)
		return request.Result{}
	}

	exec, out := runBatch(t, st, input)
	if exec.Status != StatusSucceeded || out.Counts != (request.Counts{Users: 2, Succeeded: 1, Failed: 1}) {
		t.Fatalf("run 1: %s %s %s %+v", exec.Status, exec.Error, exec.Cause, out.Counts)
	}
	got := jobs(0)
	if !slices.Equal(got[behind], windows) {
		t.Errorf("run 1 exported for %s\n%v\nwant the 5 windows\n%v", behind, got[behind], windows)
	}
	if !slices.Equal(got[broken], windows[:3]) {
		t.Errorf("run 1 exported for %s %v, want windows 1 to 3 (3 failed) %v", broken, got[broken], windows[:3])
	}
	keys := bucketKeys(t, st)
	var size int64
	for _, w := range windows {
		k := reportKey(behind, w)
		if !slices.Contains(keys, k) {
			t.Errorf("no report at %s", k)
			continue
		}
		size += int64(len(getObject(t, st, k)))
	}
	for i, w := range windows {
		if stored := slices.Contains(keys, reportKey(broken, w)); stored != (i < 2) {
			t.Errorf("%s window %d stored: %v", broken, i+1, stored)
		}
	}
	r := result(out, behind)
	if r.Status != request.StatusSucceeded || r.Windows == nil || *r.Windows != (request.WindowCount{Total: 5, Stored: 5}) ||
		r.Key != reportKey(behind, windows[4]) || r.Bytes != size || r.StartTime != request.FormatTime(mark) ||
		r.FinishTime != request.FormatTime(end) || r.Watermark != request.FormatTime(end) {
		t.Errorf("run 1 result of %s: %+v (windows %+v), want 5 of 5 windows, %d bytes", behind, r, r.Windows, size)
	}
	r = result(out, broken)
	if r.Status != request.StatusFailed || r.Error != "JobFailedError" || r.Windows == nil ||
		*r.Windows != (request.WindowCount{Total: 5, Stored: 2}) || r.Watermark != request.FormatTime(mark.Add(14*day)) {
		t.Errorf("run 1 result of %s: %+v (windows %+v), want JobFailedError after 2 of 5 windows", broken, r, r.Windows)
	}
	if m := readMark(behind); m != request.FormatTime(end) {
		t.Errorf("%s: mark %s after run 1, want the end %s", behind, m, request.FormatTime(end))
	}
	if m := readMark(broken); m != request.FormatTime(mark.Add(14*day)) {
		t.Errorf("%s: mark %s after run 1, want the end of window 2", broken, m)
	}

	// The next run resumes from window 3, at the same cuts.
	n := len(st.Sim.Server.Jobs())
	exec, out = runBatch(t, st, input)
	if exec.Status != StatusSucceeded || out.Counts != (request.Counts{Users: 2, Succeeded: 1, UpToDate: 1}) {
		t.Fatalf("run 2: %s %s %s %+v", exec.Status, exec.Error, exec.Cause, out.Counts)
	}
	got = jobs(n)
	if len(got) != 1 || !slices.Equal(got[broken], windows[2:]) {
		t.Errorf("run 2 exported %v, want only %s's windows 3 to 5 %v", got, broken, windows[2:])
	}
	if r := result(out, broken); r.Status != request.StatusSucceeded || r.Windows == nil || *r.Windows != (request.WindowCount{Total: 3, Stored: 3}) {
		t.Errorf("run 2 result of %s: %+v (windows %+v)", broken, r, r.Windows)
	}
	if m := readMark(broken); m != request.FormatTime(end) {
		t.Errorf("%s: mark %s after run 2, want the end", broken, m)
	}
	keys = bucketKeys(t, st)
	for _, w := range windows {
		if k := reportKey(broken, w); !slices.Contains(keys, k) {
			t.Errorf("after run 2 no report at %s", k)
		}
	}
}
