package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/insights-export/insights-export/bench/cost"
	"github.com/insights-export/insights-export/bench/polling"
	"github.com/insights-export/insights-export/devstack"
	"github.com/insights-export/insights-export/internal/export"
	"github.com/insights-export/insights-export/internal/request"
)

var jobDurations = []time.Duration{time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour}

// modelLatency stands for one poll cycle's overhead in AWS besides the
// Wait: a few state transitions, a warm Lambda invoke and one HTTPS status
// call. It shifts later polls a little; the counts barely move with it.
const modelLatency = 250 * time.Millisecond

// tableDeadline lifts JOB_DEADLINE_SECONDS (default 6 h) so that every
// row, the 24-hour job's too, describes a finished export.
const tableDeadline = 25 * time.Hour

// inlineBudget is the waiting one check invocation does in-process
// between its reads, as deployed (POLL_INPROCESS_SECONDS' default).
const inlineBudget = export.DefaultInProcess

// jitterRuns is how many seeded runs give a jittered loop's expected
// value.
const jitterRuns = 1000

// previousPolicy is the wait policy before issue 5 (Min 5 s, Max 300 s,
// factor 0.2, the proportional wait rounded to the nearest second).
type previousPolicy struct{}

func (previousPolicy) Next(age time.Duration) time.Duration {
	w := time.Duration(math.Round(float64(age) * 0.2))
	w = min(max(w, 5*time.Second), 300*time.Second)
	return max(w.Round(time.Second), time.Second)
}

type policyCase struct {
	name   string
	policy polling.Policy
	// inProcess is the check's in-process waiting (polling.Job.InProcess).
	inProcess time.Duration
}

// retryCase is a design of item 5: the check's own Retry as the loop.
type retryCase struct {
	name string
	loop polling.RetryLoop
}

func (c retryCase) jitter() bool { return c.loop.Stages[0].Jitter }

// retryCases are the Retry-loop designs priced against today's loop, from
// the default wait policy: the first read after Min (WaitForJob stays);
// one retrier IntervalSeconds = Min, BackoffRate = 1 + AgeFactor,
// MaxDelaySeconds = Max; or two, the first flat at Min while the job is
// younger than Min ÷ AgeFactor (where the policy's proportional wait
// reaches its minimum), the second growing from there. MaxAttempts is the
// deadline in retries. Each without jitter and with FULL jitter.
func retryCases(deadline time.Duration) []retryCase {
	p := request.DefaultWaitPolicy
	grow := polling.Retrier{Error: "JobRunningError", Interval: p.Min, Backoff: 1 + p.AgeFactor, MaxDelay: p.Max}
	one := grow
	one.MaxAttempts = polling.MaxAttemptsFor(grow, p.Min, deadline)
	until := time.Duration(float64(p.Min)/p.AgeFactor) / time.Second * time.Second
	flat := polling.Retrier{Error: "JobRunningYoungError", Interval: p.Min, Backoff: 1, MaxAttempts: int(until/p.Min) + 1}
	second := grow
	second.MaxAttempts = polling.MaxAttemptsFor(grow, until, deadline)
	cases := []retryCase{
		{fmt.Sprintf("one retrier (%s × %.2fⁿ, ≤ %s)", p.Min, grow.Backoff, p.Max), polling.RetryLoop{First: p.Min,
			Stages: []polling.RetryStage{{Retrier: one}}}},
		{fmt.Sprintf("two retriers (%s flat below %s, then %s × %.2fⁿ, ≤ %s)", p.Min, until, p.Min, grow.Backoff, p.Max), polling.RetryLoop{First: p.Min,
			Stages: []polling.RetryStage{{Retrier: flat, Until: until}, {Retrier: second}}}},
	}
	// Jittered, the same loops; an earlier stage's MaxAttempts (which
	// only has to outlast its ages) is raised fourfold, so that only the
	// last stage's count — the deadline — is put to the test.
	for _, c := range cases[:2] {
		j := retryCase{c.name + ", FULL jitter", polling.RetryLoop{First: c.loop.First}}
		for i, s := range c.loop.Stages {
			s.Jitter = true
			if i < len(c.loop.Stages)-1 {
				s.MaxAttempts *= 4
			}
			j.loop.Stages = append(j.loop.Stages, s)
		}
		cases = append(cases, j)
	}
	return cases
}

// retryRow is one priced Retry-loop design for one job.
type retryRow struct {
	res   polling.Result     // without jitter
	stats polling.RetryStats // with jitter
}

