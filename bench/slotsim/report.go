package slotsim

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/insights-export/insights-export/internal/export"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/slots"
)

// The batch the section measures (issue 13, item 4).
const (
	Users         = 100
	MinJob        = 30 * time.Second
	MaxJob        = 10 * time.Minute
	Seed          = 13
	TargetBusyPct = 95.0
	// Seeds is how many other draws (seeds 1…Seeds) check that a figure
	// is not the luck of one draw.
	Seeds = 20
	// EstimateSigma is how far the estimates LongestFirst sorts by are off
	// (Noisy): a previous run's job times.
	EstimateSigma = 0.5
)

// Variant is one configuration of the batch, as a change to Before: the
// configuration before issue 13's slot changes.
type Variant struct {
	Name string
	// Change is what production would change for it.
	Change string
	apply  func(c *Config, durations []time.Duration, seed uint64)
}

// Config is the variant's configuration for one draw.
func (v Variant) Config(durations []time.Duration, seed uint64) Config {
	c := Before()
	if v.apply != nil {
		v.apply(&c, durations, seed)
	}
	return c
}

func maxConc(n int) func(*Config) { return func(c *Config) { c.MaxConcurrency = n } }

// inProcess reads the status in-process as deployed (export.Checker).
func inProcess(c *Config) { c.InProcess = export.DefaultInProcess }

// wake: a release wakes the oldest waiter, the policy's wait (5 min,
// slots.DefaultWaitPolicy) only its fallback.
func wake(c *Config) { c.Wake, c.SlotWait = true, slots.DefaultWaitPolicy }

func slotWait(lo, hi time.Duration) func(*Config) {
	return func(c *Config) { c.SlotWait.Min, c.SlotWait.Max = lo, hi }
}

func pollFactor(f float64) func(*Config) { return func(c *Config) { c.Poll.AgeFactor = f } }

func longestFirst(c *Config, d []time.Duration, seed uint64) {
	c.Order, c.Estimates = LongestFirst, Noisy(d, EstimateSigma, seed)
}

func variant(name, change string, fs ...any) Variant {
	return Variant{Name: name, Change: change, apply: func(c *Config, d []time.Duration, seed uint64) {
		for _, f := range fs {
			switch f := f.(type) {
			case func(*Config):
				f(c)
			case func(*Config, []time.Duration, uint64):
				f(c, d, seed)
			}
		}
	}}
}

// pollFactorNow is the deployed poll factor (item 4 d), which the
// defaults row applies to Before's.
var pollFactorNow = request.DefaultWaitPolicy.AgeFactor

// The variants the text names.
var (
	vDefaults    = variant(fmt.Sprintf("**defaults (as built)**: wake on release, MaxConcurrency 8, longest first, polls at %.0f %% of the age, read in-process while the waits are short", 100*pollFactorNow), "—", wake, maxConc(8), longestFirst, pollFactor(pollFactorNow), inProcess)
	vBefore      = Variant{Name: fmt.Sprintf("before: MaxConcurrency 5, waiters sleep 5 s–5 min, as listed, polls at %.0f %%", 100*BeforePollFactor), Change: "the previous production"}
	vMC8         = variant("MaxConcurrency 8 alone", "MAX_CONCURRENCY", maxConc(8))
	vShort       = variant("MaxConcurrency 8, slot waits 1–10 s", "slot waits 1–10 s instead of a wake", maxConc(8), slotWait(time.Second, 10*time.Second))
	vWake8       = variant("wake on release, MaxConcurrency 8, as listed", "without the order", wake, maxConc(8))
	vOrder5      = variant("longest first, MaxConcurrency 5", "the order alone", longestFirst)
	vRecommended = variant(fmt.Sprintf("defaults, but polls at %.0f %% of the age (the factor before)", 100*BeforePollFactor),
		"POLL_AGE_FACTOR as before", wake, maxConc(8), longestFirst, inProcess)
)

// Variants are the configurations the section compares; the first is the
// deployed one, the second the one before, the last the defaults with a
// faster poll.
var Variants = []Variant{
	vDefaults,
	vBefore,
	variant("MaxConcurrency 6 alone", "MAX_CONCURRENCY (a setting)", maxConc(6)),
	vMC8,
	variant("MaxConcurrency 10 alone", "MAX_CONCURRENCY", maxConc(10)),
	variant("MaxConcurrency 8, slot waits 5–30 s", "slot waits ≤ 30 s instead of a wake", maxConc(8), slotWait(5*time.Second, 30*time.Second)),
	vShort,
	variant("wake on release, MaxConcurrency 5", "the wake alone", wake),
	variant("wake on release, MaxConcurrency 6, as listed", "without the order", wake, maxConc(6)),
	vWake8,
	variant("wake on release, MaxConcurrency 10, as listed", "without the order", wake, maxConc(10)),
	vOrder5,
	variant("wake on release, MaxConcurrency 10, longest first", "MAX_CONCURRENCY 10", wake, maxConc(10), longestFirst),
	vRecommended,
}

