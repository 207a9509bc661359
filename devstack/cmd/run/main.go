// Command run is `make run`: the deployed shape of insights-export on one
// machine, with no AWS account. It starts the AvePoint simulator (or points
// at a real tenant), moto_server for S3 and Secrets Manager, the three
// function bootstraps each under the Lambda Runtime Interface Emulator, and
// executes statemachine/export.asl.json under a real ASL interpreter. It
// prints each state as it runs, then where the report was stored. Given
// -input more than once it runs those executions at the same time against
// the one stack, sharing its AvePoint job slots, and fails if any fails.
// It ends by printing the most AvePoint jobs the simulator saw running at
// once.
package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/devstack"
	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		email      = flag.String("email", "alex.wilber@contoso.onmicrosoft.com", "user principal name to export")
		start      = flag.String("start", "", "startTime, yyyy-MM-ddTHH:mm:ss UTC (optional)")
		finish     = flag.String("finish", "", "finishTime, yyyy-MM-ddTHH:mm:ss UTC (optional)")
		jobSlots   = flag.Int("job-slots", devstack.DefaultJobSlots, "AvePointJobSlots: AvePoint jobs the stack runs at once")
		jobTime    = flag.Duration("sim-job-duration", 0, "simulator: a job runs this long (0: it ends after -sim-polls polls)")
		mapLimit   = flag.Int("max-concurrency", 0, "batch: users a run has in flight at once (MaxConcurrency; 0: the template's default)")
		out        = flag.String("out", "dist/run", "folder the stored report is downloaded to")
		wait       = flag.Duration("wait", 200*time.Millisecond, "every Wait state lasts this long (0: the real waits)")
		polls      = flag.Int("sim-polls", 3, "simulator: status polls a job stays in progress")
		rows       = flag.Int("sim-rows", 200, "simulator: activity rows in the report")
		real       = flag.Bool("real", false, "use a real AvePoint tenant: credentials from AVEPOINT_CLIENT_ID and AVEPOINT_CLIENT_SECRET or AVEPOINT_CERTIFICATE_FILE")
		region     = flag.String("region", "us", "real tenant: AvePoint region code")
		apiURL     = flag.String("api-url", "", "real tenant: API base URL (overrides -region)")
		tokenURL   = flag.String("token-url", "", "real tenant: token URL (overrides -region)")
		verbose    = flag.Bool("v", false, "print the functions' log lines")
		faultName  = flag.String("fault", "", "simulate a fault for the input's users (-fault list shows them)")
		backfill   = flag.Bool("backfill", false, "after the run, convert every stored report again with the backfill state machine")
		shapeName  = flag.String("report-shape", "", "simulator: report workbook shape (-report-shape list shows them)")
		eventTypes stringList
		inputFiles stringList
	)
	flag.Var(&eventTypes, "event-type", "event type filter (repeatable)")
	flag.Var(&inputFiles, "input", "execution input JSON file (e.g. events/single-user.json); overrides -email/-start/-finish/-event-type. Repeat it to run several executions at the same time against one stack")
	flag.Parse()
	if *faultName == "list" {
		printFaults()
		return nil
	}
	if *shapeName == "list" {
		printShapes()
		return nil
	}
	shape, err := avesim.ParseReportShape(*shapeName)
	if err != nil {
		return fmt.Errorf("-report-shape: %w", err)
	}
	if *real && *shapeName != "" {
		return errors.New("-report-shape needs the simulator, not -real")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	files := []string(inputFiles)
	if len(files) == 0 {
		files = []string{""} // the input -email, -start, -finish and -event-type make
	}
	var inputs []json.RawMessage
	for _, f := range files {
		in, err := buildInput(f, *email, *start, *finish, eventTypes)
		if err != nil {
			return err
		}
		inputs = append(inputs, in)
	}
	if *jobSlots < 1 {
		return errors.New("-job-slots must be at least 1")
	}
	opts := devstack.StackOptions{Env: map[string]string{"LOG_LEVEL": "info"}, JobSlots: *jobSlots}
	if *mapLimit > 0 {
		opts.Env["MAX_CONCURRENCY"] = strconv.Itoa(*mapLimit)
	}
	if *verbose {
		opts.FunctionLogs = prefixWriter{w: os.Stderr, prefix: "  | "}
	}
	if *real {
		creds, err := realCredentials()
		if err != nil {
			return err
		}
		ep, err := avepoint.ResolveEndpoints(*region, *apiURL, *tokenURL)
		if err != nil {
			return err
		}
		opts.Real = &devstack.RealTenant{APIURL: ep.APIURL, TokenURL: ep.TokenURL, Credentials: creds}
		if !isFlagSet("wait") {
			*wait = 0 // a real job takes real time
		}
	} else {
		opts.Simulator = &avesim.Options{ClientID: "local-client", ClientSecret: "local-secret", PollsToFinish: *polls, JobDuration: *jobTime, ReportRows: *rows, ReportShape: shape}
	}

	// Many users, or a rolling window: the batch state machine.
	for _, in := range inputs {
		opts.Batch = opts.Batch || isBatchInput(in)
	}
	afterStart, stopFault, err := setupFault(ctx, *faultName, &opts, inputs)
	if err != nil {
		return err
	}
	defer stopFault()
	began := time.Now()
	fmt.Println("starting: simulator, moto_server, the functions under the Lambda RIE (building bootstraps)...")
	if err := devstack.EnsureTools(ctx); err != nil {
		return err
	}
	st, err := devstack.StartStack(ctx, opts)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := afterStart(st); err != nil {
		return err
	}
	if st.Sim != nil {
		fmt.Printf("  AvePoint simulator  %s\n", st.Sim.URL)
	}
	fmt.Printf("  moto_server         %s (bucket %s)\n", st.Moto.URL, st.Bucket)
	for _, fn := range slices.Concat(devstack.Functions, devstack.BatchFunctions) {
		if f := st.Functions[fn.Dir]; f != nil {
			fmt.Printf("  %-19s %s\n", fn.Dir, f.InvokeURL())
		}
	}
	// The last line, whatever happens: what AvePoint itself counted.
	defer printPeak(st)
	if len(inputs) > 1 {
		fmt.Printf("ready in %s; %d executions at the same time\n\n", time.Since(began).Round(time.Millisecond), len(inputs))
		return runMany(ctx, st, inputs, *wait, began)
	}
	input := inputs[0]
	fmt.Printf("ready in %s; input %s\n\n", time.Since(began).Round(time.Millisecond), input)
	if isBatchInput(input) {
		return runBatch(ctx, st, input, *wait, began)
	}

	exec, err := st.Run(ctx, devstack.RunOptions{Input: input, WaitOverride: *wait, OnEvent: printEvent(time.Now(), "")})
	if err != nil {
		return err
	}
	printSlotCost([]*devstack.Execution{exec})
	if exec.Status != devstack.StatusSucceeded {
		return fmt.Errorf("execution %s: %s: %s", exec.Status, exec.Error, exec.Cause)
	}
	var res struct {
		Bucket, Key, JobID, SHA256 string
		Bytes                      int64
	}
	if err := json.Unmarshal(exec.Output, &res); err != nil {
		return fmt.Errorf("execution output: %w", err)
	}
	path, entries, err := download(ctx, st.S3, res.Bucket, res.Key, *out)
	if err != nil {
		return err
	}
	fmt.Printf("\nstored s3://%s/%s\n  %d bytes, sha256 %s, job %s\n", res.Bucket, res.Key, res.Bytes, res.SHA256, res.JobID)
	fmt.Printf("downloaded to %s: valid ZIP holding %s\n", path, strings.Join(entries, ", "))
	if *backfill {
		if err := runBackfill(ctx, st, *wait); err != nil {
			return err
		}
	}
	if err := showDataset(ctx, st, filepath.Join(*out, "dataset")); err != nil {
		return err
	}
	fmt.Printf("total %s\n", time.Since(began).Round(time.Millisecond))
	return nil
}

