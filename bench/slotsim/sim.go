package slotsim

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/insights-export/insights-export/internal/batch"
	"github.com/insights-export/insights-export/internal/export"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/slots"
	slotwake "github.com/insights-export/insights-export/internal/slots/wake"
)

// Latencies are the times the model gives the steps besides the waits and
// the job itself.
type Latencies struct {
	// State is what every state entered takes: the transition and, for
	// the DynamoDB and EventBridge integrations, their call.
	State time.Duration
	// Invoke is what a Lambda task (StartExport, CheckJob, CheckJobSlots)
	// adds: the invocation and its handler's call.
	Invoke time.Duration
	// Store and Convert are the StoreReport and ConvertReport tasks.
	Store, Convert time.Duration
	// ChildStart runs from the Map's ExportUser task to the export
	// execution's first state (StartExecution); ChildEnd from its end to
	// the Map's task seeing it (the .sync:2 integration).
	ChildStart, ChildEnd time.Duration
	// Wake is the WakeJobSlotWaiter state, entered to the next state
	// (zero: State + Invoke): on the local stack its calls to moto's SQS
	// and the token broker, queued at the waker's one emulator, take
	// longer than an invocation of the other functions.
	Wake time.Duration
}

func (l Latencies) wakeStep() time.Duration {
	if l.Wake > 0 {
		return l.Wake
	}
	return l.State + l.Invoke
}

// DefaultLatencies: a poll cycle costs 3 × State + Invoke = 250 ms besides
// its wait, bench/polling's figure for AWS (BENCHMARKS.md §3; the local
// stack measures 7–13 ms); StoreReport + ConvertReport take 9 s, which with
// StartExport's second makes the README's "~10 s of start, store and
// convert per user" (Schedules, Large tenants); the child's start and the
// .sync integration's notice are 0.5 s each, an assumption (nothing here
// measures them in AWS; they matter only while the Map's cap binds).
var DefaultLatencies = Latencies{
	State: 50 * time.Millisecond, Invoke: 100 * time.Millisecond,
	Store: 3 * time.Second, Convert: 6 * time.Second,
	ChildStart: 500 * time.Millisecond, ChildEnd: 500 * time.Millisecond,
}

// Order is the order of the Map's work list.
type Order int

const (
	// AsListed keeps the list's order (PrepareBatch writes the users as
	// the input names them).
	AsListed Order = iota
	// LongestFirst sorts users by job duration, longest first: what a
	// list ordered by each user's previous job time would approach.
	LongestFirst
)

// Config is one batch run.
type Config struct {
	// Slots is AvePointJobSlots (default 5).
	Slots int
	// MaxConcurrency is the Map's cap (internal/batch; default 5).
	MaxConcurrency int
	// InProcess is the check's in-process waiting per invocation
	// (export.Checker.InProcess; 0: one read an invocation).
	InProcess time.Duration
	// Poll is the job poll policy (request.DefaultWaitPolicy).
	Poll request.WaitPolicy
	// SlotWait is the slot wait policy (slots.DefaultWaitPolicy).
	SlotWait slots.WaitPolicy
	Lat      Latencies
	// Wake models a release that wakes the oldest waiter, as
	// statemachine/export.asl.json does it: after CheckJobSlots,
	// WaitForJobSlot (sqs:sendMessage.waitForTaskToken, the policy's wait
	// as TimeoutSecondsPath) parks the task token on a FIFO queue, in the
	// order of parking; a WakeJobSlotWaiter task after ReleaseJobSlot
	// answers the oldest token (SendTaskSuccess), and AcquireJobSlotAfterWait
	// follows within WakeLatency instead of at the waiter's timeout. A
	// round costs 3 transitions as before, every export one more; a waker
	// that finds nobody parked long-polls WakePoll for a waiter on its way.
	Wake bool
	// WakeLatency is SendTaskSuccess → the waiter's task ending (default
	// State).
	WakeLatency time.Duration
	// WakePoll is the waker's long poll when nobody is parked
	// (internal/slots/wake.DefaultPoll when zero; negative: none).
	WakePoll time.Duration
	Order    Order
	// Estimates, when set (one per user), are what LongestFirst sorts by
	// instead of the durations themselves: a previous run's job times.
	Estimates []time.Duration
}

// BeforeSlotWait is the slot wait policy before the wake-ups: a fifth of
// the wait so far between 5 s and 5 minutes.
var BeforeSlotWait = slots.WaitPolicy{Min: 5 * time.Second, Max: 300 * time.Second, Factor: 0.2, Deadline: slots.DefaultWaitPolicy.Deadline}

