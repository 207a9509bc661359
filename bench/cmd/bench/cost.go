package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/insights-export/insights-export/bench/cost"
	"github.com/insights-export/insights-export/bench/polling"
	"github.com/insights-export/insights-export/internal/request"
)

// The measured exports behind section 7 and what the model adds to them.
const (
	costExports = 3
	costReads   = 5
	// costAllowance is added to every invocation measured on loopback:
	// the network round trips of AWS (AvePoint over the internet, S3 in
	// the region), the model's poll-cycle latency of §3.
	costAllowance = modelLatency
	// platformLogBytes: Lambda's platform.start and platform.report
	// records per invocation in the JSON log format.
	platformLogBytes = 600
	// failedEventLogBytes: one LambdaFunctionFailed record in a state
	// machine's ERROR-level log (no execution data).
	failedEventLogBytes = 400
	// slotHolderARNBytes: an export execution's ARN, the key of its
	// holder in the job-slot ledger (a batch child's, the longest).
	slotHolderARNBytes = 130
	// resultsPerFile: the Distributed Map's ResultWriter files, as
	// bench/scalebench writes them.
	resultsPerFile = 10000
	// awsJobSlots: AvePoint's concurrent export jobs per tenant
	// (template.yaml AvePointJobSlots).
	awsJobSlots = 5
)

var (
	billJobs = []time.Duration{time.Minute, 10 * time.Minute, time.Hour}
	runUsers = []int{1000, 10000, 100000}
)

const (
	targetExportUSD = 0.003
	targetRunUSD    = 30.0
	targetRunUsers  = 10000
)

var targetJob = 10 * time.Minute

// design is one way of running an export, priced.
// beforeFactor is POLL_AGE_FACTOR's default before issue 13 (0.06 since:
// request.DefaultWaitPolicy says why).
const beforeFactor = 0.09

type design struct {
	name   string
	export *polling.Export
	// price gives the export's usage for a job.
	price func(time.Duration) (cost.Usage, polling.Result, error)
}

