package devstack

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/slots"
	"github.com/insights-export/insights-export/internal/testing/avesim"
	"github.com/insights-export/insights-export/internal/testing/moto"
)

// The deployed shape, on one machine: three functions, each a real
// bootstrap under its own RIE, the real ASL, S3 and Secrets Manager on
// moto_server, and AvePoint simulated (or real).

// Functions maps the state machine's substitution names to the function
// folders under functions/.
var Functions = []struct{ Substitution, Dir, Name string }{
	{"StartExportFunctionArn", "startexport", "insights-export-StartExport"},
	{"CheckJobFunctionArn", "checkjob", "insights-export-CheckJob"},
	{"StoreReportFunctionArn", "storereport", "insights-export-StoreReport"},
	{"ConvertReportFunctionArn", "convertreport", "insights-export-ConvertReport"},
	{"BackfillReportsFunctionArn", "backfillreports", "insights-export-BackfillReports"},
	{"CheckJobSlotsFunctionArn", "checkjobslots", "insights-export-CheckJobSlots"},
	{"WakeJobSlotWaiterFunctionArn", "wakejobslotwaiter", "insights-export-WakeJobSlotWaiter"},
	// The target of template.yaml's execution-status rule: no state
	// names it. The interpreter has no EventBridge; ReleaseEnded invokes
	// it as the rule would.
	{"", "releasejobslot", "insights-export-ReleaseJobSlot"},
}

// BatchFunctions are the batch state machine's own functions
// (statemachine/batch.asl.json), started when StackOptions.Batch is set.
var BatchFunctions = []struct{ Substitution, Dir, Name string }{
	{"DiscoverUsersFunctionArn", "discoverusers", "insights-export-DiscoverUsers"},
	{"PrepareBatchFunctionArn", "preparebatch", "insights-export-PrepareBatch"},
	{"WriteManifestFunctionArn", "writemanifest", "insights-export-WriteManifest"},
	{"AdvanceMarkFunctionArn", "advancemark", "insights-export-AdvanceMark"},
}

// ExportStateMachineArn is the export state machine as the batch state
// machine names it (its ${ExportStateMachineArn}); RunBatch runs
// statemachine/export.asl.json for it.
const ExportStateMachineArn = "arn:aws:states:" + awsRegion + ":" + awsAccount + ":stateMachine:insights-export-Export"

// Names used for the emulated AWS resources.
const (
	DefaultBucket     = "insights-export-reports"
	DefaultPrefix     = "reports"
	DefaultSecretID   = "insights-export/avepoint"
	DefaultSlotsTable = "insights-export-job-slots"
	// DefaultJobSlots is template.yaml's AvePointJobSlots default.
	DefaultJobSlots = 5
	// EventBus is the bus the state machines publish on (template.yaml's
	// EventBusName default): moto's default bus, which always exists.
	EventBus   = "default"
	awsRegion  = "us-east-1"
	awsAccount = "123456789012"
)

// RealTenant points the stack at a real AvePoint tenant instead of the
// simulator.
type RealTenant struct {
	Region, APIURL, TokenURL string
	Credentials              avepoint.Credentials
}

// StackOptions configure StartStack. Exactly one of Simulator and Real is set.
type StackOptions struct {
	Simulator *avesim.Options
	Real      *RealTenant
	Bucket    string            // default DefaultBucket
	Prefix    string            // default DefaultPrefix
	Env       map[string]string // extra function environment (POLL_*, JOB_DEADLINE_SECONDS, LOG_LEVEL, KMS_KEY_ID)
	// Bootstraps are prebuilt binaries by function folder; missing ones are
	// built into a temporary folder.
	Bootstraps map[string]string
	// FunctionLogs, when set, receives every function's log lines live.
	FunctionLogs io.Writer
	// Certificate, with the simulator, stores certificate credentials in
	// the secret instead of the client secret: a PEM bundle (CERTIFICATE
	// and PRIVATE KEY blocks) whose certificate Simulator.Certificate holds.
	Certificate string
	// Timeouts override a function's timeout (by folder); the others
	// have template.yaml's.
	Timeouts map[string]time.Duration
	// Batch also starts BatchFunctions, so that RunBatch works. Their
	// environment is the same (set MAX_CONCURRENCY, STATE_PREFIX in Env).
	Batch bool
	// JobSlots is AvePointJobSlots, the slots of the job slot ledger
	// (default DefaultJobSlots).
	JobSlots int
	// EventBus is the bus the state machines publish on (default EventBus;
	// a bus that does not exist makes every publication fail).
	EventBus string
	// ObjectLock creates the bucket with Object Lock and this default
	// retention (see BackingOptions).
	ObjectLock *ObjectLock
}

