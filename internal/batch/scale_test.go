package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
)

// memS3 is an S3 of one bucket in memory, multipart uploads included,
// that records what it was asked. get, when set, answers GetObject of
// the marks (state/…) instead.
type memS3 struct {
	mu       sync.Mutex
	objects  map[string][]byte
	uploads  map[string]map[int32][]byte
	ops      []string
	get      func(key string) (*s3.GetObjectOutput, error)
	inFlight atomic.Int32
	peak     atomic.Int32
}

func newMemS3() *memS3 {
	return &memS3{objects: map[string][]byte{}, uploads: map[string]map[int32][]byte{}}
}

func (m *memS3) op(name, key string) {
	m.mu.Lock()
	m.ops = append(m.ops, name+" "+key)
	m.mu.Unlock()
}

func (m *memS3) count(prefix string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, o := range m.ops {
		if strings.HasPrefix(o, prefix) {
			n++
		}
	}
	return n
}

func (m *memS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	key := aws.ToString(in.Key)
	if m.get != nil && strings.HasPrefix(key, "state/") {
		n := m.inFlight.Add(1)
		defer m.inFlight.Add(-1)
		for p := m.peak.Load(); n > p && !m.peak.CompareAndSwap(p, n); p = m.peak.Load() {
		}
		return m.get(key)
	}
	m.mu.Lock()
	b, ok := m.objects[key]
	m.mu.Unlock()
	if !ok {
		return nil, &types.NoSuchKey{}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(b)), ContentLength: aws.Int64(int64(len(b)))}, nil
}

func (m *memS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	b, _ := io.ReadAll(in.Body)
	m.op("PutObject", aws.ToString(in.Key))
	m.mu.Lock()
	m.objects[aws.ToString(in.Key)] = b
	m.mu.Unlock()
	return &s3.PutObjectOutput{}, nil
}

func (m *memS3) CreateMultipartUpload(_ context.Context, in *s3.CreateMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	m.op("CreateMultipartUpload", aws.ToString(in.Key))
	m.mu.Lock()
	defer m.mu.Unlock()
	id := aws.ToString(in.Key) + "#upload"
	m.uploads[id] = map[int32][]byte{}
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String(id)}, nil
}

func (m *memS3) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	b, _ := io.ReadAll(in.Body)
	m.op("UploadPart", aws.ToString(in.Key))
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uploads[aws.ToString(in.UploadId)][aws.ToInt32(in.PartNumber)] = b
	return &s3.UploadPartOutput{ETag: aws.String(fmt.Sprint(len(b)))}, nil
}

func (m *memS3) CompleteMultipartUpload(_ context.Context, in *s3.CompleteMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	m.op("CompleteMultipartUpload", aws.ToString(in.Key))
	m.mu.Lock()
	defer m.mu.Unlock()
	var all []byte
	for _, p := range in.MultipartUpload.Parts {
		all = append(all, m.uploads[aws.ToString(in.UploadId)][aws.ToInt32(p.PartNumber)]...)
	}
	delete(m.uploads, aws.ToString(in.UploadId))
	m.objects[aws.ToString(in.Key)] = all
	return &s3.CompleteMultipartUploadOutput{}, nil
}

func (m *memS3) AbortMultipartUpload(_ context.Context, in *s3.AbortMultipartUploadInput, _ ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	m.op("AbortMultipartUpload", aws.ToString(in.Key))
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.uploads, aws.ToString(in.UploadId))
	return &s3.AbortMultipartUploadOutput{}, nil
}

func (m *memS3) object(t *testing.T, key string) []byte {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	if !ok {
		t.Fatalf("%s was not written", key)
	}
	return b
}

func userList(n int) (string, []string) {
	var b strings.Builder
	users := make([]string, n)
	b.WriteString("upn\n")
	for i := range n {
		users[i] = fmt.Sprintf("user%06d@contoso.com", i)
		b.WriteString(users[i] + "\n")
	}
	return b.String(), users
}