func runPolling(ctx context.Context, r *report) error {
	began := time.Now()
	asl, err := polling.ExportASL()
	if err != nil {
		return err
	}
	exp, err := polling.LoadExport(asl)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(asl)
	if err != nil {
		return err
	}
	cur := request.DefaultWaitPolicy
	cur.Deadline = tableDeadline
	cases := []policyCase{
		{fmt.Sprintf("default (min %s, max %s, factor %.2f), reads in-process up to %s a check (deployed)", cur.Min, cur.Max, cur.AgeFactor, inlineBudget), cur, inlineBudget},
		{"default, one read a check", cur, 0},
		{"previous default (min 5s, max 5m, factor 0.2), one read a check", previousPolicy{}, 0},
		{"fixed 10 s poller (baseline)", polling.Fixed(10 * time.Second), 0},
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	var realErr error
	var reals []polling.RealResult
	var retryReals []polling.RetryRealResult
	if r.opts.realPolling {
		reals, retryReals, realErr = realRuns(ctx, r)
	}

	fixedT, fixedE := exp.Fixed()
	perT, perE := exp.PerRead()
	one, err := exp.Success(1)
	if err != nil {
		return err
	}
	var path []string
	for _, s := range one {
		path = append(path, fmt.Sprintf("%s (%s)", s.Name, s.Type))
	}
	p("**Counting.** The model walks `statemachine/export.asl.json` (`bench/polling.Definition.Walk`): a successful export after one poll cycle enters %s; each further cycle adds WaitForJob (Wait) → CheckJob (Task) → IsJobFinished (Choice). A billed state transition is a state entered (retries count too), so one export costs **%d × cycles + %d** transitions. History events per state in a Standard workflow: a Task 5 (TaskStateEntered, the Lambda or service integration's Scheduled, Started, Succeeded, TaskStateExited), Wait, Choice and Succeed 2 each (…StateEntered/…StateExited), plus ExecutionStarted and ExecutionSucceeded: **%d × cycles + %d** events. A cycle is one CheckJob invocation; since issue 13 it may read the status several times: while the policy's waits of that invocation add up to at most %s (`POLL_INPROCESS_SECONDS`, `export.Checker`), it sleeps through the next wait itself and reads again, so *reads* and *cycles* differ. The reads happen at the ages the policy gives either way: the detection delay does not change, only who waits. Sources: [HistoryEvent types](https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html); price [$0.025 per 1,000 state transitions](https://aws.amazon.com/step-functions/pricing/) (Standard, us-east-1; free tier ignored); history quota [25,000 events per execution](https://docs.aws.amazon.com/step-functions/latest/dg/limits.html).",
		strings.Join(path, " → "), perT, fixedT, perE, fixedE, inlineBudget)
	p("")
	p("**Detection delay** runs from the job's end to the CheckJob that reads it finished. *Actual* is for a job of exactly the row's duration; *worst* is for any job ending in the same poll interval (it ends just after poll k−1 and is seen at poll k: delay = t(k) − t(k−1), relative to its age t(k−1)) — the figure judged against the ≤ 10 %% target. Model: `bench/polling.Simulate`, which runs `request.WaitPolicy.Next` exactly as the check function does (age = wall clock − startedAt) with %s of latency per poll cycle; the rows lift JOB_DEADLINE_SECONDS (default 6 h) to %s so the 24-hour job finishes.", modelLatency, human(tableDeadline))
	p("")
	p("| policy | job | reads | cycles | transitions | history events | cost | actual delay | worst delay (÷ age) |")
	p("|---|---|---:|---:|---:|---:|---:|---:|---:|")
	results := map[string]map[time.Duration]polling.Result{}
	for _, c := range cases {
		results[c.name] = map[time.Duration]polling.Result{}
		for _, d := range jobDurations {
			res, err := polling.Simulate(exp, c.policy, polling.Job{Duration: d, Latency: modelLatency, Deadline: tableDeadline, InProcess: c.inProcess})
			if err != nil {
				return err
			}
			results[c.name][d] = res
			outcome := ""
			if res.Outcome != polling.Succeeded {
				outcome = fmt.Sprintf(" — **fails: %s at %s**", res.Outcome, res.PollTimes[len(res.PollTimes)-1].Round(time.Minute))
			}
			worst := "—"
			if res.Outcome == polling.Succeeded {
				worst = fmt.Sprintf("%s (%.1f %%)", res.WorstDelay.Round(100*time.Millisecond), 100*res.WorstRatio)
			}
			p("| %s | %s | %d | %d | %d | %d | $%.4f | %s | %s%s |", c.name, human(d), res.Polls, res.Cycles, res.Transitions, res.HistoryEvents, res.CostUSD(),
				actual(res, d), worst, outcome)
		}
	}

	def, oneRead, fixed := results[cases[0].name], results[cases[1].name], results[cases[3].name]
	for _, d := range jobDurations {
		cu, fx := def[d], fixed[d]
		base := fmt.Sprintf("fixed 10 s: %d", fx.Transitions)
		if fx.Outcome != polling.Succeeded {
			base += " (fails: " + fx.Outcome + ")"
		}
		r.rows = append(r.rows, row{pollingRows, human(d) + " job: state transitions / cost", fmt.Sprintf("%d / $%.4f", cu.Transitions, cu.CostUSD()), base,
			fmt.Sprintf("%.2f", float64(cu.Transitions)/float64(fx.Transitions)), targetFor(d, "transitions"), metTransitions(d, cu)})
	}
	r.rows = append(r.rows, row{pollingRows, "24 h job: history events", fmt.Sprint(def[24*time.Hour].HistoryEvents),
		fmt.Sprintf("fixed 10 s: %d (quota 25,000)", fixed[24*time.Hour].HistoryEvents), fmt.Sprintf("%.2f", float64(def[24*time.Hour].HistoryEvents)/float64(fixed[24*time.Hour].HistoryEvents)),
		"≤ 2,500", yesNo(def[24*time.Hour].HistoryEvents <= 2500)})
	for _, d := range jobDurations {
		cu, fx := def[d], fixed[d]
		fxs := "—"
		if fx.Outcome == polling.Succeeded {
			fxs = fmt.Sprintf("fixed 10 s: %.1f %%", 100*fx.WorstRatio)
		}
		r.rows = append(r.rows, row{pollingRows, human(d) + " job: worst detection delay ÷ age", fmt.Sprintf("%.1f %% (%s; actual %s)", 100*cu.WorstRatio, cu.WorstDelay.Round(100*time.Millisecond), cu.Delay.Round(100*time.Millisecond)),
			fxs, "—", "≤ 10 %", yesNo(cu.WorstRatio <= 0.10)})
	}

	// The conflict, in numbers.
	maxReads := (60 - fixedT) / perT
	minPolls := polling.PollsBound(55*time.Second, time.Hour, 0.10)
	p("")
	p("**The targets conflict for the 1-hour job.** ≤ 60 transitions means ≤ %d reads (%d × %d + %d = %d). Noticing a job within 10 %% of its age means each wait is ≤ 10 %% of the age at the previous poll, so poll ages grow at most geometrically by 1.1 and covering ages from t₀ to 1 h takes ≥ ln(3600 s / t₀) / ln 1.1 polls: from t₀ = 55 s (where a 5 s minimum wait stops dominating) that is %.0f polls, ≥ %d transitions. With %d polls the 10 %% bound could only start at t₀ = 3600 s / 1.1^%d ≈ %.0f s, i.e. a job shorter than that would be noticed late by more than 10 %%; or, starting at 5 s, waits would have to grow by (3600/5)^(1/%d) = %.2f× per poll: a delay of up to %.0f %% of the job's age.",
		maxReads, perT, maxReads, fixedT, perT*maxReads+fixedT, minPolls, perT*int(math.Ceil(minPolls))+fixedT,
		maxReads, maxReads, 3600/math.Pow(1.1, float64(maxReads)), maxReads-1, math.Pow(720, 1/float64(maxReads-1)), 100*(math.Pow(720, 1/float64(maxReads-1))-1))
	p("")
	p("The default keeps the delay target (the user-visible one) and the history target, and pays for it with ≈ %.0f× the transition target on a 1-hour job: $%.4f instead of $%.4f per export, against $%.4f for the fixed 10-second poller. The factor is %.2f: below 0.10 so that the poll's own latency (transitions, Lambda invoke, status call; up to ~1 s) still fits under 10 %%, and down to 6 %% because a job that is over holds its AvePoint job slot until the poll that notices it (§8: the slots' busy share); the proportional wait is rounded down to whole seconds for the same reason. The 10-minute cap keeps a 24-hour job at %d history events.",
		float64(def[time.Hour].Transitions)/60, def[time.Hour].CostUSD(), 60*polling.USDPerTransition, fixed[time.Hour].CostUSD(), cur.AgeFactor, def[24*time.Hour].HistoryEvents)
	p("")
	lambdaPerSecond := 128.0 / 1024 * cost.USEast1.LambdaGBSecond // the check function's 128 MB, arm64 (§7's prices)
	ten := 10 * time.Minute
	p("What would meet all three: fewer transitions per poll. The Choice state costs one transition per poll; without it (CheckJob routing by error/Catch) a poll is 2 transitions, and %d → 2 per poll moves the 1-hour job (one read a check) from %d to %d transitions — still above 60. The check's own Retry as the loop (1 transition per poll) is priced below: %s.", perT, oneRead[time.Hour].Transitions, fixedT+2*oneRead[time.Hour].Polls, "see *The poll loop as Task retries*")
	p("")
	p("**Adopted: reads in-process while the waits are short.** The check function sleeps through a wait itself while its invocation's waits add up to at most %s, keeping %s for each read after a sleep (`export.ReadReserve`: what a read had when each invocation made one; CheckJobFunction's Timeout is 55 s for it). Lambda bills the sleep at 128 MB arm64, $%.7f a second, so a poll cycle's %d transitions ($%.6f) buy %.0f s of waiting in the function: for every wait under that, reading in-process is the cheaper sleeper, and the policy's waits stay under %s until the job is %s old. The reads keep their ages (same detection delay, the rows above); the 10-minute job goes through Step Functions %d times instead of %d (%d transitions instead of %d, with %s of waiting billed as Lambda time); the 1-hour job %d instead of %d (%d transitions, still above 60). With no completion callback in the AvePoint API, the 10 %% delay target sets the floor.",
		inlineBudget, export.ReadReserve, lambdaPerSecond, perT, float64(perT)*polling.USDPerTransition, float64(perT)*polling.USDPerTransition/lambdaPerSecond,
		inlineBudget, human(time.Duration(float64(inlineBudget)/cur.AgeFactor)),
		def[ten].Cycles, oneRead[ten].Cycles, def[ten].Transitions, oneRead[ten].Transitions, def[ten].Inside.Round(time.Second),
		def[time.Hour].Cycles, oneRead[time.Hour].Cycles, def[time.Hour].Transitions)
	for _, d := range []time.Duration{time.Minute, ten, time.Hour} {
		r.rows = append(r.rows, row{pollingRows, human(d) + " job: poll cycles through Step Functions, reads in-process vs one read a check",
			fmt.Sprintf("%d cycles for %d reads", def[d].Cycles, def[d].Polls), fmt.Sprintf("one read a check: %d", oneRead[d].Cycles),
			fmt.Sprintf("%.2f", float64(def[d].Cycles)/float64(oneRead[d].Cycles)), "fewer, same reads", yesNo(def[d].Cycles < oneRead[d].Cycles && abs(def[d].Polls-oneRead[d].Polls) <= 1)})
	}

	if r.opts.realPolling {
		p("")
		p("**Model check against real runs.** The real ASL under the interpreter (aws-local-stepfunctions), the bootstraps under the RIE, AvePoint simulated with a wall-clock job duration, real Wait durations and real in-process sleeps. Cycles, transitions and history events come from the execution's events (StateEntered → one transition and its state type's history events), reads from the simulator's log of status calls; the model is run with the latency measured in the same execution (a cycle from a check's exit to the next check's entry, less its wait).")
		p("")
		p("| run | job | status | reads real / model | cycles real / model | transitions real / model | history events real / model | delay real / model | latency per cycle | wall |")
		p("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
		agree := realErr == nil && len(reals) > 0
		for _, rr := range reals {
			m := rr.Model
			p("| %s | %s | %s | %d / %d | %d / %d | %d / %d | %d / %d | %s / %s | %s | %s |", rr.Run.Name, human(rr.Run.JobDuration), rr.Status,
				rr.Reads, m.Polls, rr.Polls, m.Cycles, rr.Transitions, m.Transitions, rr.HistoryEvents, m.HistoryEvents,
				rr.Delay.Round(10*time.Millisecond), m.Delay.Round(10*time.Millisecond), rr.Latency.Round(time.Millisecond), rr.Wall.Round(time.Second))
			if abs(rr.Reads-m.Polls) > 1 || abs(rr.Polls-m.Cycles) > 1 || rr.Transitions-m.Transitions != perT*(rr.Polls-m.Cycles) || rr.HistoryEvents-m.HistoryEvents != perE*(rr.Polls-m.Cycles) {
				agree = false
			}
		}
		if realErr != nil {
			p("")
			p("Real runs failed: `%v`", realErr)
		}
		r.rows = append(r.rows, row{pollingRows, "model vs real runs of the ASL (reads and cycles within ±1, same counting)", fmt.Sprintf("%d runs", len(reals)), "—", "—", "agree", yesNo(agree)})
	}
	if err := retrySection(p, r, exp, src, def, oneRead, retryReals, realErr); err != nil {
		return errors.Join(err, realErr)
	}
	r.add(30, b.String(), time.Since(began))
	return realErr
}

// retrySection is item 5 of issue 13: the poll loop as the check's own
// Retry, priced against today's loop, checked against real runs of its
// ASL variant, and the decision.
func retrySection(p func(string, ...any), r *report, exp *polling.Export, src []byte, cur, oneRead map[time.Duration]polling.Result,
	reals []polling.RetryRealResult, realErr error) error {
	cases := retryCases(tableDeadline)
	variants := make([]*polling.Export, len(cases))
	for i, c := range cases {
		b, err := polling.RetryVariant(src, polling.CheckState, c.loop)
		if err != nil {
			return err
		}
		def, err := polling.ParseDefinition(b)
		if err != nil {
			return err
		}
		if variants[i], err = polling.NewExport(def, polling.CheckState); err != nil {
			return err
		}
	}
	rows := make([]map[time.Duration]retryRow, len(cases))
	for i, c := range cases {
		rows[i] = map[time.Duration]retryRow{}
		for _, d := range jobDurations {
			job := polling.Job{Duration: d, Latency: modelLatency}
			var rr retryRow
			var err error
			if c.jitter() {
				rr.stats, err = polling.ExpectRetry(variants[i], c.loop, job, jitterRuns, uint64(d))
			} else {
				rr.res, err = polling.SimulateRetry(variants[i], c.loop, job, nil)
			}
			if err != nil {
				return err
			}
			rows[i][d] = rr
		}
	}
	vT, vE := variants[0].Fixed()
	p("")
	p("#### The poll loop as Task retries (issue 13, item 5)")
	p("")
	p("**The design.** CheckJob reads the status once per attempt and, while the job runs, *fails* with a still-running error; a retrier on that error is the loop, so a poll is one retry: **1 transition and 3 history events** (LambdaFunctionScheduled, LambdaFunctionStarted, LambdaFunctionFailed) instead of Wait + Task + Choice (%d and %d). The variant ASL is `bench/polling.RetryVariant` applied to `statemachine/export.asl.json` (IsJobFinished goes, CheckJob leads to where *finished* led, the loop's retriers come first in CheckJob's Retry; WaitForJob stays for the first wait): **reads + %d** transitions and **3 × reads + %d** events. Step Functions computes the wait before a retrier's k-th retry as IntervalSeconds × BackoffRate^k, at most MaxDelaySeconds; FULL jitter draws it uniformly between 0 and that ([JitterType](https://docs.aws.amazon.com/cdk/api/v2/python/aws_cdk.aws_stepfunctions/JitterType.html); aws-local-stepfunctions 3.0.0 computes the same). MaxAttempts is the deadline in retries: %d for the one-retrier loop at the default 6 h (%d at the %s the rows use). Jittered rows are the mean of %d seeded runs (delays over the runs that saw the job finished); their worst delay is the 95th percentile.",
		3, 9, vT, vE, polling.MaxAttemptsFor(cases[0].loop.Stages[0].Retrier, cases[0].loop.First, request.DefaultWaitPolicy.Deadline),
		cases[0].loop.Stages[0].MaxAttempts, human(tableDeadline), jitterRuns)
	p("")
	p("| loop | job | reads | transitions (÷ today's loop) | history events | actual delay (÷ job) | worst delay ÷ age |")
	p("|---|---|---:|---:|---:|---:|---:|")
	for _, d := range jobDurations {
		c := cur[d]
		p("| today's Choice loop (default policy, reads in-process up to %s) | %s | %d | %d | %d | %s | %.1f %% |", inlineBudget, human(d), c.Polls, c.Transitions, c.HistoryEvents, actual(c, d), 100*c.WorstRatio)
	}
	for i, c := range cases {
		for _, d := range jobDurations {
			rr, base := rows[i][d], cur[d]
			if !c.jitter() {
				x := rr.res
				note := ""
				if x.Outcome != polling.Succeeded {
					note = " — **" + x.Outcome + "**"
				}
				p("| %s | %s | %d | %d (%.2f) | %d | %s | %.1f %%%s |", c.name, human(d), x.Polls, x.Transitions, float64(x.Transitions)/float64(base.Transitions),
					x.HistoryEvents, actual(x, d), 100*x.WorstRatio, note)
				continue
			}
			s := rr.stats
			note := ""
			if s.Outcomes[polling.Succeeded] < s.Runs {
				note = fmt.Sprintf(" — **%d %% of runs: retry attempts exhausted, at %s on average**", 100*(s.Runs-s.Outcomes[polling.Succeeded])/s.Runs, s.EndAge.Round(time.Minute))
			}
			delay, worst := "—", "—"
			if s.Outcomes[polling.Succeeded] > 0 {
				delay = fmt.Sprintf("%s (%.1f %%)", s.Delay.Round(100*time.Millisecond), 100*s.DelayRatio)
				worst = fmt.Sprintf("%.1f %% (p95)", 100*s.WorstRatioP95)
			}
			p("| %s | %s | %.1f | %.1f (%.2f) | %.0f | %s | %s%s |", c.name, human(d), s.Polls, s.Transitions, s.Transitions/float64(base.Transitions),
				s.HistoryEvents, delay, worst, note)
		}
	}
	one, two, twoJ := rows[0], rows[1], rows[3]
	worstTwo, worstCur := 0.0, 0.0
	for _, d := range jobDurations {
		worstTwo, worstCur = max(worstTwo, two[d].res.WorstRatio), max(worstCur, cur[d].WorstRatio)
	}
	ten := 10 * time.Minute
	saved := cur[ten].Transitions - two[ten].res.Transitions
	inlineSaved := float64(oneRead[ten].Transitions-cur[ten].Transitions)*polling.USDPerTransition -
		cur[ten].Inside.Seconds()*128/1024*cost.USEast1.LambdaGBSecond
	// Reads with jitter against without, where every jittered run finished.
	lo, hi := math.Inf(1), 0.0
	for _, d := range jobDurations {
		if s := rows[2][d].stats; s.Outcomes[polling.Succeeded] == s.Runs {
			f := s.Polls / float64(one[d].res.Polls)
			lo, hi = min(lo, f), max(hi, f)
		}
	}
	day := rows[2][24*time.Hour].stats
	p("")
	p("**What the model shows.** One retrier grows its waits with the number of reads, not with the age (wait k = %s × %.2f^k, so the wait is %.0f %% of the age *plus* %s): a 1-minute job is seen up to %.1f %% of its age late, over the 10 %% target. Two retriers — the check names its error by the job's age — reproduce today's policy read for read (worst %.1f %% against today's %.1f %%) at %d instead of today's %d transitions for a 10-minute job (%d fewer, $%.5f an export) and %d instead of %d history events for a 24-hour one. FULL jitter halves the mean wait: %.1f–%.1f× the reads, a worst delay that is no longer bounded by the age (p95 %.1f %% for a 10-minute job, two retriers), and MaxAttempts stops being a deadline (%d %% of the 24-hour runs ran out of retries, at %s on average, though they were counted for %s); nothing needs jitter here, since the exports' status reads are already spread by their own start times.",
		request.DefaultWaitPolicy.Min, 1+request.DefaultWaitPolicy.AgeFactor, 100*request.DefaultWaitPolicy.AgeFactor, request.DefaultWaitPolicy.Min, 100*one[time.Minute].res.WorstRatio,
		100*worstTwo, 100*worstCur, two[ten].res.Transitions, cur[ten].Transitions, saved, float64(saved)*polling.USDPerTransition,
		two[24*time.Hour].res.HistoryEvents, cur[24*time.Hour].HistoryEvents, lo, hi, 100*twoJ[ten].stats.WorstRatioP95,
		100*(day.Runs-day.Outcomes[polling.Succeeded])/day.Runs, day.EndAge.Round(time.Minute), human(tableDeadline))

	// Real runs of the variant.
	agree := realErr == nil && len(reals) > 0
	if r.opts.realPolling {
		p("")
		p("**The variant, run for real.** One stack (moto, the simulator, the functions' RIEs), three executions of the variant ASL at once, each its own %s job, with real waits scaled down (POLL_MIN_SECONDS 1: the first wait 1 s). CheckJob goes to a stand-in in front of the real checkjob function that passes its answer through when the job is finished and turns *running* into the loop's still-running error, as a check of this design would fail. Counted from the events as above, with a retry after a still-running error counted as a read (its wait: failure to retry); the model gets the latency measured.", human(retryJob))
		p("")
		p("| run | status | outcome (model) | reads real / model | transitions real / model | history events real / model | delay real / model | latency per read |")
		p("|---|---|---|---:|---:|---:|---:|---:|")
		for _, rr := range reals {
			m := rr.Model
			p("| %s | %s | %s | %d / %d | %d / %d | %d / %d | %s / %s | %s |", rr.Run.Name, rr.Status, rr.Outcome, rr.Polls, m.Polls,
				rr.Transitions, m.Transitions, rr.HistoryEvents, m.HistoryEvents, rr.Delay.Round(10*time.Millisecond), m.Delay.Round(10*time.Millisecond), rr.Latency.Round(time.Millisecond))
			d := rr.Polls - m.Polls
			exact := rr.Outcome != polling.Succeeded // attempts decide, not time
			if (exact && d != 0) || abs(d) > 1 || rr.Transitions-m.Transitions != d || rr.HistoryEvents-m.HistoryEvents != polling.EventsRetry*d {
				agree = false
			}
		}
		if realErr != nil {
			p("")
			p("Real runs failed: `%v`", realErr)
		}
	}

	errs := two[ten].res.Polls - 1
	p("")
	p("**The decision: not adopted.** Every read after the first is a failed Lambda invocation — %d for a 10-minute export — and nothing in AWS tells those apart from real failures:", errs)
	p("")
	p("- **Lambda `Errors`** counts *every* invocation that results in a function error, handled or not ([Lambda metrics](https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html): \"Errors – The number of invocations that result in a function error. Function errors include exceptions that your code throws…\"); its only dimensions are FunctionName, Resource and ExecutedVersion, so no alarm, metric math or dashboard can leave out one error type. `CheckJobErrorsAlarm` (errors + throttles ≥ 1 in 5 minutes, template.yaml) would be in ALARM whenever an export is running, and the function's error rate would read ~%.0f %% on a 10-minute job.", 100*float64(errs)/float64(two[ten].res.Polls))
	p("- **Step Functions**: `LambdaFunctionsFailed` (AWS/States, per LambdaFunctionArn) counts each failed attempt ([Step Functions metrics](https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html)); `ExecutionsFailed` does not move (a retried state that then succeeds does not fail the execution), so `ExportExecutionsAlarm` would stay meaningful. But the state machines log at Level ERROR, and ERROR logs every `LambdaFunctionFailed` event ([log levels](https://docs.aws.amazon.com/step-functions/latest/dg/cloudwatch-log-level.html)): one log record per poll in the state machine's log group, where today a success logs nothing; FATAL would silence it and every real task failure with it.")
	p("- **X-Ray** (Tracing Active on every function, tracing on the state machines): aws-lambda-go (v1.55.1 here) hands each returned error to Lambda as the invocation's X-Ray error cause ([aws/aws-lambda-go#544](https://github.com/aws/aws-lambda-go/pull/544)), so every poll shows as a failed function segment with an exception in the export's trace, and the retries as failed attempts in the state machine's.")
	p("- **No error-free way**: a Retry applies only to a state that failed; a Task whose function returns normally (the `lambda:invoke` integration's payload included, whatever it says) goes to its Next, and the ASL has no retry on a result. The Choice state is what turns a result into a loop.")
	p("")
	p("**What would make it acceptable**, and whether it is worth it: a dedicated still-running check function (its own log group, left out of the per-function Errors alarms), its real failures reported another way — they end the execution, so `ExportExecutionsAlarm` and `ExportsEnded` by error name see them, and an EMF or log-filter metric of non-still-running errors could replace its Errors alarm — and X-Ray and the ERROR-level execution log accepted as noisy for that function. Over today's loop, which reads in-process since issue 13, that would save %d more transitions ($%.5f) per 10-minute export, ≈ $%.0f a day for 10,000 such exports, and buy blindness in the signals operators look at first. Reading in-process took the larger share of the same saving without it: $%.5f on that export against one read a check (%d cycles through Step Functions instead of %d, net of %s of 128 MB Lambda time), with no operator-facing signal changed: the Retry loop is not adopted.",
		saved, float64(saved)*polling.USDPerTransition, float64(saved)*polling.USDPerTransition*10000,
		inlineSaved, cur[ten].Cycles, oneRead[ten].Cycles, cur[ten].Inside.Round(time.Second))

	r.rows = append(r.rows,
		row{pollingRows, "Retry loop (two retriers), 10 min job: state transitions", fmt.Sprint(two[ten].res.Transitions), fmt.Sprintf("Choice loop: %d", cur[ten].Transitions),
			fmt.Sprintf("%.2f", float64(two[ten].res.Transitions)/float64(cur[ten].Transitions)), "fewer than today", yesNo(two[ten].res.Transitions < cur[ten].Transitions)},
		row{pollingRows, "Retry loop (two retriers), 24 h job: history events", fmt.Sprint(two[24*time.Hour].res.HistoryEvents), fmt.Sprintf("Choice loop: %d", cur[24*time.Hour].HistoryEvents),
			fmt.Sprintf("%.2f", float64(two[24*time.Hour].res.HistoryEvents)/float64(cur[24*time.Hour].HistoryEvents)), "fewer than today", yesNo(two[24*time.Hour].res.HistoryEvents < cur[24*time.Hour].HistoryEvents)},
		row{pollingRows, "Retry loop (two retriers): worst detection delay ÷ age, 1 min–24 h jobs", fmt.Sprintf("≤ %.1f %%", 100*worstTwo), fmt.Sprintf("Choice loop: ≤ %.1f %%", 100*worstCur),
			"—", "≤ 10 % (the same delay)", yesNo(worstTwo <= 0.10)},
		row{pollingRows, fmt.Sprintf("Retry loop (one retrier, %s × %.2fⁿ): worst detection delay ÷ age, 1 min job", request.DefaultWaitPolicy.Min, 1+request.DefaultWaitPolicy.AgeFactor), fmt.Sprintf("%.1f %%", 100*one[time.Minute].res.WorstRatio), fmt.Sprintf("Choice loop: %.1f %%", 100*cur[time.Minute].WorstRatio),
			"—", "≤ 10 %", yesNo(one[time.Minute].res.WorstRatio <= 0.10)},
		row{pollingRows, "Retry loop: still-running reads kept out of what operators see", fmt.Sprintf("no: %d Lambda errors per 10 min export (Errors alarm, X-Ray, ERROR log)", errs), "Choice loop: 0",
			"—", "kept out, or not adopted", "**no** (not adopted)"},
	)
	if r.opts.realPolling {
		r.rows = append(r.rows, row{pollingRows, "Retry-loop model vs real runs of its ASL variant (reads within ±1, same counting)", fmt.Sprintf("%d runs", len(reals)), "—", "—", "agree", yesNo(agree)})
	}
	return nil
}

func init() {
	notes = append(notes,
		struct{ prefix, text string }{"Retry loop: still-running reads", "Every poll of the Retry loop is a failed Lambda invocation: Lambda's Errors metric has no per-error-type dimension, so the per-function errors alarm would fire during every export, X-Ray marks each poll failed and the ERROR-level state machine log records each one. Not adopted; §3, *The poll loop as Task retries*, says what would make it acceptable and why reading the status several times per invocation is the better way to the same saving."},
		struct{ prefix, text string }{"Retry loop (one retrier", "One retrier's waits grow with the number of reads, not with the age (the policy's share of the age plus the 5 s interval), so a young job is noticed late; two retriers (flat 5 s while the job is young, then growing by the policy's factor) keep today's delay — the row above."},
	)
}

func actual(res polling.Result, d time.Duration) string {
	if res.Outcome != polling.Succeeded {
		return "—"
	}
	return fmt.Sprintf("%s (%.1f %%)", res.Delay.Round(100*time.Millisecond), 100*float64(res.Delay)/float64(d))
}

func targetFor(d time.Duration, what string) string {
	if d == time.Hour && what == "transitions" {
		return "≤ 60"
	}
	return "—"
}

func metTransitions(d time.Duration, r polling.Result) string {
	if d != time.Hour {
		return "—"
	}
	return yesNo(r.Transitions <= 60)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func human(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	default:
		return d.String()
	}
}

// retryJob is the job of the Retry-loop variant's real runs.
const retryJob = 25 * time.Second

// realRuns runs the ASL for real, concurrently (they mostly wait): the
// default policy and the fixed poller on a 1-minute job, a policy scaled
// down so that one short run crosses all three regimes of the policy
// (minimum, proportional, capped), and the Retry-loop variant three ways
// on one more stack.
func realRuns(ctx context.Context, r *report) ([]polling.RealResult, []polling.RetryRealResult, error) {
	if err := devstack.EnsureTools(ctx); err != nil {
		return nil, nil, err
	}
	tmp, err := os.MkdirTemp("", "bench-polling-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	bins, err := devstack.BuildBootstraps(ctx, tmp)
	if err != nil {
		return nil, nil, err
	}
	def := request.DefaultWaitPolicy
	scaled := request.WaitPolicy{Min: time.Second, Max: 3 * time.Second, AgeFactor: 0.1, Deadline: time.Hour}
	runs := []polling.RealRun{
		{Name: "default policy, reads in-process (deployed)", JobDuration: time.Minute, Policy: def, Deadline: def.Deadline, InProcess: inlineBudget},
		{Name: "fixed 10 s poller", JobDuration: time.Minute, Policy: polling.Fixed(10 * time.Second), Deadline: def.Deadline,
			Env: map[string]string{"POLL_MIN_SECONDS": "10", "POLL_MAX_SECONDS": "10"}},
		{Name: "scaled policy (min 1 s, max 3 s, factor 0.1), reads in-process", JobDuration: 45 * time.Second, Policy: scaled, Deadline: scaled.Deadline, InProcess: inlineBudget,
			Env: map[string]string{"POLL_MIN_SECONDS": "1", "POLL_MAX_SECONDS": "3", "POLL_AGE_FACTOR": "0.1", "JOB_DEADLINE_SECONDS": "3600"}},
		{Name: "scaled policy, one read a check", JobDuration: 45 * time.Second, Policy: scaled, Deadline: scaled.Deadline,
			Env: map[string]string{"POLL_MIN_SECONDS": "1", "POLL_MAX_SECONDS": "3", "POLL_AGE_FACTOR": "0.1", "JOB_DEADLINE_SECONDS": "3600"}},
	}
	grow := polling.Retrier{Error: "JobRunningError", Interval: time.Second, Backoff: 1.5, MaxDelay: 4 * time.Second, MaxAttempts: 30}
	short := grow
	short.MaxAttempts = 4
	flat := polling.Retrier{Error: "JobRunningYoungError", Interval: time.Second, Backoff: 1, MaxAttempts: 10}
	retries := []polling.RetryRun{
		{Name: "one retrier (1 s × 1.5ⁿ, ≤ 4 s)", Deadline: time.Hour, Loop: polling.RetryLoop{First: time.Second, Stages: []polling.RetryStage{{Retrier: grow}}}},
		{Name: "two retriers (1 s flat below 6 s, then 1 s × 1.5ⁿ, ≤ 4 s)", Deadline: time.Hour, Loop: polling.RetryLoop{First: time.Second,
			Stages: []polling.RetryStage{{Retrier: flat, Until: 6 * time.Second}, {Retrier: grow}}}},
		{Name: "MaxAttempts 4 (the job outlives them)", Deadline: time.Hour, Loop: polling.RetryLoop{First: time.Second, Stages: []polling.RetryStage{{Retrier: short}}}},
	}
	r.commands = append(r.commands, pollingCommand+"; 3 more of its Retry-loop variant (bench/polling.RetryVariant) on one stack")
	out := make([]polling.RealResult, len(runs))
	errs := make([]error, len(runs)+1)
	var retryOut []polling.RetryRealResult
	var wg sync.WaitGroup
	for i, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			defer cancel()
			out[i], errs[i] = polling.RunReal(rctx, bins, run)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		retryOut, errs[len(runs)] = polling.RunRealRetry(rctx, bins, retryJob,
			map[string]string{"POLL_MIN_SECONDS": "1", "JOB_DEADLINE_SECONDS": "3600"}, retries)
	}()
	wg.Wait()
	var ok []polling.RealResult
	for i := range runs {
		if errs[i] == nil {
			ok = append(ok, out[i])
		}
	}
	var okRetry []polling.RetryRealResult
	if errs[len(runs)] == nil {
		okRetry = retryOut
	}
	return ok, okRetry, errors.Join(errs...)
}