// seedVariants are run on every seed.
var seedVariants = []Variant{vDefaults, vBefore, vMC8, vWake8, vRecommended}

// Outcome is a variant's run on one draw.
type Outcome struct {
	Variant Variant
	Result  Result
}

// Spread of a figure over the seeds.
type Spread3 struct{ Min, Median, Max float64 }

// SeedRow is a variant over seeds 1…Seeds.
type SeedRow struct {
	Variant            Variant
	Busy               Spread3
	TransitionsPerUser float64
}

// Report is the section's measurements.
type Report struct {
	Durations []time.Duration
	Outcomes  []Outcome
	SeedRows  []SeedRow
	// Sensitivity: the defaults and the recommendation again with one
	// input changed.
	Sensitivity []SensitivityRow
	Real        []RealResult
	RealErr     error
	RealTook    time.Duration
}

// SensitivityRow is one changed input.
type SensitivityRow struct {
	Name                 string
	Default, Recommended Result
}

// Options of Run.
type Options struct {
	// Real runs the cross-check against the local stack (RealRuns) with
	// Bootstraps, prebuilt binaries by function folder (export and batch
	// functions: devstack.BuildBootstraps and BuildBatchBootstraps).
	Real       bool
	Bootstraps map[string]string
	Log        func(format string, args ...any)
}

// RealRuns are the cross-check's batches: 15 users, 4-second jobs, polls
// every 1–2 s (waiters are woken by the releases), so that a run
// takes about 15 s; the Map's cap at the slots, above them, and at every
// user at once.
func RealRuns() []RealRun {
	poll := request.WaitPolicy{Min: time.Second, Max: 2 * time.Second, AgeFactor: 0.1, Deadline: request.DefaultWaitPolicy.Deadline}
	var runs []RealRun
	for _, mc := range []int{5, 8, 15} {
		runs = append(runs, RealRun{Name: fmt.Sprintf("MaxConcurrency %d", mc), Users: 15, JobDuration: 4 * time.Second, MaxConcurrency: mc, Poll: poll})
	}
	return runs
}

// Run measures everything the section shows.
func Run(ctx context.Context, o Options) (*Report, error) {
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	r := &Report{}
	var err error
	if r.Durations, err = Durations(Users, MinJob, MaxJob, LogUniform, Seed); err != nil {
		return nil, err
	}
	for _, v := range Variants {
		res, err := Simulate(v.Config(r.Durations, Seed), r.Durations)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.Name, err)
		}
		r.Outcomes = append(r.Outcomes, Outcome{v, res})
	}
	for _, v := range seedVariants {
		row := SeedRow{Variant: v}
		var busy []float64
		for seed := uint64(1); seed <= Seeds; seed++ {
			d, err := Durations(Users, MinJob, MaxJob, LogUniform, seed)
			if err != nil {
				return nil, err
			}
			res, err := Simulate(v.Config(d, seed), d)
			if err != nil {
				return nil, fmt.Errorf("%s, seed %d: %w", v.Name, seed, err)
			}
			busy = append(busy, res.Util.BusyPct())
			row.TransitionsPerUser += res.TransitionsPerUser() / Seeds
		}
		slices.Sort(busy)
		row.Busy = Spread3{busy[0], (busy[(Seeds-1)/2] + busy[Seeds/2]) / 2, busy[Seeds-1]}
		r.SeedRows = append(r.SeedRows, row)
	}
	if err := r.sensitivity(); err != nil {
		return nil, err
	}
	if o.Real {
		began := time.Now()
		r.Real, r.RealErr = runReal(ctx, o.Bootstraps, logf)
		r.RealTook = time.Since(began)
	}
	return r, nil
}

