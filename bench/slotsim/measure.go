package slotsim

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Record is one user's way through a batch run, every time an offset from
// the run's start. A user whose wait for a slot ended at the deadline has
// Failed set and no job (Acquired … JobEnd stay zero).
type Record struct {
	User int
	// Launched: the Map started the user's item (its HowManyWindows).
	Launched time.Duration
	// Asked: the first acquisition's write (AcquireJobSlot), refused or
	// not. A refused export waits from here until Acquired.
	Asked time.Duration
	// Acquired: the write that gave it a slot.
	Acquired time.Duration
	// JobStart and JobEnd: the AvePoint job's run (StartExport's call, and
	// that plus the job's duration). The slot is busy between the two.
	JobStart, JobEnd time.Duration
	// Released: ReleaseJobSlot's write. JobEnd…Released is a slot held by
	// a job that is over: the poll had not seen it yet.
	Released time.Duration
	// Ended: the export execution ended (Done); Finished: the Map saw it
	// end and frees the child's place.
	Ended, Finished time.Duration
	Failed          bool

	// Polls counts CheckJob states, WaitRounds the refused acquisitions
	// (each a CheckJobSlots round).
	Polls, WaitRounds int
	// Transitions counts every state the user's Map item and its export
	// execution entered; WaitTransitions those spent waiting for a slot.
	Transitions, WaitTransitions int
}

// Utilisation is how the slots spent the window from the first job's start
// to the last job's end. The slot-time figures add up to Slots × Span.
type Utilisation struct {
	Slots       int
	First, Last time.Duration
	Span        time.Duration
	// Busy: slots held by a running job.
	Busy time.Duration
	// HeldBeforeStart: taken, the job not started yet (StartExport's
	// latency). HeldAfterEnd: the job over, the slot not given back yet
	// (the poll's detection delay and the release's latency).
	HeldBeforeStart, HeldAfterEnd time.Duration
	// FreeWaiting: free while an export waited for a slot (asleep in
	// WaitForJobSlot, or on its way to the next acquisition).
	FreeWaiting time.Duration
	// FreeStarting: free while a child was starting (Map item launched,
	// first acquisition not made yet) and nobody waited.
	FreeStarting time.Duration
	// FreeMapCap: free with users still queued in the Map, none of them
	// allowed to start: the Map's places are all taken (children storing,
	// converting, ending).
	FreeMapCap time.Duration
	// FreeTail: free with every user launched and nobody waiting: the
	// run's last jobs.
	FreeTail time.Duration

	// JobTime is every job's duration added up; Ideal = JobTime ÷ Slots,
	// the shortest possible span.
	JobTime, Ideal time.Duration
	// DetectionDelay is JobEnd → Released added up over every job (inside
	// the window or not).
	DetectionDelay time.Duration
	Jobs           int
	// PeakHolders and PeakRunning are the most slots held and jobs running
	// at once.
	PeakHolders, PeakRunning int
}

// Pct is x as a percentage of the window's slot-time.
func (u Utilisation) Pct(x time.Duration) float64 {
	if u.Span <= 0 || u.Slots <= 0 {
		return 0
	}
	return 100 * float64(x) / (float64(u.Slots) * float64(u.Span))
}

// BusyPct is the headline figure: slots busy with a running job.
func (u Utilisation) BusyPct() float64 { return u.Pct(u.Busy) }

// SpanRatio is the span over the ideal (= 100 ÷ BusyPct).
func (u Utilisation) SpanRatio() float64 {
	if u.Ideal <= 0 {
		return 0
	}
	return float64(u.Span) / float64(u.Ideal)
}

// MeanDetectionDelay is DetectionDelay per job.
func (u Utilisation) MeanDetectionDelay() time.Duration {
	if u.Jobs == 0 {
		return 0
	}
	return u.DetectionDelay / time.Duration(u.Jobs)
}

// interval is [from, to).
type interval struct{ from, to time.Duration }

func (iv interval) has(t time.Duration) bool { return iv.from <= t && t < iv.to }