// BeforePollFactor is POLL_AGE_FACTOR before issue 13 (request.
// DefaultWaitPolicy's since).
const BeforePollFactor = 0.09

// Before is the configuration before issue 13's slot changes: the Map's
// cap at the 5 slots, waiters sleeping their waits (Wait states, 5 s–5
// min), the work list as listed, polls at 9 % of the job's age. The
// variants are changes to it.
func Before() Config {
	poll := request.DefaultWaitPolicy
	poll.AgeFactor = BeforePollFactor
	return Config{
		Slots: 5, MaxConcurrency: 5,
		Poll: poll, SlotWait: BeforeSlotWait,
		Lat: DefaultLatencies,
	}
}

// Defaults is the deployed configuration: a release wakes the oldest
// waiter (with slots.DefaultWaitPolicy as the fallback), MaxConcurrency
// batch.DefaultMaxConcurrency, the work list longest first (by the true
// durations here: the variants give estimates), the deployed poll policy.
func Defaults() Config {
	c := Before()
	c.Wake, c.SlotWait = true, slots.DefaultWaitPolicy
	c.MaxConcurrency = batch.DefaultMaxConcurrency
	c.Order = LongestFirst
	c.Poll = request.DefaultWaitPolicy
	c.InProcess = export.DefaultInProcess
	return c
}

// Result is one simulated batch run.
type Result struct {
	Config  Config
	Records []Record
	Util    Utilisation
	// Makespan runs from the batch's first Map item to its last one's end.
	Makespan time.Duration
	// Transitions counts every state entered by the Map's items and their
	// export executions; WaitTransitions those spent waiting for a slot;
	// WaitRounds the refused acquisitions; Waited the users refused once
	// at least.
	Transitions, WaitTransitions, WaitRounds, Waited int
	// Invocations of the slot-wait Lambda (CheckJobSlots) and, with Wake,
	// of the waker.
	WaitInvocations int
	Failed          int
	// LongestWait is the longest any user waited for a slot (its first
	// refused acquisition to the one that took a slot).
	LongestWait time.Duration
}

// TransitionsPerUser is Transitions ÷ users.
func (r Result) TransitionsPerUser() float64 {
	return float64(r.Transitions) / float64(max(len(r.Records), 1))
}

// USDPerTransition is Step Functions Standard's price (us-east-1, free
// tier ignored): bench/polling.USDPerTransition.
const USDPerTransition = 0.025 / 1000

// event is one step of the simulation; seq orders simultaneous events as
// they were scheduled.
type event struct {
	at  time.Duration
	seq int
	fn  func()
}

type queue []event

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	return q[i].at < q[j].at || (q[i].at == q[j].at && q[i].seq < q[j].seq)
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type sim struct {
	cfg     Config
	now     time.Duration
	q       queue
	seq     int
	holders int
	// sleepers are the waiters whose task token a release may use (Wake),
	// in the order they parked; polling are wakers long-polling an empty
	// queue, oldest first.
	sleepers []*child
	polling  []*poller
	res      *Result
	next     int // the next work-list item the Map starts
	order    []int
	durs     []time.Duration
}

// child is one user's Map item and export execution.
type child struct {
	rec       *Record
	dur       time.Duration
	execStart time.Duration
	startedAt time.Duration
	asked     bool
	waiting   bool
	// round counts this child's wait rounds, so that a timeout of a round
	// already woken does nothing.
	round int
	woken bool
}

func (s *sim) after(d time.Duration, fn func()) {
	s.seq++
	heap.Push(&s.q, event{at: s.now + d, seq: s.seq, fn: fn})
}

// enter counts a state and runs then after it took d.
func (s *sim) enter(c *child, wait bool, d time.Duration, then func()) {
	c.rec.Transitions++
	if wait {
		c.rec.WaitTransitions++
	}
	s.after(d, then)
}

