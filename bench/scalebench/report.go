package scalebench

import (
	"fmt"
	"strings"
)

// Targets of issue 12 at the largest size.
const (
	TargetPrepareSeconds  = 60
	TargetManifestSeconds = 120
	TargetRSSMiB          = 512
)

// Row is one line of the report's summary.
type Row struct{ Figure, Value, Baseline, Ratio, Target, Met string }

func (r *Result) sample(users int, phase string) (Sample, bool) {
	for _, s := range r.Samples {
		if s.Users == users && s.Phase == phase {
			return s, true
		}
	}
	return Sample{}, false
}

// sizes are the baseline (the first) and the largest size measured.
func (r *Result) sizes() (base, top int) {
	base, top = r.Opts.Sizes[0], r.Opts.Sizes[0]
	for _, n := range r.Opts.Sizes {
		top = max(top, n)
	}
	return base, top
}

// rssMiB is the child's peak RSS as its own /proc/self/status has it
// (VmHWM). Not wait4's ru_maxrss: os/exec starts a child with vfork
// semantics (CLONE_VM), so until exec the child runs in the parent's
// address space, and Linux folds that address space's high-water mark
// into the child's ru_maxrss at exec. The parent here holds the S3
// endpoint's objects, hundreds of MiB at 100,000 users, which ru_maxrss
// would report as the function's.
func rssMiB(s Sample) float64 { return float64(s.Child.VmHWMKiB) / 1024 }

// Summary is the report's rows for bench/cmd/bench's summary table.
func (r *Result) Summary() []Row {
	base, top := r.sizes()
	linear := float64(top) / float64(base)
	var rows []Row
	for _, ph := range []struct {
		phase, name string
		target      float64
	}{{PhasePrepare, "PrepareBatch", TargetPrepareSeconds}, {PhaseManifest, "WriteManifest", TargetManifestSeconds}} {
		b, okb := r.sample(base, ph.phase)
		t, okt := r.sample(top, ph.phase)
		if !okb || !okt {
			rows = append(rows, Row{fmt.Sprintf("%s, %s users", ph.name, thousands(top)), "not measured", "—", "—", "—", "**no**"})
			continue
		}
		ratio := t.Child.Seconds / b.Child.Seconds
		rows = append(rows, Row{
			Figure:   fmt.Sprintf("%s wall time, %s users", ph.name, thousands(top)),
			Value:    fmt.Sprintf("%.1f s", t.Child.Seconds),
			Baseline: fmt.Sprintf("%s users: %.2f s", thousands(base), b.Child.Seconds),
			Ratio:    fmt.Sprintf("%.1f", ratio),
			Target:   fmt.Sprintf("≤ %d s; ratio ≤ %.0f (linear)", int(ph.target), linear),
			Met:      yesNo(t.Child.Seconds <= ph.target && ratio <= linear),
		})
		ratio = rssMiB(t) / rssMiB(b)
		rows = append(rows, Row{
			Figure:   fmt.Sprintf("%s peak RSS, %s users", ph.name, thousands(top)),
			Value:    fmt.Sprintf("%.0f MiB", rssMiB(t)),
			Baseline: fmt.Sprintf("%s users: %.0f MiB", thousands(base), rssMiB(b)),
			Ratio:    fmt.Sprintf("%.1f", ratio),
			Target:   fmt.Sprintf("≤ %d MiB; ratio ≤ %.0f (linear)", TargetRSSMiB, linear),
			Met:      yesNo(rssMiB(t) <= TargetRSSMiB && ratio <= linear),
		})
		rb, rt := total(b.Requests), total(t.Requests)
		rows = append(rows, Row{
			Figure:   fmt.Sprintf("%s S3 requests, %s users", ph.name, thousands(top)),
			Value:    fmt.Sprintf("%s (%.2f a user)", thousands(rt), float64(rt)/float64(top)),
			Baseline: fmt.Sprintf("%s users: %s (%.2f a user)", thousands(base), thousands(rb), float64(rb)/float64(base)),
			Ratio:    fmt.Sprintf("%.1f", float64(rt)/float64(rb)),
			Target:   fmt.Sprintf("ratio ≤ %.0f (linear)", linear),
			Met:      yesNo(float64(rt)/float64(rb) <= linear*1.01),
		})
	}
	return rows
}

func total(counts map[string]int) int {
	n := 0
	for _, v := range counts {
		n += v
	}
	return n
}