// markAnswer is a mark read as S3 answers it: every third user has none,
// every fifth (of the others) is up to date, the rest are a day behind;
// answers take up to 2 ms so that they arrive out of order.
func markAnswer(key string) (*s3.GetObjectOutput, error) {
	time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
	var i int
	if _, err := fmt.Sscanf(key, "state/watermarks/user=user%06d@contoso.com/", &i); err != nil {
		return nil, fmt.Errorf("unexpected key %s", key)
	}
	finish := "2026-11-24T00:00:00"
	switch {
	case i%3 == 0:
		return nil, &types.NoSuchKey{}
	case i%5 == 0:
		finish = "2026-11-25T00:00:00"
	}
	b, _ := json.Marshal(Mark{Email: fmt.Sprintf("user%06d@contoso.com", i), FinishTime: finish})
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(b))}, nil
}

const incrementalDay = `"window":{"period":"day","incremental":true,"at":"2026-11-25T00:10:00Z"}`

// 60,000 listed users: the marks are read many at a time, never more
// than markReaders, and answered out of order, yet the work list and
// users.json are in the list's order, and both go up in parts as they
// are written (a work list of this size is past one part).
func TestPrepareStreamsAListInOrder(t *testing.T) {
	const n = 60_000
	fake := newMemS3()
	list, users := userList(n)
	fake.objects["lists/all.csv"] = []byte(list)
	fake.get = markAnswer
	st := &storage.Objects{Client: fake, Bucket: "b"}
	out, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"usersFrom":"lists/all.csv",`+incrementalDay+`}`)
	if err != nil {
		t.Fatal(err)
	}
	if peak := fake.peak.Load(); peak > markReaders || peak < markReaders/2 {
		t.Errorf("%d mark reads at once, want up to %d and many", peak, markReaders)
	}
	var items []request.Item
	if err := json.Unmarshal(fake.object(t, out.ItemsKey), &items); err != nil {
		t.Fatal(err)
	}
	var planned []PlannedUser
	if err := json.Unmarshal(fake.object(t, out.RunPrefix+"/users.json"), &planned); err != nil {
		t.Fatal(err)
	}
	var wantItems []string
	for i, u := range users {
		upToDate := i%3 != 0 && i%5 == 0
		if !upToDate {
			wantItems = append(wantItems, u)
		}
		if p := planned[i]; p.Email != u || p.UpToDate != upToDate || (p.Mark == "") != (i%3 == 0) {
			t.Fatalf("users.json[%d] = %+v", i, p)
		}
	}
	var got []string
	for _, it := range items {
		got = append(got, it.Email)
	}
	if !slices.Equal(got, wantItems) || out.Users != len(wantItems) || out.UpToDate != n-len(wantItems) || len(planned) != n {
		t.Fatalf("%d items (%d wanted), %d planned; prepared %+v", len(got), len(wantItems), len(planned), out)
	}
	if parts := fake.count("UploadPart " + out.ItemsKey); parts < 2 || fake.count("PutObject "+out.ItemsKey) != 0 {
		t.Errorf("the work list went up in %d parts; ops %d", parts, len(fake.ops))
	}
}

// A mark that cannot be read late in the run fails it with that
// StorageError, promptly, and leaves neither the work list nor an
// unfinished upload behind.
func TestPrepareFailingHalfwayLeavesNothing(t *testing.T) {
	const n, failAt = 80_000, 70_000
	fake := newMemS3()
	list, _ := userList(n)
	fake.objects["lists/all.csv"] = []byte(list)
	var reads atomic.Int32
	fake.get = func(key string) (*s3.GetObjectOutput, error) {
		if reads.Add(1) == failAt {
			return nil, errors.New("S3 is having a bad day")
		}
		return markAnswer(key)
	}
	st := &storage.Objects{Client: fake, Bucket: "b"}
	done := make(chan error, 1)
	go func() {
		_, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"usersFrom":"lists/all.csv",`+incrementalDay+`}`)
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("PrepareBatch did not return after a failed mark read")
	}
	var se *failure.StorageError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "bad day") {
		t.Fatalf("got %v", err)
	}
	// An incremental run holds its work list until every user is decided
	// (longest first), so the failure may come before any upload began;
	// whatever began is aborted.
	if fake.count("AbortMultipartUpload") != fake.count("CreateMultipartUpload") ||
		fake.count("CompleteMultipartUpload") != 0 || fake.count("PutObject") != 0 || len(fake.uploads) != 0 {
		t.Fatalf("ops: %d creates, %d aborts, %d completes, %d puts", fake.count("CreateMultipartUpload"), fake.count("AbortMultipartUpload"),
			fake.count("CompleteMultipartUpload"), fake.count("PutObject"))
	}
	if r := reads.Load(); r > failAt+markWindow+markReaders {
		t.Errorf("%d marks read after the failure", r-failAt)
	}
}