func (r *Report) sensitivity() error {
	def, rec := vBefore, vDefaults
	type change struct {
		name string
		fn   func(*Config)
		d    []time.Duration
		// recOnly changes the recommendation further.
		recOnly func(*Config)
	}
	uniform, err := Durations(Users, MinJob, MaxJob, Uniform, Seed)
	if err != nil {
		return err
	}
	scale := func(k time.Duration) func(*Config) {
		return func(c *Config) {
			c.Lat.State, c.Lat.Invoke, c.Lat.ChildStart, c.Lat.ChildEnd = k*c.Lat.State, k*c.Lat.Invoke, k*c.Lat.ChildStart, k*c.Lat.ChildEnd
		}
	}
	changes := []change{
		{"as above", func(*Config) {}, r.Durations, nil},
		{"no latency at all (states, invocations, child start and end, store, convert: 0)", func(c *Config) { c.Lat = Latencies{} }, r.Durations, nil},
		{"latencies × 4 (a poll cycle 1 s besides its wait; child start and end 2 s each)", scale(4), r.Durations, nil},
		{"store + convert 60 s (large reports) instead of 9 s", func(c *Config) { c.Lat.Store, c.Lat.Convert = 20*time.Second, 40*time.Second }, r.Durations, nil},
		{"store + convert 60 s, the defaults at MaxConcurrency 12", func(c *Config) { c.Lat.Store, c.Lat.Convert = 20*time.Second, 40*time.Second }, r.Durations, maxConc(12)},
		{"job durations uniform over 30 s–10 min (same seed)", func(*Config) {}, uniform, nil},
	}
	for _, ch := range changes {
		row := SensitivityRow{Name: ch.name}
		for i, v := range []Variant{def, rec} {
			c := v.Config(ch.d, Seed)
			ch.fn(&c)
			if i == 1 && ch.recOnly != nil {
				ch.recOnly(&c)
			}
			res, err := Simulate(c, ch.d)
			if err != nil {
				return fmt.Errorf("sensitivity %s: %w", ch.name, err)
			}
			if i == 0 {
				row.Default = res
			} else {
				row.Recommended = res
			}
		}
		r.Sensitivity = append(r.Sensitivity, row)
	}
	return nil
}

// runReal runs RealRuns at the same time: they mostly wait.
func runReal(ctx context.Context, bins map[string]string, logf func(string, ...any)) ([]RealResult, error) {
	if bins == nil {
		return nil, fmt.Errorf("no bootstraps for the real runs")
	}
	runs := RealRuns()
	out := make([]RealResult, len(runs))
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			out[i], errs[i] = RunReal(rctx, bins, run)
			logf("slots: real run %s: %s", run.Name, out[i].Status)
		}()
	}
	wg.Wait()
	var ok []RealResult
	var failed []string
	for i := range runs {
		if errs[i] != nil {
			failed = append(failed, errs[i].Error())
			continue
		}
		ok = append(ok, out[i])
	}
	if len(failed) > 0 {
		return ok, fmt.Errorf("%s", strings.Join(failed, "; "))
	}
	return ok, nil
}

// Agreement bounds of the cross-check: the model may be off by this much
// on the busy share, and its transitions and wait rounds by this fraction.
const (
	AgreeBusyPoints  = 5.0
	AgreeCountsRatio = 0.05
)

// Agrees reports whether the model reproduces the real run.
func (rr RealResult) Agrees() bool {
	near := func(a, b int) bool { return math.Abs(float64(a-b)) <= AgreeCountsRatio*float64(max(a, b)) }
	return math.Abs(rr.Util.BusyPct()-rr.Model.Util.BusyPct()) <= AgreeBusyPoints &&
		near(rr.Transitions, rr.Model.Transitions) && near(rr.WaitRounds, rr.Model.WaitRounds)
}

// Row is one summary row.
type Row struct{ Figure, Value, Baseline, Ratio, Target, Met string }

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func pct(x float64) string { return fmt.Sprintf("%.1f %%", x) }

// Default, Before and Recommended are the first, second and last
// variants' outcomes: production as built, before, and with a faster poll.
func (r *Report) Default() Outcome     { return r.Outcomes[0] }
func (r *Report) Before() Outcome      { return r.Outcomes[1] }
func (r *Report) Recommended() Outcome { return r.Outcomes[len(r.Outcomes)-1] }

// bestSetting is the best of before and the variants that change only
// MAX_CONCURRENCY on it.
func (r *Report) bestSetting() Outcome {
	best := r.Outcomes[1]
	for _, o := range r.Outcomes[2:5] {
		if o.Result.Util.BusyPct() > best.Result.Util.BusyPct() {
			best = o
		}
	}
	return best
}

func (r *Report) seedRow(v Variant) (SeedRow, bool) {
	for _, s := range r.SeedRows {
		if s.Variant.Name == v.Name {
			return s, true
		}
	}
	return SeedRow{}, false
}