// runBackfill runs statemachine/backfill.asl.json over every stored report.
func runBackfill(ctx context.Context, st *devstack.Stack, wait time.Duration) error {
	fmt.Println("\nbackfill: converting every stored report again")
	exec, err := st.RunBackfill(ctx, devstack.RunOptions{Input: map[string]any{}, WaitOverride: wait, OnEvent: printEvent(time.Now(), "")})
	if err != nil {
		return err
	}
	if exec.Status != devstack.StatusSucceeded {
		return fmt.Errorf("backfill %s: %s: %s", exec.Status, exec.Error, exec.Cause)
	}
	fmt.Printf("backfill: %s\n", exec.Output)
	return nil
}

// showDataset downloads the dataset and prints what an analyst looks at
// first: the objects, the row count, the top event types, the first rows.
func showDataset(ctx context.Context, st *devstack.Stack, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	keys, err := st.DownloadDataset(ctx, dir)
	if err != nil {
		return err
	}
	fmt.Printf("\ndataset s3://%s/%s/activities/ (%d objects, downloaded to %s)\n", st.Bucket, devstack.DefaultDatasetPrefix, len(keys), dir)
	for i, k := range keys {
		if i == 3 && len(keys) > 4 {
			fmt.Printf("  … %d more, one per UTC day\n", len(keys)-3)
			break
		}
		fmt.Printf("  %s\n", k)
	}
	if len(keys) == 0 {
		return nil
	}
	res, err := devstack.QueryDataset(ctx, dir,
		"SELECT count(*) AS rows, count(DISTINCT row_id) AS activities, min(activity_time) AS first, max(activity_time) AS last FROM activities",
		"SELECT event_type, count(*) AS n FROM activities GROUP BY event_type ORDER BY n DESC, event_type LIMIT 5",
		"SELECT strftime(activity_time, '%Y-%m-%d %H:%M:%S') AS time, event_type, columns['object'] AS object, columns['ip_address'] AS ip FROM activities ORDER BY activity_time LIMIT 5",
	)
	if err != nil {
		return err
	}
	sum := res[0][0]
	fmt.Printf("  %v rows (%v distinct activities), %v .. %v\n", sum["rows"], sum["activities"], sum["first"], sum["last"])
	fmt.Println("  top event types:")
	for _, r := range res[1] {
		fmt.Printf("    %-24v %v\n", r["event_type"], r["n"])
	}
	fmt.Println("  first rows:")
	for _, r := range res[2] {
		fmt.Printf("    %v  %-20v %-26v %v\n", r["time"], r["event_type"], r["object"], r["ip"])
	}
	return nil
}

