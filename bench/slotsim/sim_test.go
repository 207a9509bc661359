package slotsim

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/request"
)

const s = time.Second

// instant is the deployed configuration with every latency 0, so that
// the timelines can be worked out by hand from the two policies.
func instant(maxConcurrency int) Config {
	return Config{Slots: 5, MaxConcurrency: maxConcurrency, Poll: request.DefaultWaitPolicy, SlotWait: BeforeSlotWait}
}

func jobs(n int, d time.Duration) []time.Duration { return slices.Repeat([]time.Duration{d}, n) }

func TestSimulateByHand(t *testing.T) {
	// Polls of a 60-second job: waits of 5 s (9 % of the age stays under
	// the 5 s minimum until 66 s), so at 5, 10, …, 60 s: 12 polls, the
	// last sees it finished at once. A user costs the Map's 3 states
	// (HowManyWindows, ExportUser, UserSucceeded) and the export's
	// AcquireJobSlot, StartExport, RecordJobOnSlot, 3 a poll, ReleaseJobSlot,
	// StoreReport, ConvertReport, AnnounceReport, Done: 3×12 + 11 = 47.
	//
	// A sixth user refused at 0 s waits a fifth of its wait so far, 5 s at
	// least: attempts at 5, 10, 15, 20, 25, 30, 36 (30 × 0.2 = 6), 43
	// (7.2 → 7), 51 (8.6 → 8) and 61 (10.2 → 10), all refused but the last:
	// 10 rounds of 3 transitions. The five slots are free 60 → 61 s, one
	// of them counted against the one waiter, the other four with nobody
	// left to start (the tail).
	tests := []struct {
		name string
		cfg  Config
		jobs []time.Duration
		// busy, the free shares and the held-after-end share, in % of
		// the window's slot time.
		busy, freeWaiting, freeMapCap, freeTail, heldAfterEnd  float64
		span, makespan, detection                              time.Duration
		transitions, waitTransitions, waitRounds, peak, failed int
	}{{
		// Polls at 5 … 60 s see it running, the one at 65 s finished: 13
		// polls, 3 s late. The window ends at the job's end (62 s), so the
		// held-but-over time lies outside it; the other 4 slots are the
		// tail.
		name: "1 user, 62-second job", cfg: instant(5), jobs: jobs(1, 62*s),
		busy: 20, freeTail: 80, span: 62 * s, makespan: 65 * s, detection: 3 * s,
		transitions: 3*13 + 11, peak: 1,
	}, {
		name: "5 users, equal jobs: every slot busy", cfg: instant(5), jobs: jobs(5, 60*s),
		busy: 100, span: 60 * s, makespan: 60 * s, transitions: 5 * 47, peak: 5,
	}, {
		// The sixth starts when the first child ends (no store time): jobs
		// 0–60 s ×5 and 60–120 s; the last minute 4 slots have nothing left.
		name: "6 users, MaxConcurrency 5", cfg: instant(5), jobs: jobs(6, 60*s),
		busy: 60, freeTail: 40, span: 120 * s, makespan: 120 * s, transitions: 6 * 47, peak: 5,
	}, {
		// Store and convert take 10 s and keep the Map's places: the sixth
		// starts at 70 s, the slots free and nobody allowed to start for
		// 10 s × 5 slots = 50 of 650 slot-seconds.
		name: "6 users, MaxConcurrency 5, 10 s of store and convert", jobs: jobs(6, 60*s),
		cfg:  func() Config { c := instant(5); c.Lat.Store, c.Lat.Convert = 4*s, 6*s; return c }(),
		busy: 100 * 360.0 / 650, freeMapCap: 100 * 50.0 / 650, freeTail: 100 * 240.0 / 650,
		span: 130 * s, makespan: 140 * s, transitions: 6 * 47, peak: 5,
	}, {
		name: "6 users, MaxConcurrency 6: the sixth waits", cfg: instant(6), jobs: jobs(6, 60*s),
		busy: 100 * 360.0 / 605, freeWaiting: 100 * 1.0 / 605, freeTail: 100 * 244.0 / 605,
		span: 121 * s, makespan: 121 * s, transitions: 6*47 + 30, waitTransitions: 30, waitRounds: 10, peak: 5,
	}, {
		// With a release waking the oldest waiter, the sixth takes the slot
		// at 60 s: one round of 3 transitions (CheckJobSlots,
		// WaitForJobSlot parked on the queue, AcquireJobSlotAfterWait),
		// and every export's waker step. The releases that find nobody
		// parked long-poll a second, so the last export ends at 121 s.
		// (A 2-minute fallback: the policy's minute would end the
		// sixth's wait at 60 s, with the releases.)
		name: "6 users, MaxConcurrency 6, wake on release", cfg: func() Config { c := instant(6); wake(&c); c.SlotWait.Min = 2 * time.Minute; return c }(), jobs: jobs(6, 60*s),
		busy: 60, freeTail: 40, span: 120 * s, makespan: 121 * s, transitions: 6*48 + 3, waitTransitions: 3, waitRounds: 1, peak: 5,
	}, {
		// The cap: two at a time, five rounds of a minute; 3 slots idle
		// behind the cap for 4 minutes, then the last minute's tail.
		name: "10 users, MaxConcurrency 2", cfg: instant(2), jobs: jobs(10, 60*s),
		busy: 40, freeMapCap: 48, freeTail: 12, span: 300 * s, makespan: 300 * s, transitions: 10 * 47, peak: 2,
	}, {
		// Five wait as the sixth above did; the slots, not the cap, bound
		// the jobs at once.
		name: "10 users, MaxConcurrency 10", cfg: instant(10), jobs: jobs(10, 60*s),
		busy: 100 * 600.0 / 605, freeWaiting: 100 * 5.0 / 605,
		span: 121 * s, makespan: 121 * s, transitions: 10*47 + 5*30, waitTransitions: 5 * 30, waitRounds: 50, peak: 5,
	}, {
		// A 20-second slot deadline: the sixth's check at 20 s ends its
		// wait (JobDeadlineExceeded): rounds at 0, 5, 10, 15, 20; 2 + 1 +
		// 4×3 + 1 + the Fail state + UserFailed = 18 transitions.
		name: "slot wait deadline", jobs: jobs(6, 60*s),
		cfg:  func() Config { c := instant(6); c.SlotWait.Deadline = 20 * s; return c }(),
		busy: 100, span: 60 * s, makespan: 60 * s, transitions: 5*47 + 18, waitTransitions: 13, waitRounds: 5, peak: 5, failed: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Simulate(tt.cfg, tt.jobs)
			if err != nil {
				t.Fatal(err)
			}
			u := r.Util
			for _, c := range []struct {
				name      string
				got, want float64
			}{
				{"busy", u.BusyPct(), tt.busy}, {"free waiting", u.Pct(u.FreeWaiting), tt.freeWaiting},
				{"free behind the cap", u.Pct(u.FreeMapCap), tt.freeMapCap}, {"free tail", u.Pct(u.FreeTail), tt.freeTail},
				{"held after the end", u.Pct(u.HeldAfterEnd), tt.heldAfterEnd}, {"held before the start", u.Pct(u.HeldBeforeStart), 0},
				{"free starting", u.Pct(u.FreeStarting), 0},
			} {
				if math.Abs(c.got-c.want) > 1e-9 {
					t.Errorf("%s %.4f %%, want %.4f %%", c.name, c.got, c.want)
				}
			}
			if u.Span != tt.span || r.Makespan != tt.makespan || u.DetectionDelay != tt.detection {
				t.Errorf("span %s, makespan %s, detection delay %s; want %s, %s, %s", u.Span, r.Makespan, u.DetectionDelay, tt.span, tt.makespan, tt.detection)
			}
			if r.Transitions != tt.transitions || r.WaitTransitions != tt.waitTransitions || r.WaitRounds != tt.waitRounds {
				t.Errorf("transitions %d, waiting %d, rounds %d; want %d, %d, %d", r.Transitions, r.WaitTransitions, r.WaitRounds, tt.transitions, tt.waitTransitions, tt.waitRounds)
			}
			if u.PeakHolders != tt.peak || r.Failed != tt.failed {
				t.Errorf("peak %d holders, %d failed; want %d, %d", u.PeakHolders, r.Failed, tt.peak, tt.failed)
			}
			if sum := u.Busy + u.HeldBeforeStart + u.HeldAfterEnd + u.FreeWaiting + u.FreeStarting + u.FreeMapCap + u.FreeTail; sum != time.Duration(u.Slots)*u.Span {
				t.Errorf("the shares add up to %s, want %s", sum, time.Duration(u.Slots)*u.Span)
			}
		})
	}
}