func spanText(d time.Duration) string { return d.Round(time.Second).String() }

// Summary is the section's rows of the report's summary table.
func (r *Report) Summary() []Row {
	def, bef, rec := r.Default().Result, r.Before().Result, r.Recommended().Result
	du, bu, ru := def.Util, bef.Util, rec.Util
	draw := fmt.Sprintf("%d users, jobs %s–%s log-uniform (seed %d)", Users, human(MinJob), human(MaxJob), Seed)
	maxRatio := 100 / TargetBusyPct
	rows := []Row{
		{"slot busy %, first job start → last job end, " + draw + fmt.Sprintf(", defaults (wake on release, MaxConcurrency 8, longest first, polls at %.0f %%)", 100*pollFactorNow), pct(du.BusyPct()), "before " + pct(bu.BusyPct()),
			fmt.Sprintf("%.2f", du.BusyPct()/bu.BusyPct()), fmt.Sprintf("≥ %.0f %%", TargetBusyPct), met(du.BusyPct() >= TargetBusyPct)},
		{"jobs' span vs ideal (total job time ÷ 5), defaults", spanText(du.Span), "ideal " + spanText(du.Ideal),
			fmt.Sprintf("%.3f", du.SpanRatio()), fmt.Sprintf("≤ %.3f (≡ ≥ %.0f %% busy)", maxRatio, TargetBusyPct), met(du.SpanRatio() <= maxRatio)},
		{"batch makespan (first Map item → last item's end) vs ideal, defaults", spanText(def.Makespan), "ideal " + spanText(du.Ideal) + "; before " + spanText(bef.Makespan),
			fmt.Sprintf("%.3f", def.Makespan.Seconds()/du.Ideal.Seconds()), "—", "—"},
	}
	if s, ok := r.seedRow(vDefaults); ok {
		b, _ := r.seedRow(vBefore)
		rows = append(rows, Row{fmt.Sprintf("slot busy %%, defaults, seeds 1–%d: lowest (median)", Seeds),
			fmt.Sprintf("%.1f %% (%.1f %%)", s.Busy.Min, s.Busy.Median), fmt.Sprintf("before %.1f %% (%.1f %%)", b.Busy.Min, b.Busy.Median),
			fmt.Sprintf("%.2f", s.Busy.Min/b.Busy.Min), fmt.Sprintf("≥ %.0f %%", TargetBusyPct), met(s.Busy.Min >= TargetBusyPct)})
	}
	rows = append(rows,
		Row{"state transitions per user, defaults (modelled)", fmt.Sprintf("%.1f", def.TransitionsPerUser()),
			fmt.Sprintf("before %.1f", bef.TransitionsPerUser()), fmt.Sprintf("%.2f", def.TransitionsPerUser()/bef.TransitionsPerUser()), "—", "—"},
		Row{fmt.Sprintf("slot busy %%, defaults but polls at %.0f %% of the age (without item 4 d)", 100*BeforePollFactor),
			pct(ru.BusyPct()), "defaults " + pct(du.BusyPct()), fmt.Sprintf("%.2f", ru.BusyPct()/du.BusyPct()), "(diagnostic)", "—"})
	if r.Real != nil || r.RealErr != nil {
		agree := r.RealErr == nil && len(r.Real) > 0
		worst := 0.0
		for _, rr := range r.Real {
			agree = agree && rr.Agrees()
			worst = max(worst, math.Abs(rr.Util.BusyPct()-rr.Model.Util.BusyPct()))
		}
		rows = append(rows, Row{"model vs real batches on the local stack (busy %, transitions, wait rounds)",
			fmt.Sprintf("%d runs; busy within %.1f points", len(r.Real), worst), "—", "—",
			fmt.Sprintf("agree (busy ±%.0f points, counts ±%.0f %%)", AgreeBusyPoints, 100*AgreeCountsRatio), met(agree)})
	}
	return rows
}

func human(d time.Duration) string {
	switch {
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%d s", d/time.Second)
	default:
		return d.String()
	}
}

func cost(transitions int) string {
	return fmt.Sprintf("$%.3f", float64(transitions)*USDPerTransition)
}