// printShapes lists the simulator's report shapes.
func printShapes() {
	fmt.Println("report shapes for -report-shape NAME (the simulator's workbook; same rows in each):")
	for _, sh := range avesim.ReportShapes() {
		fmt.Printf("  %-15s %s\n", sh, sh.Layout().Description)
	}
}

// isBatchInput tells a batch input ("emails", or a rolling "window") from
// a single export's.
func isBatchInput(input json.RawMessage) bool {
	var fields map[string]json.RawMessage
	if json.Unmarshal(input, &fields) != nil {
		return false
	}
	_, emails := fields["emails"]
	_, window := fields["window"]
	return emails || window
}

// runBatch runs statemachine/batch.asl.json and prints every user's result
// and the manifest.
func runBatch(ctx context.Context, st *devstack.Stack, input json.RawMessage, wait time.Duration, began time.Time) error {
	exec, err := st.RunBatch(ctx, devstack.RunOptions{Input: input, WaitOverride: wait, OnEvent: printEvent(time.Now(), "")})
	if err != nil {
		return err
	}
	printSlotCost([]*devstack.Execution{exec})
	if err := printBatch(exec); err != nil {
		return err
	}
	fmt.Printf("total %s\n", time.Since(began).Round(time.Millisecond))
	return nil
}