// Stack is a running local deployment. Close it.
type Stack struct {
	Sim    *avesim.Running // nil against a real tenant
	Moto   *moto.Server
	S3     *s3.Client
	Bucket string
	Prefix string
	// Slots reads the job slot ledger (the table StartBacking created).
	Slots     *slots.Ledger
	Functions map[string]*Function // by folder name
	asl       string
	batchASL  string
	backfill  string
	subs      map[string]string
	tasks     map[string]string
	// concurrent are the tasks URLs served by a Pool.
	concurrent []string
	// extra are a Pool's instances after the first (Functions has that).
	extra   []*Function
	tmp     string
	backing *Backing
	// tokens answers the task tokens of WaitForJobSlot (TokenBroker).
	tokens *TokenBroker
	// invoker serves every function's invocations to the interpreter
	// processes (Function.ServeHTTP): executions run at the same time, each
	// in a process of its own, still reach each emulator one at a time.
	invoker *http.Server
}

// pooledFunction runs as one emulator per job slot (see Pool): at most
// that many exports check their jobs at once, each invocation waiting
// between its reads.
const pooledFunction = "checkjob"

// StartStack starts everything. On error, whatever was started is stopped.
func StartStack(ctx context.Context, opts StackOptions) (st *Stack, err error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	root := filepath.Dir(dir)
	st = &Stack{Bucket: orDefault(opts.Bucket, DefaultBucket), Prefix: orDefault(opts.Prefix, DefaultPrefix),
		Functions: map[string]*Function{}, asl: filepath.Join(root, "statemachine", "export.asl.json"),
		batchASL: filepath.Join(root, "statemachine", "batch.asl.json"),
		backfill: filepath.Join(root, "statemachine", "backfill.asl.json"),
		subs:     map[string]string{"Partition": "aws"}, tasks: map[string]string{}}
	defer func() {
		if err != nil {
			st.Close()
			st = nil
		}
	}()
	if st.tmp, err = os.MkdirTemp("", "insights-export-stack-"); err != nil {
		return st, err
	}

	backing, err := StartBacking(ctx, BackingOptions{Simulator: opts.Simulator, Real: opts.Real, Certificate: opts.Certificate, Bucket: st.Bucket, Prefix: st.Prefix, ObjectLock: opts.ObjectLock})
	if err != nil {
		return st, err
	}
	st.backing = backing
	st.Sim, st.Moto, st.S3 = backing.Sim, backing.Moto, backing.S3
	st.Slots = &slots.Ledger{DB: backing.DynamoDB, Table: backing.SlotsTable}
	st.subs["JobSlotsTableName"] = backing.SlotsTable
	st.subs["AvePointJobSlots"] = strconv.Itoa(cmp.Or(opts.JobSlots, DefaultJobSlots))
	st.subs["EventBusName"] = cmp.Or(opts.EventBus, EventBus)
	st.subs["JobSlotWaitersQueueUrl"] = backing.WaitersQueueURL
	if st.tokens, err = StartTokenBroker(); err != nil {
		return st, err
	}
	env := maps.Clone(backing.Env)
	// The waker's SendTaskSuccess goes to the broker, not to moto (whose
	// Step Functions knows nothing of the interpreter's tokens); the SDK
	// reads the service's own endpoint variable before AWS_ENDPOINT_URL.
	env["AWS_ENDPOINT_URL_SFN"] = st.tokens.URL
	// The waker's long poll of an empty queue (a second in AWS) would hold
	// its one emulator a second per export here, and every export's wake
	// queues behind it (a 2,000-user batch: half an hour): off unless the
	// caller sets it (bench/slotsim's real runs compare both).
	if _, set := opts.Env["JOB_SLOT_WAKE_POLL_SECONDS"]; !set {
		env["JOB_SLOT_WAKE_POLL_SECONDS"] = "0"
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	// The releaser computes leases as the deployed one does.
	if st.Slots.Lease, err = slotLease(env); err != nil {
		return st, err
	}
	fns := Functions
	if opts.Batch {
		fns = slices.Concat(Functions, BatchFunctions)
		st.subs["ExportStateMachineArn"] = ExportStateMachineArn
	}
	timeouts, err := TemplateTimeouts(root)
	if err != nil {
		return st, err
	}
	for dir, d := range opts.Timeouts {
		timeouts[dir] = d
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return st, fmt.Errorf("devstack: invoker: %w", err)
	}
	mux := http.NewServeMux()
	st.invoker = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = st.invoker.Serve(ln) }()
	for _, fn := range fns {
		timeout := timeouts[fn.Dir]
		if timeout <= 0 {
			return st, fmt.Errorf("devstack: template.yaml gives functions/%s no timeout", fn.Dir)
		}
		bin := opts.Bootstraps[fn.Dir]
		if bin == "" {
			if bin, err = BuildBootstrap(ctx, filepath.Join(root, "functions", fn.Dir), filepath.Join(st.tmp, fn.Dir)); err != nil {
				return st, err
			}
		}
		instances := 1
		if fn.Dir == pooledFunction {
			instances = cmp.Or(opts.JobSlots, DefaultJobSlots)
		}
		var pool []*Function
		for range instances {
			f, err := StartFunction(ctx, FunctionSpec{Name: fn.Name, Bootstrap: bin, Env: env, Timeout: timeout,
				Stdout: opts.FunctionLogs, Stderr: opts.FunctionLogs})
			if err != nil {
				return st, err
			}
			if len(pool) == 0 {
				st.Functions[fn.Dir] = f
			} else {
				st.extra = append(st.extra, f)
			}
			pool = append(pool, f)
		}
		if fn.Substitution == "" {
			continue
		}
		path := "/" + fn.Dir + invokePath
		url := "http://" + ln.Addr().String() + path
		if len(pool) > 1 {
			mux.Handle(path, NewPool(pool))
			st.concurrent = append(st.concurrent, url)
		} else {
			mux.Handle(path, pool[0])
		}
		arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", awsRegion, awsAccount, fn.Name)
		st.subs[fn.Substitution] = arn
		st.tasks[arn] = url
	}
	return st, nil
}