// Markdown is the section's text.
func (r *Report) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	def := r.Default().Result
	du := def.Util
	lat := DefaultLatencies
	var total time.Duration
	for _, d := range r.Durations {
		total += d
	}
	sorted := slices.Sorted(slices.Values(r.Durations))

	p("**Model.** `bench/slotsim` simulates one batch run event by event through `statemachine/batch.asl.json` (a Distributed Map of at most `MaxConcurrency` children) and `statemachine/export.asl.json` (AcquireJobSlot → on refusal CheckJobSlots → WaitForJobSlot → AcquireJobSlotAfterWait; StartExport; RecordJobOnSlot; WaitForJob → CheckJob → IsJobFinished; ReleaseJobSlot → WakeJobSlotWaiter; StoreReport; ConvertReport; AnnounceReport; Done), with the production policies themselves: `request.DefaultWaitPolicy.Next` for the polls (age = the status read's time − startedAt, as CheckJob measures it) and `slots.DefaultWaitPolicy.Next` for the slot waits' fallback (counted from the export's start, with CheckJobSlots' 1-second retry when a slot freed since the refusal). *Wake on release* as built: WaitForJobSlot parks the task token on a FIFO queue (`sqs:sendMessage.waitForTaskToken`, the wait as its timeout), the WakeJobSlotWaiter task after a release answers the oldest token (`internal/slots/wake`; when nobody is parked it long-polls 1 s for a waiter on its way), and the woken export runs AcquireJobSlotAfterWait one state later; a waiter whose timeout runs out tries again and parks anew at the back. *Longest first*: PrepareBatch orders an incremental run's work list by each user's last export time (its high-water mark keeps it), modelled as estimates off by a log-normal factor (σ %.1f, within ×0.6–×1.6 two times in three). %d slots. Every state takes %s, a Lambda task %s more (a poll cycle: 3 × %s + %s = %s besides its wait, bench/polling's figure, §3); StoreReport + ConvertReport %s + %s (with StartExport, the README's ~10 s of start, store and convert per user, *Large tenants*); the Map's child start and the `.sync:2` end notice %s each (an assumption: nothing here measures them in AWS; they matter only while the Map's cap binds, see the sensitivity table). The slots are *busy* while a job runs, from its start to its end — not to the poll that notices it.",
		EstimateSigma, 5, lat.State, lat.Invoke, lat.State, lat.Invoke, 3*lat.State+lat.Invoke, lat.Store, lat.Convert, lat.ChildStart)
	p("")
	p("**Jobs.** %d users, durations drawn log-uniformly over %s–%s (seed %d, `slotsim.Durations`): every doubling of a job's length as likely as the next, as one user's activity spans orders of magnitude across a tenant (a uniform draw would make 9-minute jobs as common as 1-minute ones). Short jobs are the hard case here, since the fixed costs around a job weigh most against them; the uniform draw is in the sensitivity table. This draw: total %s, median %s, shortest %s, longest %s; ideal span (total ÷ 5) %s.",
		Users, human(MinJob), human(MaxJob), Seed, spanText(total), spanText(sorted[len(sorted)/2]), spanText(sorted[0]), spanText(sorted[len(sorted)-1]), spanText(du.Ideal))
	p("")
	p("#### At the defaults (as built: wake on release, MaxConcurrency 8, longest first)")
	p("")
	p("Where the slots' time goes from the first job's start to the last job's end (%s × 5 slots):", spanText(du.Span))
	p("")
	p("| slot time | share | what it is |")
	p("|---|---:|---|")
	p("| busy: a job running | **%.1f %%** | the target's figure |", du.BusyPct())
	p("| held, job not started | %.2f %% | AcquireJobSlot's write → StartExport's call |", du.Pct(du.HeldBeforeStart))
	p("| held, job over | %.1f %% | the poll's detection delay (mean %s a job; the waits are %.0f %% of the job's age, 5 s at least) and the release |", du.Pct(du.HeldAfterEnd), du.MeanDetectionDelay().Round(100*time.Millisecond), 100*pollFactorNow)
	p("| free while an export waited | %.1f %% | a slot free while exports are parked: the wake's way (release → WakeJobSlotWaiter → AcquireJobSlotAfterWait) |", du.Pct(du.FreeWaiting))
	p("| free while a child started | %.2f %% | the Map's next child on its way to AcquireJobSlot |", du.Pct(du.FreeStarting))
	p("| free, users queued behind the Map's cap | %.1f %% | every Map place taken, some by children storing, converting or ending: their slot is given back but no other child may start |", du.Pct(du.FreeMapCap))
	p("| free, the run's tail | %.1f %% | every user started, nobody waiting: the last jobs run while the other slots have nothing left to do |", du.Pct(du.FreeTail))
	p("")
	bef := r.Before().Result
	p("Jobs' span %s against the ideal %s (× %.3f); the batch's makespan (first Map item → last item's end) %s against the ideal (× %.3f; before: %s, × %.3f). State transitions %d (%.1f per user, %s a run; before %.1f, %s), %d of them spent waiting for a slot.",
		spanText(du.Span), spanText(du.Ideal), du.SpanRatio(), spanText(def.Makespan), def.Makespan.Seconds()/du.Ideal.Seconds(), spanText(bef.Makespan), bef.Makespan.Seconds()/du.Ideal.Seconds(),
		def.Transitions, def.TransitionsPerUser(), cost(def.Transitions), bef.TransitionsPerUser(), cost(bef.Transitions), def.WaitTransitions)
	p("")
	p("#### Alternatives")
	p("")
	p("Same %d jobs. *Before* is the production before these changes: MaxConcurrency 5, waiters asleep in a Wait state for a fifth of their wait so far (5 s–5 min), the work list as listed. The other rows take one part of the defaults, or another way to the same end, on top of it; a wake round costs 3 transitions (CheckJobSlots, WaitForJobSlot, AcquireJobSlotAfterWait), every export one more (WakeJobSlotWaiter).",
		Users)
	p("")
	p("| variant | busy | held, job over | free: waiting | free: Map cap, child start | free: tail | span ÷ ideal | users waited (rounds) | longest wait | transitions / user | transitions per run | met? |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, o := range r.Outcomes {
		u, x := o.Result.Util, o.Result
		p("| %s | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.3f | %d (%d) | %s | %.1f | %d (%s) | %s |", o.Variant.Name, u.BusyPct(), u.Pct(u.HeldAfterEnd), u.Pct(u.FreeWaiting),
			u.Pct(u.FreeMapCap+u.FreeStarting), u.Pct(u.FreeTail), u.SpanRatio(), x.Waited, x.WaitRounds, spanText(x.LongestWait), x.TransitionsPerUser(), x.Transitions, cost(x.Transitions), met(u.BusyPct() >= TargetBusyPct))
	}
	p("")
	p("Over seeds 1–%d (other draws of the same shape), busy share lowest / median / highest:", Seeds)
	p("")
	p("| variant | lowest | median | highest | transitions / user (mean) |")
	p("|---|---:|---:|---:|---:|")
	for _, s := range r.SeedRows {
		p("| %s | %.1f %% | %.1f %% | %.1f %% | %.1f |", s.Variant.Name, s.Busy.Min, s.Busy.Median, s.Busy.Max, s.TransitionsPerUser)
	}
	p("")
	p("Sensitivity, busy share (before → defaults):")
	p("")
	p("| input changed | before | defaults |")
	p("|---|---:|---:|")
	for _, s := range r.Sensitivity {
		p("| %s | %.1f %% | %.1f %% |", s.Name, s.Default.Util.BusyPct(), s.Recommended.Util.BusyPct())
	}
	p("")
	p("The latencies barely move the defaults; long stores and conversions do, because a child keeps its place in the Map through them: with a minute of them 8 places no longer leave a child waiting at every release, and the cap binds again. `MaxConcurrency` has to grow with the store and convert time (12 for a minute here); with the wake-up an idle waiter costs one round, so a generous cap is cheap.")
	p("")
	r.analysis(p)
	r.realMarkdown(p)
	return b.String()
}