// printBatch prints every user's result and the manifest of a batch run.
// A run that ended in UsersFailed is printed too (its manifest is
// written), then reported as failed.
func printBatch(exec *devstack.Execution) error {
	out, ok := devstack.BatchOutputOf(exec)
	if !ok {
		return fmt.Errorf("execution %s: %s: %s", exec.Status, exec.Error, exec.Cause)
	}
	fmt.Println()
	for _, r := range out.Results {
		switch r.Status {
		case request.StatusSucceeded:
			fmt.Printf("  %-10s %s  s3://%s/%s (%d bytes)\n", r.Status, r.Email, r.Bucket, r.Key, r.Bytes)
		case request.StatusFailed:
			fmt.Printf("  %-10s %s  %s: %s\n", r.Status, r.Email, r.Error, r.Message)
		default:
			fmt.Printf("  %-10s %s  (mark %s)\n", r.Status, r.Email, r.Watermark)
		}
	}
	fmt.Printf("\n%d users: %d succeeded, %d failed, %d up to date; manifest %s\n",
		out.Counts.Users, out.Counts.Succeeded, out.Counts.Failed, out.Counts.UpToDate, out.Manifest.URI)
	if exec.Status != devstack.StatusSucceeded {
		return fmt.Errorf("execution %s: %s: %s", exec.Status, exec.Error, exec.Cause)
	}
	return nil
}

// runMany runs every input at the same time against the one stack (each
// execution in an interpreter process of its own, as separate Step
// Functions executions are), prints each one's outcome, and fails if any
// failed.
func runMany(ctx context.Context, st *devstack.Stack, inputs []json.RawMessage, wait time.Duration, began time.Time) error {
	execs := make([]*devstack.Execution, len(inputs))
	errs := make([]error, len(inputs))
	t0 := time.Now()
	var wg sync.WaitGroup
	for i, in := range inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := devstack.RunOptions{Input: in, WaitOverride: wait, OnEvent: printEvent(t0, fmt.Sprintf("[%d] ", i+1))}
			if isBatchInput(in) {
				execs[i], errs[i] = st.RunBatch(ctx, o)
			} else {
				execs[i], errs[i] = st.Run(ctx, o)
			}
		}()
	}
	wg.Wait()
	failed := 0
	for i, exec := range execs {
		fmt.Printf("\n[%d] ", i+1)
		switch {
		case errs[i] != nil:
			failed++
			fmt.Printf("not run: %v\n", errs[i])
		case isBatchInput(inputs[i]):
			if err := printBatch(exec); err != nil {
				failed++
				fmt.Println(err)
			}
		case exec.Status == devstack.StatusSucceeded:
			var res struct{ Bucket, Key string }
			_ = json.Unmarshal(exec.Output, &res)
			fmt.Printf("stored s3://%s/%s\n", res.Bucket, res.Key)
		default:
			failed++
			fmt.Printf("execution %s: %s: %s\n", exec.Status, exec.Error, exec.Cause)
		}
	}
	fmt.Println()
	printSlotCost(slices.DeleteFunc(slices.Clone(execs), func(e *devstack.Execution) bool { return e == nil }))
	fmt.Printf("total %s\n", time.Since(began).Round(time.Millisecond))
	if failed > 0 {
		return fmt.Errorf("%d of %d executions failed", failed, len(inputs))
	}
	return nil
}

// printSlotCost says how many exports waited for a job slot and what
// their waits cost in state transitions (the billing unit).
func printSlotCost(execs []*devstack.Execution) {
	// Export executions by run and name ("" for a run's own execution).
	type export struct {
		run  int
		name string
	}
	waits := map[export]int{} // → slot-wait transitions
	all := 0                  // transitions of the export executions
	for i, exec := range execs {
		for _, e := range exec.Events {
			if e.Type != "StateEntered" || e.ParentState != "" {
				continue
			}
			x := export{i, e.Execution}
			if _, seen := waits[x]; seen || e.State == "AcquireJobSlot" {
				all++
			}
			switch e.State {
			case "AcquireJobSlot":
				waits[x] += 0 // an export: counted even if it never waits
			case "CheckJobSlots", "WaitForJobSlot", "AcquireJobSlotAfterWait":
				waits[x]++
			}
		}
	}
	waited, transitions := 0, 0
	for _, n := range waits {
		if n > 0 {
			waited++
		}
		transitions += n
	}
	fmt.Printf("job slots: %d of %d exports waited for one, %d state transitions waiting (%d in all, %.1f per export)\n",
		waited, len(waits), transitions, all, float64(all)/float64(max(len(waits), 1)))
}