// Simulate runs one batch of the given job durations, one user each, in
// the work list's order.
func Simulate(cfg Config, durations []time.Duration) (Result, error) {
	switch {
	case cfg.Slots < 1:
		return Result{}, errors.New("slotsim: Slots must be at least 1")
	case cfg.MaxConcurrency < 1:
		return Result{}, errors.New("slotsim: MaxConcurrency must be at least 1")
	case len(durations) == 0:
		return Result{}, errors.New("slotsim: no users")
	case cfg.Poll.Min <= 0 || cfg.Poll.Deadline <= 0 || cfg.SlotWait.Min <= 0 || cfg.SlotWait.Deadline <= 0:
		return Result{}, errors.New("slotsim: the poll and slot-wait policies need a minimum wait and a deadline")
	}
	for _, d := range durations {
		if d < 0 {
			return Result{}, fmt.Errorf("slotsim: negative job duration %s", d)
		}
		if d >= cfg.Poll.Deadline {
			return Result{}, fmt.Errorf("slotsim: job duration %s reaches the poll deadline %s", d, cfg.Poll.Deadline)
		}
	}
	if cfg.Wake && cfg.WakeLatency == 0 {
		cfg.WakeLatency = cfg.Lat.State
	}
	if cfg.Wake && cfg.WakePoll == 0 {
		cfg.WakePoll = slotwake.DefaultPoll
	}
	res := &Result{Config: cfg, Records: make([]Record, len(durations))}
	s := &sim{cfg: cfg, res: res, durs: durations}
	s.order = make([]int, len(durations))
	for i := range s.order {
		s.order[i] = i
	}
	if cfg.Estimates != nil && len(cfg.Estimates) != len(durations) {
		return Result{}, fmt.Errorf("slotsim: %d estimates for %d users", len(cfg.Estimates), len(durations))
	}
	if cfg.Order == LongestFirst {
		key := durations
		if cfg.Estimates != nil {
			key = cfg.Estimates
		}
		slices.SortStableFunc(s.order, func(a, b int) int { return cmp.Compare(key[b], key[a]) })
	}
	for range min(cfg.MaxConcurrency, len(durations)) {
		s.launch()
	}
	for s.q.Len() > 0 {
		e := heap.Pop(&s.q).(event)
		s.now = e.at
		e.fn()
	}
	for i := range res.Records {
		r := &res.Records[i]
		res.Transitions += r.Transitions
		res.WaitTransitions += r.WaitTransitions
		res.WaitRounds += r.WaitRounds
		if r.WaitRounds > 0 {
			res.Waited++
			if !r.Failed {
				res.LongestWait = max(res.LongestWait, r.Acquired-r.Asked)
			}
		}
		if r.Failed {
			res.Failed++
		}
		res.Makespan = max(res.Makespan, r.Finished)
	}
	u, err := Measure(cfg.Slots, res.Records)
	if err != nil {
		return *res, err
	}
	res.Util = u
	return *res, nil
}

// launch starts the Map's next item, if any: HowManyWindows (Choice) and
// ExportUser, whose StartExecution starts the export.
func (s *sim) launch() {
	if s.next >= len(s.order) {
		return
	}
	i := s.order[s.next]
	s.next++
	c := &child{rec: &s.res.Records[i], dur: s.durs[i]}
	c.rec.User = i
	c.rec.Launched = s.now
	l := s.cfg.Lat
	s.enter(c, false, l.State, func() { // HowManyWindows
		s.enter(c, false, l.State+l.ChildStart, func() { // ExportUser → the execution starts
			c.execStart = s.now
			s.acquire(c, false)
		})
	})
}

// acquire is AcquireJobSlot (afterWait false) or AcquireJobSlotAfterWait.
func (s *sim) acquire(c *child, afterWait bool) {
	s.enter(c, afterWait, s.cfg.Lat.State, func() {
		if !c.asked {
			c.asked, c.rec.Asked = true, s.now
		}
		if s.holders < s.cfg.Slots {
			s.holders++
			c.rec.Acquired, c.waiting = s.now, false
			s.startExport(c)
			return
		}
		c.waiting = true
		c.rec.WaitRounds++
		s.checkSlots(c)
	})
}

// checkSlots is CheckJobSlots and the wait it decides (slots.Waiter).
func (s *sim) checkSlots(c *child) {
	l := s.cfg.Lat
	s.res.WaitInvocations++
	s.enter(c, true, l.State+l.Invoke, func() {
		waited := max(s.now-c.execStart, 0)
		if waited >= s.cfg.SlotWait.Deadline {
			// JobDeadlineExceededError → the JobDeadlineExceeded Fail state.
			c.rec.Failed, c.waiting = true, false
			c.rec.Transitions++
			c.rec.Ended = s.now
			s.finish(c)
			return
		}
		next := s.cfg.SlotWait.Next(waited)
		if s.holders < s.cfg.Slots {
			// Freed between the refusal and this read: ReasonFree.
			next = time.Second
		}
		if s.cfg.Wake {
			// WaitForJobSlot: the message is on the queue after its
			// SendMessage; the task ends when a release wakes it or at
			// its timeout. A timed-out waiter parks anew, at the back.
			s.enter(c, true, l.State, func() {
				c.round++
				round := c.round
				c.woken = false
				s.after(next, func() {
					if c.round != round || c.woken {
						return
					}
					s.dropSleeper(c)
					s.acquire(c, true)
				})
				if len(s.polling) > 0 {
					// A waker long-polling the empty queue takes it.
					w := s.polling[0]
					s.polling = s.polling[1:]
					w.done = true
					s.wakeUp(c)
					w.then()
					return
				}
				s.sleepers = append(s.sleepers, c)
			})
			return
		}
		s.enter(c, true, l.State+next, func() { s.acquire(c, true) }) // WaitForJobSlot
	})
}