func (r *Report) outcome(v Variant) Result {
	for _, o := range r.Outcomes {
		if o.Variant.Name == v.Name {
			return o.Result
		}
	}
	return Result{}
}

func (r *Report) analysis(p func(string, ...any)) {
	def, bef, rec := r.Default().Result, r.Before().Result, r.Recommended().Result
	du, bu, ru := def.Util, bef.Util, rec.Util
	mc8, short, w8, lpt5 := r.outcome(vMC8), r.outcome(vShort), r.outcome(vWake8), r.outcome(vOrder5)
	best := r.bestSetting()
	p("#### What blocked %.0f %% before, and what each change does", TargetBusyPct)
	p("")
	p("Before, the slots were busy %.1f %% of the time, %.1f points short, and no setting alone reaches the target (best: %s, %.1f %%). Four losses, largest first:",
		bu.BusyPct(), TargetBusyPct-bu.BusyPct(), best.Variant.Name, best.Result.Util.BusyPct())
	p("")
	p("1. **The tail (%.1f %%).** When the Map has started every user, the slots whose jobs end have nothing left to do while the last jobs run; which jobs come last is the work list's luck (over seeds 1–%d before: %s). Only the order mends it: longest first alone takes it to %.1f %% busy, the tail to %.1f %%; with the defaults the tail is %.1f %%.",
		bu.Pct(bu.FreeTail), Seeds, r.seedRange(vBefore), lpt5.Util.BusyPct(), lpt5.Util.Pct(lpt5.Util.FreeTail), du.Pct(du.FreeTail))
	p("2. **The Map's cap (%.1f %%).** At MaxConcurrency 5 a child keeps its place in the Map through StoreReport, ConvertReport and its end (%s here) after it gave its slot back, and no other child may start meanwhile. MaxConcurrency 8 removes it (%.1f %%) — but only by having children wait for slots, which costs the next loss unless a release wakes them.",
		bu.Pct(bu.FreeMapCap+bu.FreeStarting), DefaultLatencies.Store+DefaultLatencies.Convert+4*DefaultLatencies.State+DefaultLatencies.ChildEnd+DefaultLatencies.ChildStart, mc8.Util.Pct(mc8.Util.FreeMapCap+mc8.Util.FreeStarting))
	p("3. **Waiters asleep (%.1f %% at MaxConcurrency 8 alone).** A refused export slept a fifth of its wait so far (5 s–5 min) and a freed slot stayed free until its next attempt; a child the Map starts meanwhile takes the slot at its first AcquireJobSlot, so a long waiter can be passed over again and again (longest wait: %s). Shorter slot waits (1–10 s) bring the sleep to %.1f %% at %.1f transitions per user; waking the oldest parked waiter on release brings it to %.1f %% for %.1f (MaxConcurrency 8, as listed: %.1f %% busy).",
		mc8.Util.Pct(mc8.Util.FreeWaiting), spanText(mc8.LongestWait), short.Util.Pct(short.Util.FreeWaiting), short.TransitionsPerUser(), w8.Util.Pct(w8.Util.FreeWaiting), w8.TransitionsPerUser(), w8.Util.BusyPct())
	p("4. **Detection delay (%.1f %%).** A finished job keeps its slot until the poll that sees it, on average half a wait of %.0f %% of its age before: %s a job here. The defaults poll at %.0f %% of the age: %.1f %% (%s a job); with everything else built but polls at %.0f %%, %.1f %% and %.1f %% busy (the last row of the table, %.1f transitions per user against the defaults' %.1f).",
		bu.Pct(bu.HeldAfterEnd), 100*BeforePollFactor, bu.MeanDetectionDelay().Round(100*time.Millisecond), 100*pollFactorNow, du.Pct(du.HeldAfterEnd), du.MeanDetectionDelay().Round(100*time.Millisecond), 100*BeforePollFactor, ru.Pct(ru.HeldAfterEnd), ru.BusyPct(), rec.TransitionsPerUser(), def.TransitionsPerUser())
	p("")
	p("#### Where production is now")
	p("")
	p("Built: (a) a release wakes the oldest parked waiter (WaitForJobSlot on a FIFO queue, WakeJobSlotWaiter after ReleaseJobSlot and ReleaseJobSlotAfterFailure, and the releaser of executions that end elsewhere), the slot wait a 5-minute fallback; (b) `MaxConcurrency` 8; (c) PrepareBatch writes an incremental run's work list longest first by each user's last export time (users with none first); (d) `POLL_AGE_FACTOR` %.2f (was %.2f: the check reads the extra young-age polls in-process, §3). Together: **%.1f %% busy** (seeds 1–%d: %s) against %.1f %% before, span %s against the ideal %s (× %.3f), %.1f transitions per user against %.1f (%s against %s a run of %d users). Without (d): %.1f %% (seeds: %s); (d) polls more (a 1-hour job: about %d polls instead of %d), most of them at young ages where the check reads in-process (§3, §7 price it).",
		pollFactorNow, BeforePollFactor,
		du.BusyPct(), Seeds, r.seedRange(vDefaults), bu.BusyPct(), spanText(du.Span), spanText(du.Ideal), du.SpanRatio(),
		def.TransitionsPerUser(), bef.TransitionsPerUser(), cost(def.Transitions), cost(bef.Transitions), Users,
		ru.BusyPct(), r.seedRange(vRecommended), pollsFor(time.Hour, pollFactorNow), pollsFor(time.Hour, BeforePollFactor))
	p("")
	p("Caveats: the order's estimate is the last export's whole time (its slot wait, store and convert too: the job's own time is not in the export's output), alike for every user of a run, so it mostly orders by job; a fixed-window run keeps its list's order; the order's gain is the tail's, which shrinks on its own with more users per run (the tail is a few jobs' length, the run is users × jobs ÷ 5).")
	p("")
}