// BuildBootstraps builds the three functions once, for callers that start
// several stacks (tests).
func BuildBootstraps(ctx context.Context, outDir string) (map[string]string, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, fn := range Functions {
		bin, err := BuildBootstrap(ctx, filepath.Join(filepath.Dir(dir), "functions", fn.Dir), filepath.Join(outDir, fn.Dir))
		if err != nil {
			return nil, err
		}
		out[fn.Dir] = bin
	}
	return out, nil
}

// BuildBatchBootstraps builds BatchFunctions once (see BuildBootstraps).
func BuildBatchBootstraps(ctx context.Context, outDir string) (map[string]string, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, fn := range BatchFunctions {
		bin, err := BuildBootstrap(ctx, filepath.Join(filepath.Dir(dir), "functions", fn.Dir), filepath.Join(outDir, fn.Dir))
		if err != nil {
			return nil, err
		}
		out[fn.Dir] = bin
	}
	return out, nil
}

// RunOptions shape one execution.
type RunOptions struct {
	Input         any
	WaitOverride  time.Duration // 0: the real waits
	RetryOverride time.Duration // 0: the real retry intervals
	OnEvent       func(Event)
	// Name is the execution's name (default devstack-<uuid>); Run's
	// execution ARN is ExecutionArn(Name).
	Name string
	// Timeout and Stop: see RunSpec (an execution that times out or is
	// stopped, as a caller or an operator would make it).
	Timeout time.Duration
	Stop    <-chan struct{}
}

// ExecutionArn is the ARN of Run's execution named name, as its
// $$.Execution.Id and its slot in the ledger have it.
func ExecutionArn(name string) string {
	return strings.Replace(ExportStateMachineArn, ":stateMachine:", ":execution:", 1) + ":" + name
}

// Substitutions are the ASL placeholders' values on this stack, for a
// caller that runs a definition of its own (RunStateMachine).
func (s *Stack) Substitutions() map[string]string { return maps.Clone(s.subs) }

// TokenBrokerURL is where the stack's callback Tasks wait for their tokens
// (RunSpec.TokenBroker).
func (s *Stack) TokenBrokerURL() string { return s.tokens.URL }

// Run executes statemachine/export.asl.json once.
func (s *Stack) Run(ctx context.Context, o RunOptions) (*Execution, error) {
	return RunStateMachine(ctx, RunSpec{
		DefinitionFile: s.asl, Substitutions: s.subs, Tasks: s.tasks, ConcurrentTasks: s.concurrent, Input: o.Input,
		WaitOverride: o.WaitOverride, RetryOverride: o.RetryOverride, OnEvent: o.OnEvent,
		DynamoDBEndpoint: s.Moto.URL, EventsEndpoint: s.Moto.URL, StateMachineArn: ExportStateMachineArn, ExecutionName: o.Name,
		SQSEndpoint: s.Moto.URL, TokenBroker: s.tokens.URL, Timeout: o.Timeout, Stop: o.Stop,
	})
}