func runCost(ctx context.Context, r *report) error {
	began := time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	export, err := polling.LoadExport(filepath.Join(root, "statemachine", "export.asl.json"))
	if err != nil {
		return err
	}
	batch, err := polling.LoadDefinition(filepath.Join(root, "statemachine", "batch.asl.json"))
	if err != nil {
		return err
	}
	memory, err := cost.TemplateMemory(root)
	if err != nil {
		return err
	}
	steps, scaleUsers, scaleDate, err := r.scaleFigures(memory)
	if err != nil {
		return fmt.Errorf("the batch functions' figures come from §6 (scale): %w", err)
	}
	tmp, bins, err := buildStack(ctx, "bench-cost-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	r.commands = append(r.commands, fmt.Sprintf("%s %d exports of %d status reads each on the local stack (devstack, S3 through a recording proxy)", costCommand, costExports, costReads))
	meas, err := cost.MeasureExports(ctx, bins, costExports, costReads)
	if err != nil {
		return err
	}
	prices := cost.USEast1
	model := cost.Model{
		Memory: memory, Runs: meas.Functions, Allowance: costAllowance, PlatformLogBytes: platformLogBytes,
		ItemBytes: map[string]float64{
			"avepoint-export-jobs":  cost.LedgerBytes(awsJobSlots, slotHolderARNBytes),
			"incremental-batch-run": 250,
		},
		EventBytes: float64(meas.EventBytes), FailedEventLogBytes: failedEventLogBytes, TracesPerExecution: 1,
		S3Tier1PerExport: meas.S3Tier1, S3Tier2PerExport: meas.S3Tier2,
	}

	// The designs: today's (the check reads in-process while the waits
	// are short); the baseline (fixed 10 s poller, no job slots); the
	// Retry loop of §3 (not adopted); and today's before issue 13, one
	// read a check.
	policy := request.DefaultWaitPolicy
	policy.Deadline = tableDeadline
	oldPolicy := policy
	oldPolicy.AgeFactor = beforeFactor
	baseDef, slotStates, err := withoutSlots(export)
	if err != nil {
		return err
	}
	baseExport, err := polling.NewExport(baseDef, polling.CheckState)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(filepath.Join(root, "statemachine", "export.asl.json"))
	if err != nil {
		return err
	}
	retry := retryCases(tableDeadline)[1]
	vb, err := polling.RetryVariant(src, polling.CheckState, retry.loop)
	if err != nil {
		return err
	}
	vdef, err := polling.ParseDefinition(vb)
	if err != nil {
		return err
	}
	retryExport, err := polling.NewExport(vdef, polling.CheckState)
	if err != nil {
		return err
	}
	simple := func(e *polling.Export, p polling.Policy, inProcess time.Duration) func(time.Duration) (cost.Usage, polling.Result, error) {
		return func(d time.Duration) (cost.Usage, polling.Result, error) {
			res, err := polling.Simulate(e, p, polling.Job{Duration: d, Latency: modelLatency, Deadline: tableDeadline, InProcess: inProcess})
			if err != nil {
				return cost.Usage{}, res, err
			}
			u, err := model.Export(res, false)
			return u, res, err
		}
	}
	designs := []design{
		{fmt.Sprintf("today (default policy, reads in-process up to %s a check, job slots)", inlineBudget), export, simple(export, policy, inlineBudget)},
		{"baseline: fixed 10 s poller, no job slots", baseExport, simple(baseExport, polling.Fixed(10*time.Second), 0)},
		{"Retry loop, two retriers (§3; not adopted)", retryExport, func(d time.Duration) (cost.Usage, polling.Result, error) {
			res, err := polling.SimulateRetry(retryExport, retry.loop, polling.Job{Duration: d, Latency: modelLatency}, nil)
			if err != nil {
				return cost.Usage{}, res, err
			}
			u, err := model.Export(res, true)
			return u, res, err
		}},
		{fmt.Sprintf("before issue 13: one read a check, factor %.2f (job slots)", beforeFactor), export, simple(export, oldPolicy, 0)},
	}

	type priced struct {
		u    cost.Usage
		res  polling.Result
		bill cost.Bill
	}
	perExport := map[string]map[time.Duration]priced{}
	for _, dz := range designs {
		perExport[dz.name] = map[time.Duration]priced{}
		for _, d := range billJobs {
			u, res, err := dz.price(d)
			if err != nil {
				return fmt.Errorf("%s, %s job: %w", dz.name, human(d), err)
			}
			bill, err := cost.Price(u, prices)
			if err != nil {
				return err
			}
			perExport[dz.name][d] = priced{u, res, bill}
		}
	}
	runBill := func(dz design, users int, d time.Duration) (cost.Bill, error) {
		u, err := model.Batch(batch, users, perExport[dz.name][d].u, steps, resultsPerFile)
		if err != nil {
			return cost.Bill{}, err
		}
		return cost.Price(u, prices)
	}

	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("**What is priced.** One export execution of `statemachine/export.asl.json` (a user-export: one user, one window) and one daily batch run of `statemachine/batch.asl.json` (an incremental run over a user list: the run lock, one Distributed Map child per user, each starting one export). The states come from walking the ASL files (`bench/polling.Definition.Walk`, the same walk as §3), so a state added to either machine is priced; the poll loop's reads from the polling model (`bench/polling.Simulate`, %s of latency per cycle). Per state: a transition; a Lambda Task an invocation at its function's MemorySize from `template.yaml`, for its measured duration; a DynamoDB Task its item's write units (the job-slot ledger with all %d slots held: %.0f bytes, %d units); an EventBridge Task its entries (64 KB each); a Distributed Map child one transition to start it ([concepts-transitions](https://docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html)). Free tiers ignored; fixed monthly items (alarms, dashboard, custom metrics, the secret) are no part of a run.",
		modelLatency, awsJobSlots, cost.LedgerBytes(awsJobSlots, slotHolderARNBytes), int((cost.LedgerBytes(awsJobSlots, slotHolderARNBytes)+1023)/1024))
	p("")
	p("**Prices** (%s list prices, read %s from stored copies of the pages):", prices.Region, prices.Read)
	p("")
	p("| service | price | source |")
	p("|---|---|---|")
	for _, s := range cost.Sources {
		p("| %s | %s | <%s> |", s.What, s.Says, s.URL)
	}
	p("")
	p("**Measured here** (`bench/cost.MeasureExports`: %d exports of a one-day window, %d status reads each, the real bootstraps under the RIE, S3 on moto behind a recording proxy; %s): the simulator's report of %s bytes and %d rows. Median RIE REPORT Duration per invocation, and the functions' own log bytes:",
		meas.Exports, meas.Reads, meas.Wall.Round(100*time.Millisecond), strconv.FormatInt(meas.ReportBytes, 10), meas.Rows)
	p("")
	p("| function | memory (template.yaml) | invocations | median duration here | billed in the model (+ %s) | log bytes per invocation |", costAllowance)
	p("|---|---:|---:|---:|---:|---:|")
	for _, dir := range sortedKeys(meas.Functions) {
		f := meas.Functions[dir]
		p("| %s | %d MB | %d | %s | %s | %.0f (+ %d platform) |", dir, memory[dir], f.Invocations, f.Duration.Round(10*time.Microsecond), (f.Duration + costAllowance).Round(time.Millisecond), f.LogBytes, platformLogBytes)
	}
	for _, s := range steps {
		p("| %s | %d MB | 1 a run | — | %s a user (BENCHMARKS.md §6, run of %s: its In-Lambda estimate for %s users at this memory) | — |", s.Function, memory[s.Function], s.PerUser.Round(time.Microsecond), scaleDate, thousands(scaleUsers))
	}
	p("")
	p("S3 per export: %.0f PUT-class and %.0f GET-class requests (%s): the store's upload and the converter's reads and writes of a one-day report. The batch functions' S3 requests per user come from §6 (PrepareBatch reads the marks, WriteManifest reads and writes them), plus the map's work-list read and its result files. The Report Stored event is %d bytes (one 64 KB unit). Lambda's durations are loopback figures: the %s allowance stands for the network; at 1 s per invocation instead the 10-minute export would cost %s (Lambda is a small share either way).",
		meas.S3Tier1, meas.S3Tier2, opsLine(meas.S3Ops, meas.Exports), meas.EventBytes, costAllowance, sensitivity(model, designs[0], prices))

	// Per export.
	p("")
	p("**Per user-export.**")
	p("")
	p("| design | job | reads | cycles | transitions | Lambda invocations | GB-s | S3 requests | DynamoDB WRU | events | log KB | Step Functions | Lambda | other | total |")
	p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, dz := range designs {
		for _, d := range billJobs {
			x := perExport[dz.name][d]
			other := x.bill.Total() - x.bill.StepFunctions - x.bill.Lambda()
			p("| %s | %s | %d | %d | %.0f | %.0f | %.2f | %.0f | %.0f | %.0f | %.1f | $%.5f | $%.5f | $%.5f | **$%.5f** |", dz.name, human(d), x.res.Polls, x.res.Cycles, x.u.Transitions, x.u.Invocations(),
				x.u.GBSeconds(), x.u.S3Tier1+x.u.S3Tier2, x.u.WRU, x.u.Events, x.u.LogBytes/1024, x.bill.StepFunctions, x.bill.Lambda(), other, x.bill.Total())
		}
	}
	cur, base := perExport[designs[0].name], perExport[designs[1].name]
	tc := cur[targetJob]
	p("")
	perT, _ := export.PerRead()
	p("The 10-minute export, today, line by line: %s. Step Functions is %.0f %% of it, and the poll loop %d of its %.0f transitions.",
		billLines(tc.bill), 100*tc.bill.StepFunctions/tc.bill.Total(), tc.res.Cycles*perT, tc.u.Transitions)

	// Per run.
	p("")
	p("**Per daily run** (the batch machine's states once, per user its map child and its export; PrepareBatch and WriteManifest at %s and %s a user; DiscoverUsers not run: the users come from a list). The last column is the shortest such a run can take: AvePoint runs %d jobs at a time, each slot held for the job and the time to notice it finished.",
		steps[0].PerUser.Round(time.Microsecond), steps[1].PerUser.Round(time.Microsecond), awsJobSlots)
	p("")
	p("| users | job | today | baseline | ratio | Retry loop (not adopted) | before issue 13 (one read a check, factor %.2f) | Step Functions share today | shortest run at %d slots |", beforeFactor, awsJobSlots)
	p("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
	runs := map[int]map[time.Duration][4]cost.Bill{}
	for _, n := range runUsers {
		runs[n] = map[time.Duration][4]cost.Bill{}
		for _, d := range billJobs {
			var bills [4]cost.Bill
			for i, dz := range designs {
				if bills[i], err = runBill(dz, n, d); err != nil {
					return err
				}
			}
			runs[n][d] = bills
			hold := d + cur[d].res.Delay
			p("| %s | %s | $%.2f | $%.2f | %.2f | $%.2f | $%.2f | %.0f %% | %s |", thousands(n), human(d), bills[0].Total(), bills[1].Total(), bills[0].Total()/bills[1].Total(),
				bills[2].Total(), bills[3].Total(), 100*bills[0].StepFunctions/bills[0].Total(), span(time.Duration(n)*hold/awsJobSlots))
		}
	}

	tr := runs[targetRunUsers][targetJob]
	before, rl := perExport[designs[3].name][targetJob], perExport[designs[2].name][targetJob]
	loopUSD := float64(perT*tc.res.Cycles) * prices.Transition
	verdict := "Both targets are met"
	if tc.bill.Total() > targetExportUSD || tr[0].Total() > targetRunUSD {
		verdict = "The targets are not both met"
	}
	p("")
	p("**Where the bill goes.** %s: $%.5f an export of a 10-minute job (target ≤ $%.3f) and $%.2f a run of %s users (target ≤ $%.0f). The poll loop is still most of it: %d cycles × %d transitions cost $%.5f, %.0f %% of the export; everything else — %.0f more states, %.0f Lambda invocations besides the checks, %.0f S3 requests, %.0f DynamoDB write units, an event, %.1f KB of logs, a trace — is $%.5f. Before issue 13 every read was a cycle, at waits of 9 %% of the age (%d of them, $%.5f an export, $%.2f a run); the check now sleeps through the policy's waits itself while they add up to at most %s an invocation (`POLL_INPROCESS_SECONDS`), so the reads keep the policy's ages and %d of the %d go through Step Functions, for %s of 128 MB Lambda time a 10-minute export, which pays for reading at 6 %% of the age (a slot held less long by a job that is over, §8). The Retry loop (1 transition a read) would bring the export to $%.5f and the run to $%.2f, but it is not adopted (§3: every read a Lambda error). The baseline design (fixed 10 s, no slots) is cheaper than today's for a 1-minute job and far dearer for an hour (§3's trade).",
		verdict, tc.bill.Total(), targetExportUSD, tr[0].Total(), thousands(targetRunUsers), targetRunUSD,
		tc.res.Cycles, perT, loopUSD, 100*loopUSD/tc.bill.Total(),
		tc.u.Transitions-float64(perT*tc.res.Cycles), tc.u.Invocations()-float64(tc.res.Cycles), tc.u.S3Tier1+tc.u.S3Tier2, tc.u.WRU, tc.u.LogBytes/1024, tc.bill.Total()-loopUSD,
		before.res.Cycles, before.bill.Total(), tr[3].Total(), inlineBudget, tc.res.Cycles, tc.res.Polls, tc.res.Inside.Round(time.Second),
		rl.bill.Total(), tr[2].Total())
	p("")
	p("**Apart from cost:** a slot is held for the job and the time to notice it finished, and AvePoint runs %d jobs at a time, so a run of %s users of 10-minute jobs takes at least %s: it cannot be a *daily* run however it is priced (1-minute jobs: %s). That is AvePoint's job limit (item 4's subject), not the bill.",
		awsJobSlots, thousands(targetRunUsers), span(time.Duration(targetRunUsers)*(targetJob+tc.res.Delay)/awsJobSlots),
		span(time.Duration(targetRunUsers)*(time.Minute+cur[time.Minute].res.Delay)/awsJobSlots))
	p("")
	p("Job slots in the bill: %s (%d transitions and %.0f DynamoDB write units, $%.6f an export); the baseline has none.",
		strings.Join(slotStates, ", "), len(slotStates), cur[targetJob].u.WRU,
		float64(len(slotStates))*prices.Transition+cur[targetJob].u.WRU*prices.DynamoWRU)

	for _, d := range billJobs {
		c, bl := cur[d], base[d]
		target, met := "—", "—"
		if d == targetJob {
			target, met = fmt.Sprintf("≤ $%.3f", targetExportUSD), yesNo(c.bill.Total() <= targetExportUSD)
		}
		r.rows = append(r.rows, row{costRows, "cost per user-export, " + human(d) + " job", usd(c.bill.Total()),
			"fixed 10 s, no slots: " + usd(bl.bill.Total()), fmt.Sprintf("%.2f", c.bill.Total()/bl.bill.Total()), target, met})
	}
	for _, n := range runUsers {
		x := runs[n][targetJob]
		target, met := "—", "—"
		if n == targetRunUsers {
			target, met = fmt.Sprintf("≤ $%.0f", targetRunUSD), yesNo(x[0].Total() <= targetRunUSD)
		}
		r.rows = append(r.rows, row{costRows, fmt.Sprintf("daily run of %s users (10 min jobs)", thousands(n)), fmt.Sprintf("$%.2f", x[0].Total()),
			fmt.Sprintf("fixed 10 s, no slots: $%.2f", x[1].Total()), fmt.Sprintf("%.2f", x[0].Total()/x[1].Total()), target, met})
	}
	r.rows = append(r.rows,
		row{costRows, "cost per user-export, 10 min job, against before issue 13 (one read a check, factor 0.09)", usd(tc.bill.Total()),
			"before: " + usd(before.bill.Total()), fmt.Sprintf("%.2f", tc.bill.Total()/before.bill.Total()), "(diagnostic)", "—"},
		row{costRows, fmt.Sprintf("daily run of %s users (10 min jobs), against before issue 13", thousands(targetRunUsers)), fmt.Sprintf("$%.2f", tr[0].Total()),
			fmt.Sprintf("before: $%.2f", tr[3].Total()), fmt.Sprintf("%.2f", tr[0].Total()/tr[3].Total()), "(diagnostic)", "—"},
		row{costRows, fmt.Sprintf("run of %s users (10 min jobs): shortest time at %d AvePoint slots", thousands(targetRunUsers), awsJobSlots),
			span(time.Duration(targetRunUsers) * (targetJob + tc.res.Delay) / awsJobSlots), "—", "—", "(diagnostic)", "—"},
	)
	r.add(70, b.String(), time.Since(began))
	return nil
}

// withoutSlots is the export machine without the states that take, record
// and give back a job slot on the success path (the DynamoDB Tasks on the
// job-slot ledger): the baseline design's machine.
func withoutSlots(e *polling.Export) (*polling.Definition, []string, error) {
	path, err := e.Success(1)
	if err != nil {
		return nil, nil, err
	}
	var slots []string
	for _, s := range path {
		if s.Lambda() && cost.FunctionDir(s) == "wakejobslotwaiter" {
			slots = append(slots, s.Name) // a released slot's waiter woken
			continue
		}
		if !strings.HasPrefix(s.Integration(), "dynamodb:") {
			continue
		}
		var p struct {
			Key struct {
				Ledger struct {
					S string `json:"S"`
				} `json:"ledger"`
			}
		}
		if json.Unmarshal(s.Parameters, &p) == nil && p.Key.Ledger.S == "avepoint-export-jobs" {
			slots = append(slots, s.Name)
		}
	}
	if len(slots) == 0 {
		return nil, nil, errors.New("the export machine has no job-slot states on its success path")
	}
	def, err := e.Def.Without(slots...)
	return def, slots, err
}

// scaleFigures are the batch functions' per-user work from §6 (this run's
// scale section, or the one the report file keeps): the handler time its
// In-Lambda estimate gives at the template's memory for the largest run
// (the CPU a step took here over its share of a vCPU, or its S3 requests
// at 20 ms, 64 in flight, whichever is longer) and its S3 requests by tier.
func (r *report) scaleFigures(memory map[string]int) ([]cost.BatchStep, int, string, error) {
	text, date := "", r.started.Format(dateLayout)
	for _, s := range r.sections {
		if s.order == 60 {
			text = s.body
		}
	}
	if text == "" {
		raw, err := os.ReadFile(r.opts.out)
		if err != nil {
			return nil, 0, "", fmt.Errorf("no scale section in this run and %w", err)
		}
		old, err := parsePrevious(string(raw))
		if err != nil {
			return nil, 0, "", err
		}
		k, ok := old.blocks[60]
		if !ok {
			return nil, 0, "", fmt.Errorf("%s has no §6", r.opts.out)
		}
		text, date = k.text, k.date
	}
	type sample struct {
		cpu        float64
		tier1, all float64
	}
	top := 0
	samples := map[string]sample{}
	for _, line := range strings.Split(text, "\n") {
		c := splitCells(line)
		if len(c) != 11 || (c[1] != "PrepareBatch" && c[1] != "WriteManifest") {
			continue
		}
		users, err := strconv.Atoi(strings.ReplaceAll(c[0], ",", ""))
		if err != nil || users < top {
			continue
		}
		cpu, err := strconv.ParseFloat(c[4], 64)
		if err != nil {
			return nil, 0, "", fmt.Errorf("§6 CPU s %q: %w", c[4], err)
		}
		var sm sample
		sm.cpu = cpu
		for _, op := range strings.Split(c[10], ", ") {
			m := opCount.FindStringSubmatch(op)
			if m == nil {
				return nil, 0, "", fmt.Errorf("§6 S3 requests %q", op)
			}
			n, _ := strconv.ParseFloat(m[2], 64)
			sm.all += n
			if cost.S3Tier(m[1]) == 1 {
				sm.tier1 += n
			}
		}
		if users > top {
			top, samples = users, map[string]sample{}
		}
		samples[c[1]] = sm
	}
	var out []cost.BatchStep
	for _, name := range []string{"PrepareBatch", "WriteManifest"} {
		sm, ok := samples[name]
		dir := strings.ToLower(name)
		if !ok || memory[dir] == 0 {
			return nil, 0, "", fmt.Errorf("§6 has no %s figures (or template.yaml no %s memory)", name, dir)
		}
		vcpu := float64(memory[dir]) / 1769
		est := max(sm.cpu/vcpu, sm.all*0.020/64)
		out = append(out, cost.BatchStep{Function: dir, PerUser: time.Duration(est / float64(top) * float64(time.Second)),
			S3Tier1: sm.tier1 / float64(top), S3Tier2: (sm.all - sm.tier1) / float64(top)})
	}
	return out, top, date, nil
}

// opCount reads "GetObject (404) 5000" from §6's S3 column.
var opCount = regexp.MustCompile(`^([A-Za-z]+)(?: \(\d+\))? (\d+)$`)

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func opsLine(ops map[string]int, exports int) string {
	var parts []string
	for _, k := range sortedKeys(ops) {
		parts = append(parts, fmt.Sprintf("%s %g", k, float64(ops[k])/float64(exports)))
	}
	return strings.Join(parts, ", ") + " an export"
}

// sensitivity is the 10-minute export with every invocation billed 1 s.
func sensitivity(m cost.Model, d design, p cost.Prices) string {
	m.Allowance = 0
	runs := map[string]cost.FunctionRun{}
	for k, v := range m.Runs {
		v.Duration = time.Second
		runs[k] = v
	}
	m.Runs = runs
	res, err := polling.Simulate(d.export, request.DefaultWaitPolicy, polling.Job{Duration: targetJob, Latency: modelLatency, InProcess: inlineBudget})
	if err != nil {
		return "(" + err.Error() + ")"
	}
	u, err := m.Export(res, false)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	b, err := cost.Price(u, p)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return usd(b.Total())
}

func billLines(b cost.Bill) string {
	var parts []string
	for _, l := range b.Lines() {
		parts = append(parts, fmt.Sprintf("%s $%.6f", l.Name, l.USD))
	}
	return strings.Join(parts, ", ")
}

func usd(v float64) string { return fmt.Sprintf("$%.4f", v) }

// span is a duration in the unit a reader wants: minutes, hours or days.
func span(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	case d >= 2*time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	default:
		return fmt.Sprintf("%.0f min", d.Minutes())
	}
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func init() {
	notes = append(notes,
		struct{ prefix, text string }{"cost per user-export, 10 min job", "The poll loop is still most of the bill (§7, *Where the bill goes*): each cycle through Step Functions is a Wait, a Task and a Choice. A larger in-process budget (POLL_INPROCESS_SECONDS, up to 25 s with the 55 s timeout) or the Retry loop (§3, not adopted) would take it lower."},
		struct{ prefix, text string }{"daily run of 10,000 users (10 min jobs)", "Each user is an export, so the per-export note holds (the batch adds a map child of 4 transitions and its functions' share). Also: at 5 AvePoint slots such a run takes about two weeks, so it cannot be daily at all (§7)."},
	)
}