// Measure computes the utilisation of slots over records. It refuses
// timelines out of order and more holders than slots, which would make the
// figures meaningless.
func Measure(slots int, records []Record) (Utilisation, error) {
	u := Utilisation{Slots: slots}
	if slots < 1 {
		return u, errors.New("slotsim: slots must be at least 1")
	}
	var running, before, after, held, waiting, starting []interval
	var launched []time.Duration
	first, last := time.Duration(-1), time.Duration(-1)
	for _, r := range records {
		launched = append(launched, r.Launched)
		if r.Asked < r.Launched {
			return u, fmt.Errorf("slotsim: user %d asked for a slot (%s) before it was launched (%s)", r.User, r.Asked, r.Launched)
		}
		starting = append(starting, interval{r.Launched, r.Asked})
		if r.Failed {
			waiting = append(waiting, interval{r.Asked, r.Ended})
			continue
		}
		if !(r.Asked <= r.Acquired && r.Acquired <= r.JobStart && r.JobStart <= r.JobEnd && r.JobEnd <= r.Released) {
			return u, fmt.Errorf("slotsim: user %d's times are out of order: asked %s, acquired %s, job %s–%s, released %s",
				r.User, r.Asked, r.Acquired, r.JobStart, r.JobEnd, r.Released)
		}
		waiting = append(waiting, interval{r.Asked, r.Acquired})
		held = append(held, interval{r.Acquired, r.Released})
		before = append(before, interval{r.Acquired, r.JobStart})
		running = append(running, interval{r.JobStart, r.JobEnd})
		after = append(after, interval{r.JobEnd, r.Released})
		u.JobTime += r.JobEnd - r.JobStart
		u.DetectionDelay += r.Released - r.JobEnd
		u.Jobs++
		if first < 0 || r.JobStart < first {
			first = r.JobStart
		}
		last = max(last, r.JobEnd)
	}
	if u.Jobs == 0 {
		return u, errors.New("slotsim: no job ran")
	}
	u.First, u.Last, u.Span = first, last, last-first
	u.Ideal = u.JobTime / time.Duration(slots)

	// Every time something changes, inside the window; the counts are
	// constant between two of them.
	points := []time.Duration{first, last}
	for _, set := range [][]interval{held, waiting, starting, running, before, after} {
		for _, iv := range set {
			points = append(points, iv.from, iv.to)
		}
	}
	points = append(points, launched...)
	for i, p := range points {
		points[i] = min(max(p, first), last)
	}
	slices.Sort(points)
	points = slices.Compact(points)

	count := func(set []interval, t time.Duration) int {
		n := 0
		for _, iv := range set {
			if iv.has(t) {
				n++
			}
		}
		return n
	}
	// The peaks are taken at every change, the window's edges aside.
	for _, set := range [][]interval{held, running} {
		for _, iv := range set {
			if iv.to > iv.from {
				if h := count(held, iv.from); h > u.PeakHolders {
					u.PeakHolders = h
				}
				if n := count(running, iv.from); n > u.PeakRunning {
					u.PeakRunning = n
				}
			}
		}
	}
	if u.PeakHolders > slots {
		return u, fmt.Errorf("slotsim: %d slots held at once, more than the %d there are", u.PeakHolders, slots)
	}
	for i := 0; i+1 < len(points); i++ {
		a, b := points[i], points[i+1]
		mid := a + (b-a)/2
		d := b - a
		slotTime := func(n int) time.Duration { return time.Duration(n) * d }
		h := count(held, mid)
		u.Busy += slotTime(count(running, mid))
		u.HeldBeforeStart += slotTime(count(before, mid))
		u.HeldAfterEnd += slotTime(count(after, mid))
		free := slots - h
		w := min(free, count(waiting, mid))
		free -= w
		s := min(free, count(starting, mid))
		free -= s
		u.FreeWaiting += slotTime(w)
		u.FreeStarting += slotTime(s)
		queued := 0
		for _, l := range launched {
			if l > mid {
				queued++
			}
		}
		if queued > 0 {
			u.FreeMapCap += slotTime(free)
		} else {
			u.FreeTail += slotTime(free)
		}
	}
	return u, nil
}