// With latencies, the job starts StartExport's time after the slot is
// taken, and the polls shift by a cycle's latency each, as bench/polling
// has them: 12 polls at 5.25, 10.5, …, 63 s of age for a 60-second job.
func TestSimulateLatencies(t *testing.T) {
	c := instant(5)
	c.Lat = Latencies{State: 50 * time.Millisecond, Invoke: 100 * time.Millisecond}
	r, err := Simulate(c, jobs(1, 60*s))
	if err != nil {
		t.Fatal(err)
	}
	rec := r.Records[0]
	// HowManyWindows, ExportUser, AcquireJobSlot: 150 ms; StartExport 150 ms.
	if rec.Acquired != 150*time.Millisecond || rec.JobStart != 300*time.Millisecond {
		t.Errorf("acquired %s, job started %s; want 150ms, 300ms", rec.Acquired, rec.JobStart)
	}
	// RecordJobOnSlot 50 ms, then cycles of wait + 250 ms (WaitForJob,
	// CheckJob reading at the end of its task, IsJobFinished): reads at
	// ages k × 5.25 s, the twelfth (63 s) past the job's end; then
	// IsJobFinished and ReleaseJobSlot, 50 ms each.
	if rec.Polls != 12 {
		t.Errorf("%d polls, want 12", rec.Polls)
	}
	if want := rec.JobStart + 63*s + 100*time.Millisecond; rec.Released != want {
		t.Errorf("released at %s, want %s", rec.Released, want)
	}
	// One job: its window is the job, the slot held around it outside.
	if r.Util.HeldBeforeStart != 0 || r.Util.HeldAfterEnd != 0 || r.Util.DetectionDelay != 3100*time.Millisecond {
		t.Errorf("held before %s, after %s, detection delay %s; want 0, 0, 3.1s", r.Util.HeldBeforeStart, r.Util.HeldAfterEnd, r.Util.DetectionDelay)
	}
}

func TestSimulateRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		jobs []time.Duration
	}{
		{"no slots", func() Config { c := instant(5); c.Slots = 0; return c }(), jobs(1, s)},
		{"no concurrency", instant(0), jobs(1, s)},
		{"no users", instant(5), nil},
		{"negative job", instant(5), jobs(1, -s)},
		{"job past the poll deadline", instant(5), jobs(1, 7*time.Hour)},
		{"no policies", Config{Slots: 5, MaxConcurrency: 5}, jobs(1, s)},
		{"estimates for other users", func() Config { c := instant(5); c.Estimates = jobs(1, s); return c }(), jobs(2, s)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Simulate(tt.cfg, tt.jobs); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// Longest first runs the long job first: its tail is the short jobs'.
func TestSimulateLongestFirst(t *testing.T) {
	durations := append(jobs(5, 60*s), 300*s)
	asListed, err := Simulate(instant(5), durations)
	if err != nil {
		t.Fatal(err)
	}
	c := instant(5)
	c.Order = LongestFirst
	sorted, err := Simulate(c, durations)
	if err != nil {
		t.Fatal(err)
	}
	if sorted.Records[5].JobStart != 0 || asListed.Records[5].JobStart == 0 {
		t.Errorf("the 5-minute job started at %s sorted, %s as listed", sorted.Records[5].JobStart, asListed.Records[5].JobStart)
	}
	if sorted.Util.Span >= asListed.Util.Span {
		t.Errorf("span %s sorted, %s as listed", sorted.Util.Span, asListed.Util.Span)
	}
	// Estimates that put it last undo it.
	c.Estimates = append(jobs(5, 60*s), time.Second)
	wrong, err := Simulate(c, durations)
	if err != nil {
		t.Fatal(err)
	}
	if wrong.Util.Span != asListed.Util.Span {
		t.Errorf("span %s with estimates putting it last, %s as listed", wrong.Util.Span, asListed.Util.Span)
	}
}

func TestDurations(t *testing.T) {
	for _, spread := range []Spread{LogUniform, Uniform} {
		t.Run(spread.String(), func(t *testing.T) {
			a, err := Durations(1000, MinJob, MaxJob, spread, 13)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := Durations(1000, MinJob, MaxJob, spread, 13)
			c, _ := Durations(1000, MinJob, MaxJob, spread, 14)
			if !slices.Equal(a, b) || slices.Equal(a, c) {
				t.Fatal("the same seed must give the same list, another seed another")
			}
			sorted := slices.Sorted(slices.Values(a))
			if sorted[0] < MinJob || sorted[len(sorted)-1] > MaxJob {
				t.Fatalf("durations %s–%s outside %s–%s", sorted[0], sorted[len(sorted)-1], MinJob, MaxJob)
			}
			// The median: the geometric mean of the bounds (134 s) drawn
			// log-uniformly, the arithmetic one (315 s) uniformly.
			want := math.Sqrt(MinJob.Seconds() * MaxJob.Seconds())
			if spread == Uniform {
				want = (MinJob + MaxJob).Seconds() / 2
			}
			if med := sorted[len(sorted)/2].Seconds(); math.Abs(med-want) > 0.1*want {
				t.Errorf("median %.0f s, want about %.0f s", med, want)
			}
		})
	}
	if _, err := Durations(0, MinJob, MaxJob, LogUniform, 1); err == nil {
		t.Error("no users accepted")
	}
	if _, err := Durations(1, MaxJob, MinJob, LogUniform, 1); err == nil {
		t.Error("bounds the wrong way round accepted")
	}
}

// A release wakes the oldest waiter: of two refused at once, the first
// listed takes the first slot freed, the other the next.
func TestSimulateWakesTheOldestWaiter(t *testing.T) {
	c := instant(7)
	wake(&c)
	c.SlotWait.Min = 10 * time.Minute // no fallback ends a wait here
	durations := []time.Duration{60 * s, 300 * s, 300 * s, 300 * s, 300 * s, 60 * s, 60 * s}
	r, err := Simulate(c, durations)
	if err != nil {
		t.Fatal(err)
	}
	if got := []time.Duration{r.Records[5].JobStart, r.Records[6].JobStart}; got[0] != 60*s || got[1] != 120*s {
		t.Fatalf("the waiters' jobs started at %v, want [1m0s 2m0s]", got)
	}
	if r.WaitRounds != 2 {
		t.Errorf("%d wait rounds, want 2 (one refusal each)", r.WaitRounds)
	}
}