// RunBatch executes statemachine/batch.asl.json once (the stack must have
// been started with StackOptions.Batch). Its per-user export executions
// run statemachine/export.asl.json in the same interpreter; the Map's
// ItemReader reads the work list from the stack's S3.
func (s *Stack) RunBatch(ctx context.Context, o RunOptions) (*Execution, error) {
	if _, ok := s.subs["PrepareBatchFunctionArn"]; !ok {
		return nil, errors.New("devstack: RunBatch needs a stack started with StackOptions.Batch")
	}
	return RunStateMachine(ctx, RunSpec{
		DefinitionFile: s.batchASL, Substitutions: s.subs, Tasks: s.tasks, ConcurrentTasks: s.concurrent, Input: o.Input,
		WaitOverride: o.WaitOverride, RetryOverride: o.RetryOverride, OnEvent: o.OnEvent,
		StateMachines: map[string]string{ExportStateMachineArn: s.asl}, S3Endpoint: s.Moto.URL,
		DynamoDBEndpoint: s.Moto.URL, EventsEndpoint: s.Moto.URL, ExecutionName: o.Name, Timeout: o.Timeout, Stop: o.Stop,
		SQSEndpoint: s.Moto.URL, TokenBroker: s.tokens.URL,
	})
}

// SlotHolders reads the job slot ledger: who holds the slots now.
func (s *Stack) SlotHolders(ctx context.Context) ([]slots.Holder, error) {
	holders, _, err := s.Slots.Holders(ctx)
	return holders, err
}

// ReleaseEnded does what template.yaml's execution-status rule does when
// an export execution ends ABORTED, TIMED_OUT or FAILED: it invokes the
// releasejobslot function with the event Step Functions sends. The local
// interpreter has no EventBridge, so tests and the local runner call this.
func (s *Stack) ReleaseEnded(ctx context.Context, executionArn, status string, started time.Time) (slots.ReleaseOutput, error) {
	f := s.Functions["releasejobslot"]
	if f == nil {
		return slots.ReleaseOutput{}, errors.New("devstack: the releasejobslot function is not running")
	}
	out, fnErr, err := f.InvokeBytes(ctx, slots.StatusChangeEvent(executionArn, ExportStateMachineArn, status, started, time.Now()))
	if err != nil {
		return slots.ReleaseOutput{}, err
	}
	if fnErr != nil {
		return slots.ReleaseOutput{}, fnErr
	}
	var ro slots.ReleaseOutput
	if err := json.Unmarshal(out, &ro); err != nil {
		return ro, fmt.Errorf("devstack: releasejobslot answered %s: %w", out, err)
	}
	return ro, nil
}

// slotLease is the lease the slot functions derive from their
// environment (internal/slots.LoadConfig).
func slotLease(env map[string]string) (time.Duration, error) {
	e := config.NewEnv(func(k string) string { return env[k] })
	cfg := slots.LoadConfig(e)
	return cfg.Lease, e.Err()
}

// RunBackfill executes statemachine/backfill.asl.json once.
func (s *Stack) RunBackfill(ctx context.Context, o RunOptions) (*Execution, error) {
	return RunStateMachine(ctx, RunSpec{
		DefinitionFile: s.backfill, Substitutions: s.subs, Tasks: s.tasks, ConcurrentTasks: s.concurrent, Input: o.Input,
		WaitOverride: o.WaitOverride, RetryOverride: o.RetryOverride, OnEvent: o.OnEvent,
	})
}

// Logs returns every function's log lines so far.
func (s *Stack) Logs() string {
	var b strings.Builder
	for _, fn := range slices.Concat(Functions, BatchFunctions) {
		if f := s.Functions[fn.Dir]; f != nil {
			b.WriteString(f.Logs())
		}
	}
	return b.String()
}

// Close stops every process the stack started and removes its files.
func (s *Stack) Close() {
	if s.invoker != nil {
		_ = s.invoker.Close()
	}
	for _, f := range slices.Concat(slices.Collect(maps.Values(s.Functions)), s.extra) {
		_ = f.Close()
	}
	if s.tokens != nil {
		_ = s.tokens.Close()
	}
	if s.backing != nil {
		s.backing.Close()
	}
	if s.tmp != "" {
		_ = os.RemoveAll(s.tmp)
	}
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