func (r *Report) seedRange(v Variant) string {
	s, ok := r.seedRow(v)
	if !ok {
		return "—"
	}
	return fmt.Sprintf("%.1f–%.1f %%, median %.1f %%", s.Busy.Min, s.Busy.Max, s.Busy.Median)
}

// pollsFor counts the polls of one job of duration d under the default
// policy with the given factor.
func pollsFor(d time.Duration, factor float64) int {
	p := request.DefaultWaitPolicy
	p.AgeFactor = factor
	n, age := 0, time.Duration(0)
	for age < d {
		age += p.Next(age) + 3*DefaultLatencies.State + DefaultLatencies.Invoke
		n++
	}
	return n
}

func (r *Report) realMarkdown(p func(string, ...any)) {
	if r.Real == nil && r.RealErr == nil {
		return
	}
	p("#### Model check against real batches")
	p("")
	p("The batch and export ASL under the interpreter with their real waits, the bootstraps under the RIE, the ledger on moto's DynamoDB, AvePoint simulated (at most 5 jobs at once), the three runs at the same time on their own stacks, in %s. 15 users each with 4-second jobs (the simulator gives every job one wall-clock duration: its job plans end a job after so many polls, not after so long, so varied durations cannot be checked this way), polls every 1–2 s (`POLL_MIN_SECONDS` 1, `POLL_MAX_SECONDS` 2, `POLL_AGE_FACTOR` 0.1); the waiters are woken by the releases (the fallback, 5 minutes, never runs out in these runs), and the local waker does not long-poll an empty queue (`JOB_SLOT_WAKE_POLL_SECONDS` 0: its one emulator would hold every other export behind it), nor does the model of these runs. Real times: job start = the simulator's job creation, job end = that + 4 s, the rest from the execution events. The model is run on the same users with the latencies measured in the same run (means: the local stack serves each function one invocation at a time, which a median hides). Its one per-state time is the mean over the DynamoDB and Choice states, which the calls to moto dominate, so its poll cycle (3 × that) is longer than the one measured: the model notices jobs a little later than the real runs, not sooner.", r.RealTook.Round(time.Second))
	p("")
	p("| run | busy real / model | held, job over | free: waiting | free: Map cap, start | free: tail | wait rounds real / model | transitions real / model | AvePoint peak | measured latencies | wall | agree? |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
	for _, rr := range r.Real {
		u, m := rr.Util, rr.Model.Util
		p("| %s | %.1f %% / %.1f %% | %.1f / %.1f %% | %.1f / %.1f %% | %.1f / %.1f %% | %.1f / %.1f %% | %d / %d | %d / %d | %d | state %s, poll cycle %s besides its wait, store %s, convert %s, wake step %s | %s | %s |", rr.Run.Name,
			u.BusyPct(), m.BusyPct(), u.Pct(u.HeldAfterEnd), m.Pct(m.HeldAfterEnd), u.Pct(u.FreeWaiting), m.Pct(m.FreeWaiting),
			u.Pct(u.FreeMapCap+u.FreeStarting), m.Pct(m.FreeMapCap+m.FreeStarting), u.Pct(u.FreeTail), m.Pct(m.FreeTail),
			rr.WaitRounds, rr.Model.WaitRounds, rr.Transitions, rr.Model.Transitions, rr.PeakJobs,
			rr.Lat.State, rr.PollCycle, rr.Lat.Store, rr.Lat.Convert, rr.Lat.Wake, rr.Wall.Round(time.Second), met(rr.Agrees()))
	}
	if r.RealErr != nil {
		p("")
		p("Real runs failed: `%v`", r.RealErr)
	}
	agree := r.RealErr == nil && len(r.Real) > 0
	for _, rr := range r.Real {
		agree = agree && rr.Agrees()
	}
	p("")
	if agree {
		p("The model counts the transitions and the wait rounds of the real runs within %.0f %% — the waiters are refused, sleep and are passed over by newly started children as modelled — and its busy share is within %.0f points. Where it is higher: on the local stack the children's invocations queue at each emulator, so their jobs start and end staggered by tens of milliseconds where the model's start together, which shows in the real runs' tail and detection figures. In AWS each invocation has its own Lambda instance.",
			100*AgreeCountsRatio, AgreeBusyPoints)
	} else {
		p("**The model and the real runs disagree** beyond busy ±%.0f points or counts ±%.0f %% (see the rows): the figures above are not confirmed.", AgreeBusyPoints, 100*AgreeCountsRatio)
	}
	p("")
}