// Markdown is the section's text.
func (r *Result) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	base, top := r.sizes()
	p("One incremental daily run over a `usersFrom` CSV (an Entra ID-like export: five columns, `userPrincipalName` among them) of %s and %s users, "+
		"the first the baseline. PrepareBatch and WriteManifest are the real handlers as their functions build them (`batch.LoadPreparer`, "+
		"`batch.LoadManifestWriter`: the functions' S3 client and environment), each in a child process of its own (`bench/cmd/scalechild`, "+
		"built like the bootstraps) so that its peak RSS and CPU are its own, with Go's default GC settings as in Lambda. "+
		"Of every 20 users one has no mark yet, one is up to date and 18 are a day behind; of the users exported, 1 in 50 fails and 1 in 1,000 "+
		"is a child that timed out. Between the two steps the benchmark writes what a Distributed Map with `ResultWriter` leaves for the work list "+
		"PrepareBatch wrote (result files of %s child executions, Transformation NONE, and the Map Run's manifest); each run is checked: "+
		"the work list, the manifest's counts and order, an advanced mark.", thousands(base), thousands(top), thousands(filesOf))
	p("")
	perUser := 0.0
	for _, ph := range []string{PhasePrepare, PhaseManifest} {
		if s, ok := r.sample(top, ph); ok {
			perUser += float64(total(s.Requests)) / float64(top)
		}
	}
	if r.MotoRate > 0 {
		p("**S3 endpoint.** An in-process gofakes3 (memory backend) served over HTTP on 127.0.0.1, which counts every request by operation. "+
			"Not moto_server: it answers %.0f GETs/s here against gofakes3's %.0f (2,000 GETs of one small object, 16 in flight, same run), so a run of "+
			"%s users (%.1f requests a user over both steps, and one more a user to seed the marks) would take moto about %.0f minutes, "+
			"measuring moto rather than the functions. gofakes3 shares the machine's two cores with the child; its time is in the wall time, "+
			"not in the child's CPU.", r.MotoRate, r.FakeRate, thousands(top), perUser, (perUser+1)*float64(top)/r.MotoRate/60)
	} else {
		p("**S3 endpoint.** An in-process gofakes3 (memory backend) served over HTTP on 127.0.0.1, which counts every request by operation "+
			"(%.0f GETs/s of one small object, 16 in flight; moto_server not timed in this run %s). gofakes3 shares the machine's two cores with "+
			"the child; its time is in the wall time, not in the child's CPU.", r.FakeRate, r.MotoErr)
	}
	p("")
	p("| users | step | handler s | process s | CPU s | peak RSS MiB | Go heap peak MiB | Go mapped peak MiB | GCs | allocated MiB | S3 requests |")
	p("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, s := range r.Samples {
		p("| %s | %s | %.2f | %.2f | %.2f | %.1f | %.1f | %.1f | %d | %.0f | %s |", thousands(s.Users), stepName(s.Phase), s.Child.Seconds, s.WallSeconds, s.CPUSeconds,
			rssMiB(s), s.Child.HeapPeakMiB, s.Child.MappedPeakMiB, s.Child.NumGC, s.Child.TotalAllocMiB, requestsLine(s.Requests))
	}
	p("")
	p("handler s: the handler's own time, the figure the targets judge (Lambda bills the invocation, not the process start); process s adds the "+
		"start and configuration. Peak RSS: the child's VmHWM (not wait4's `ru_maxrss`, which after a vfork-style exec carries the parent's "+
		"high-water mark, and the parent holds the endpoint's objects); Go heap and mapped peaks are sampled every 10 ms from runtime/metrics "+
		"(heap objects; every runtime class less what was released to the OS). Per user at %s: ", thousands(top))
	for _, ph := range []string{PhasePrepare, PhaseManifest} {
		if s, ok := r.sample(top, ph); ok {
			p("- %s: %.2f ms CPU, %.0f µs of handler time, %.2f S3 requests.", stepName(ph), 1000*s.CPUSeconds/float64(top), 1e6*s.Child.Seconds/float64(top), float64(total(s.Requests))/float64(top))
		}
	}
	p("")
	p("**In Lambda** the functions get CPU in proportion to memory (1,769 MB is one vCPU) and S3 answers in milliseconds, not microseconds. " +
		"The CPU a step took here, divided by its share of a vCPU, bounds its time from below; its S3 requests, 64 in flight (markReaders, " +
		"markWriters) at ~20 ms each, bound it too, at about requests × 20 ms / 64. Estimates for the largest size, and the smallest memory " +
		"whose estimate meets the step's target with at least twice the peak RSS:")
	p("")
	p("| step | memory | vCPU | CPU-bound s | S3-bound s | estimate s | target s | timeout s |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|")
	var advice []string
	for _, ph := range []struct {
		phase           string
		target, timeout int
	}{{PhasePrepare, TargetPrepareSeconds, 300}, {PhaseManifest, TargetManifestSeconds, 900}} {
		s, ok := r.sample(top, ph.phase)
		if !ok {
			continue
		}
		s3s := float64(total(s.Requests)) * 0.020 / 64
		fits := 0
		for _, mem := range []int{128, 512, 1024, 1769} {
			vcpu := float64(mem) / 1769
			est := max(s.CPUSeconds/vcpu, s3s)
			p("| %s | %d MB | %.2f | %.0f | %.0f | %.0f | %d | %d |", stepName(ph.phase), mem, vcpu, s.CPUSeconds/vcpu, s3s, est, ph.target, ph.timeout)
			if fits == 0 && est <= float64(ph.target) && float64(mem) >= 2*rssMiB(s)*1.048576 {
				fits = mem
			}
		}
		if fits == 0 {
			advice = append(advice, fmt.Sprintf("%s: none of these sizes", stepName(ph.phase)))
		} else {
			advice = append(advice, fmt.Sprintf("%s: %d MB", stepName(ph.phase), fits))
		}
	}
	p("")
	p("Smallest memory that meets the target at %s users: %s.", thousands(top), strings.Join(advice, "; "))
	return b.String()
}

func stepName(phase string) string {
	if phase == PhasePrepare {
		return "PrepareBatch"
	}
	return "WriteManifest"
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// thousands writes n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