// The fitter keeps what fitResults kept when it had every result in
// memory: all of them when they fit, else failures first, then the rest
// in order, while they fit.
func TestFitterMatchesTheListVersion(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var results []request.Result
		for i := range r.IntN(3000) {
			st := request.StatusSucceeded
			if r.IntN(10) < round%10 {
				st = request.StatusFailed
			}
			results = append(results, request.Result{Email: fmt.Sprintf("u%d@x.io", i), Status: st, Message: strings.Repeat("m", r.IntN(300))})
		}
		budget := 1 + r.IntN(300<<10)
		got, omitted := fitResults(results, budget)
		want, wantOmitted := fitInMemory(results, budget)
		if omitted != wantOmitted || !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d (%d results, budget %d): kept %d omitted %d, want %d and %d", round, len(results), budget, len(got), omitted, len(want), wantOmitted)
		}
	}
}

// fitInMemory is fitResults as it was before the manifest was streamed.
func fitInMemory(results []request.Result, budget int) ([]request.Result, int) {
	size := func(r request.Result) int {
		b, _ := json.Marshal(r)
		return len(b) + 1
	}
	total := 0
	for _, r := range results {
		total += size(r)
	}
	if total <= budget {
		return append([]request.Result{}, results...), 0
	}
	ordered := slices.Clone(results)
	slices.SortStableFunc(ordered, func(a, b request.Result) int {
		return boolInt(a.Status != request.StatusFailed) - boolInt(b.Status != request.StatusFailed)
	})
	out := make([]request.Result, 0)
	used := 0
	for _, r := range ordered {
		n := size(r)
		if used+n > budget {
			break
		}
		used += n
		out = append(out, r)
	}
	return out, len(results) - len(out)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// 30,000 users' results from result files: the manifest lists every user
// in the list's order, written in parts, and is valid JSON one result a
// line; the output keeps failures first within its budget.
func TestManifestStreamsManyResults(t *testing.T) {
	const n = 30_000
	fake := newMemS3()
	list, users := userList(n)
	fake.objects["lists/all.csv"] = []byte(list)
	st := &storage.Objects{Client: fake, Bucket: "b"}
	out, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"usersFrom":"lists/all.csv","finishTime":"2026-11-24T00:00:00"}`)
	if err != nil {
		t.Fatal(err)
	}
	// Two result files, in an order of their own; every 100th user has
	// no result, every 10th failed.
	var files []any
	for f := range 2 {
		var children []map[string]any
		for i := n - 1 - f; i >= 0; i -= 2 {
			if i%100 == 0 {
				continue
			}
			e := succeeded(report(users[i], "", "2026-11-24T00:00:00"))
			if i%10 == 0 {
				e = map[string]any{"email": users[i], "status": "failed", "error": "States.TaskFailed", "cause": "x"}
			}
			o, _ := json.Marshal(e)
			children = append(children, map[string]any{"Status": "SUCCEEDED", "Output": string(o), "Input": "{}"})
		}
		key := fmt.Sprintf("%s/r/SUCCEEDED_%d.json", out.ResultsPrefix, f)
		fake.objects[key], _ = json.Marshal(children)
		files = append(files, map[string]any{"Key": key})
	}
	fake.objects[out.ResultsPrefix+"/r/manifest.json"], _ = json.Marshal(map[string]any{"ResultFiles": map[string]any{"SUCCEEDED": files}})
	mapRaw, _ := json.Marshal(map[string]any{"ResultWriterDetails": map[string]any{"Bucket": "b", "Key": out.ResultsPrefix + "/r/manifest.json"}})
	w := &ManifestWriter{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, Log: quiet, Now: fixed("2026-11-25T12:10:00Z")}
	got, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: mapRaw})
	if err != nil {
		t.Fatal(err)
	}
	want := request.Counts{Users: n, Succeeded: n - n/10, Failed: n / 10}
	if got.Counts != want {
		t.Fatalf("counts %+v, want %+v", got.Counts, want)
	}
	raw := fake.object(t, out.ManifestKey)
	var man Manifest
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	for i, r := range man.Results {
		wantErr := ""
		switch {
		case i%100 == 0:
			wantErr = "MissingResult"
		case i%10 == 0:
			wantErr = "States.TaskFailed"
		}
		if r.Email != users[i] || r.Error != wantErr {
			t.Fatalf("manifest result %d: %+v", i, r)
		}
	}
	if len(man.Results) != n || man.Counts != want || fake.count("UploadPart "+out.ManifestKey) < 2 {
		t.Fatalf("%d results, counts %+v, %d parts", len(man.Results), man.Counts, fake.count("UploadPart "+out.ManifestKey))
	}
	if lines := bytes.Count(raw, []byte("\n    {\"email\"")); lines != n {
		t.Errorf("%d results on lines of their own", lines)
	}
	b, _ := json.Marshal(got)
	if len(b) > 256<<10 || got.ResultsOmitted == 0 || len(got.Results)+got.ResultsOmitted != n || got.Results[0].Status != request.StatusFailed {
		t.Fatalf("output of %d bytes, %d results, %d omitted", len(b), len(got.Results), got.ResultsOmitted)
	}
}

// Result files that are not JSON arrays of child executions are a
// ProtocolError naming the file; users.json that is not PrepareBatch's
// is one too.
func TestManifestRefusesMalformedFiles(t *testing.T) {
	fake := newMemS3()
	st := &storage.Objects{Client: fake, Bucket: "b"}
	out, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"emails":["a@x.io"],"finishTime":"2026-11-24T00:00:00"}`)
	if err != nil {
		t.Fatal(err)
	}
	w := &ManifestWriter{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, Log: quiet, Now: fixed("2026-11-25T12:10:00Z")}
	fake.objects["r/manifest.json"] = []byte(`{"ResultFiles":{"SUCCEEDED":[{"Key":"r/SUCCEEDED_0.json"}]}}`)
	mapRaw := json.RawMessage(`{"ResultWriterDetails":{"Bucket":"b","Key":"r/manifest.json"}}`)
	for _, body := range []string{`{"not":"an array"}`, `[{"Status":"SUCCEEDED"},`, `[{"Status":7}]`, `[] []`} {
		fake.objects["r/SUCCEEDED_0.json"] = []byte(body)
		_, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: mapRaw})
		var pe *failure.ProtocolError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "r/SUCCEEDED_0.json") {
			t.Errorf("%s: got %v", body, err)
		}
	}
	fake.objects["r/SUCCEEDED_0.json"] = []byte(`[]`)
	fake.objects[out.RunPrefix+"/users.json"] = []byte(`{"users":1}`)
	_, err = w.Handle(t.Context(), ManifestInput{Prepared: out, Map: mapRaw})
	var pe *failure.ProtocolError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "users.json") {
		t.Errorf("users.json: got %v", err)
	}
}

// A spool a timed-out WriteManifest left in /tmp (Lambda keeps it for the
// next invocation) is removed by the next one; a fresh one is not (it may
// be another's, in a test binary).
func TestSpoolRemovesStaleSpools(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	stale, fresh := filepath.Join(dir, "insights-export-results-1.jsonl"), filepath.Join(dir, "insights-export-results-2.jsonl")
	for _, f := range []string{stale, fresh} {
		if err := os.WriteFile(f, []byte("{}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	sp, err := newSpool()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("the stale spool is still there")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("the fresh spool was removed")
	}
	sp.remove()
	if _, err := os.Stat(sp.f.Name()); !os.IsNotExist(err) {
		t.Error("the spool outlived its invocation")
	}
}