// printPeak ends the output with what AvePoint counted.
func printPeak(st *devstack.Stack) {
	if st.Sim == nil {
		fmt.Println("max concurrent AvePoint jobs: unknown (a real tenant does not say)")
		return
	}
	fmt.Printf("max concurrent AvePoint jobs: %d\n", st.Sim.Server.PeakConcurrentJobs())
}

func buildInput(file, email, start, finish string, eventTypes []string) (json.RawMessage, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if !json.Valid(b) {
			return nil, fmt.Errorf("%s is not JSON", file)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	in := map[string]any{"email": email}
	if start != "" {
		in["startTime"] = start
	}
	if finish != "" {
		in["finishTime"] = finish
	}
	if len(eventTypes) > 0 {
		in["eventTypes"] = eventTypes
	}
	return json.Marshal(in)
}

func realCredentials() (avepoint.Credentials, error) {
	c := avepoint.Credentials{ClientID: os.Getenv("AVEPOINT_CLIENT_ID"), ClientSecret: os.Getenv("AVEPOINT_CLIENT_SECRET")}
	if f := os.Getenv("AVEPOINT_CERTIFICATE_FILE"); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return c, err
		}
		c.Certificate = string(pem)
	}
	return c, c.Validate()
}

func isFlagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// printEvent prints top-level state entries and the execution's end,
// each line led by prefix (which execution, when several run).
func printEvent(t0 time.Time, prefix string) func(devstack.Event) {
	return func(e devstack.Event) {
		at := time.Since(t0).Seconds()
		if e.Execution != "" { // a batch's per-user export execution
			if e.Type == "ExecutionSucceeded" || e.Type == "ExecutionFailed" {
				fmt.Printf("%s%7.2fs    export %s %s\n", prefix, at, e.Execution, strings.TrimPrefix(e.Type, "Execution"))
			}
			return
		}
		switch {
		case e.Type == "StateEntered" && e.ParentState == "":
			fmt.Printf("%s%7.2fs  %-23s %s\n", prefix, at, e.State, e.StateType)
		case e.Type == "StateRetried":
			fmt.Printf("%s%7.2fs  %-23s retry %d after %s\n", prefix, at, e.State, e.RetryAttempt, e.Error)
		case e.Type == "ExecutionSucceeded":
			fmt.Printf("%s%7.2fs  SUCCEEDED\n", prefix, at)
		case e.Type == "ExecutionFailed":
			fmt.Printf("%s%7.2fs  FAILED %s: %s\n", prefix, at, e.Error, e.Cause)
		}
	}
}

// download fetches the stored object and proves it is a readable ZIP.
func download(ctx context.Context, client *s3.Client, bucket, key, dir string) (string, []string, error) {
	obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", nil, fmt.Errorf("download s3://%s/%s: %w", bucket, key, err)
	}
	defer obj.Body.Close()
	body, err := io.ReadAll(obj.Body)
	if err != nil {
		return "", nil, err
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return "", nil, fmt.Errorf("stored report is not a valid ZIP: %w", err)
	}
	var entries []string
	for _, f := range zr.File {
		entries = append(entries, fmt.Sprintf("%s (%d bytes)", f.Name, f.UncompressedSize64))
	}
	if len(entries) == 0 {
		return "", nil, errors.New("stored report ZIP is empty")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, "activities.zip")
	return path, entries, os.WriteFile(path, body, 0o644)
}

type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			fmt.Fprint(p.w, p.prefix+line)
		}
	}
	return len(b), nil
}