// poller is a waker long-polling an empty queue; then is its export's
// next state.
type poller struct {
	then func()
	done bool
}

// wakeUp answers a parked waiter's token: its AcquireJobSlotAfterWait
// follows.
func (s *sim) wakeUp(w *child) {
	w.woken = true
	s.after(s.cfg.WakeLatency, func() { s.acquire(w, true) })
}

func (s *sim) dropSleeper(c *child) {
	if i := slices.Index(s.sleepers, c); i >= 0 {
		s.sleepers = slices.Delete(s.sleepers, i, i+1)
	}
}

func (s *sim) startExport(c *child) {
	l := s.cfg.Lat
	s.enter(c, false, l.State+l.Invoke, func() { // StartExport
		c.rec.JobStart, c.startedAt = s.now, s.now
		c.rec.JobEnd = s.now + c.dur
		wait := s.cfg.Poll.Next(0)
		s.enter(c, false, l.State, func() { s.waitForJob(c, wait) }) // RecordJobOnSlot
	})
}

func (s *sim) waitForJob(c *child, wait time.Duration) {
	l := s.cfg.Lat
	s.enter(c, false, l.State+wait, func() { // WaitForJob
		s.enter(c, false, l.State+l.Invoke, func() { // CheckJob
			s.check(c, 0)
		})
	})
}

// check is one status read of CheckJob, which waited waited in-process
// before it: while the invocation's waits fit Config.InProcess it sleeps
// through the next one itself and reads again (no transitions), as
// export.Checker does.
func (s *sim) check(c *child, waited time.Duration) {
	l := s.cfg.Lat
	c.rec.Polls++
	age := s.now - c.startedAt
	finished := s.now >= c.rec.JobEnd
	next := s.cfg.Poll.Next(age)
	if !finished && s.cfg.InProcess > 0 && waited+next <= s.cfg.InProcess {
		s.after(next, func() { s.check(c, waited+next) })
		return
	}
	s.enter(c, false, l.State, func() { // IsJobFinished
		if finished {
			s.release(c)
			return
		}
		s.waitForJob(c, next)
	})
}

func (s *sim) release(c *child) {
	l := s.cfg.Lat
	s.enter(c, false, l.State, func() { // ReleaseJobSlot
		s.holders--
		c.rec.Released = s.now
		store := func() {
			s.enter(c, false, l.State+l.Store, func() { // StoreReport
				s.enter(c, false, l.State+l.Convert, func() { // ConvertReport
					s.enter(c, false, l.State, func() { // AnnounceReport
						s.enter(c, false, l.State, func() { // Done
							c.rec.Ended = s.now
							s.finish(c)
						})
					})
				})
			})
		}
		if !s.cfg.Wake {
			store()
			return
		}
		s.res.WaitInvocations++
		s.enter(c, false, l.wakeStep(), func() { // WakeJobSlotWaiter
			if len(s.sleepers) > 0 {
				w := s.sleepers[0]
				s.sleepers = s.sleepers[1:]
				s.wakeUp(w)
				store()
				return
			}
			// Nobody parked: the receive waits WakePoll for a waiter
			// on its way to the queue.
			if s.cfg.WakePoll < 0 {
				store()
				return
			}
			p := &poller{then: store}
			s.polling = append(s.polling, p)
			s.after(s.cfg.WakePoll, func() {
				if p.done {
					return
				}
				p.done = true
				if i := slices.Index(s.polling, p); i >= 0 {
					s.polling = slices.Delete(s.polling, i, i+1)
				}
				store()
			})
		})
	})
}

// finish: the Map sees the execution end (ChildEnd), runs UserSucceeded
// (or UserFailed) and starts its next item.
func (s *sim) finish(c *child) {
	l := s.cfg.Lat
	s.after(l.ChildEnd, func() {
		s.enter(c, false, l.State, func() {
			c.rec.Finished = s.now
			s.launch()
		})
	})
}
