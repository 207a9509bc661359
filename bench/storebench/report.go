package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/insights-export/insights-export/bench/stats"
)

const (
	// targetRSSMiB is issue 13's peak RSS target (issue 5's was 96 MiB).
	targetRSSMiB = 64
	// targetCPUPerGiB is issue 13's store CPU target: the store child's
	// user+system seconds per GiB of report.
	targetCPUPerGiB   = 2.0
	targetCeilingFrac = 0.8
	targetPipeRatio   = 3
	// flatRSSMiB is how much the median peak RSS may vary across sizes and
	// still count as flat: one default part.
	flatRSSMiB = 8
)

// spread is a median with its range.
type spread struct {
	med, lo, hi float64
	n           int
}

func spreadOf(vs []float64) spread {
	med, lo, hi, n := stats.MedianRange(vs)
	return spread{med: med, lo: lo, hi: hi, n: n}
}

func (s spread) String() string {
	switch {
	case s.n == 0:
		return "—"
	case s.n == 1:
		return fmt.Sprintf("%.0f", s.med)
	}
	return fmt.Sprintf("%.0f [%.0f–%.0f]", s.med, s.lo, s.hi)
}

func (s spread) fmt1() string {
	switch {
	case s.n == 0:
		return "—"
	case s.n == 1:
		return fmt.Sprintf("%.1f", s.med)
	}
	return fmt.Sprintf("%.1f [%.1f–%.1f]", s.med, s.lo, s.hi)
}

func (b *bench) select_(kind string, size int64, part int64, conc int) []sample {
	var out []sample
	for _, s := range b.samples {
		if s.Kind == kind && s.Size == size && (part == 0 || s.PartSize == part) && (conc == 0 || s.Concurrency == conc) {
			out = append(out, s)
		}
	}
	return out
}

func stat(ss []sample, f func(sample) float64) spread {
	vs := make([]float64, len(ss))
	for i, s := range ss {
		vs[i] = f(s)
	}
	return spreadOf(vs)
}

func perGiB(cpu func(sample) float64) func(sample) float64 {
	return func(s sample) float64 { return cpu(s) / (float64(s.Bytes) / (1 << 30)) }
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func (b *bench) markdown() string {
	o := b.opts
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }

	p("## Store streaming")
	p("")
	p("Measured %s on %s; load average %s at the start, %s at the end (the machine is shared: hence medians and ratios from the same run). Command: `%s`.",
		o.startedAt.Format("2006-01-02 15:04 UTC"), machine(), o.loadStart, loadAvg(), o.command)
	p("")
	scheme := "plain HTTP"
	if o.tls {
		scheme = "TLS (HTTP/1.1, throwaway CA trusted through `SSL_CERT_FILE` / `AWS_CA_BUNDLE`)"
	}
	p("- **Store step**: a child process (`bench/cmd/storechild store`) built like the bootstraps "+
		"(`CGO_ENABLED=0 -trimpath -ldflags \"-s -w\" -tags lambda.norpc`, host architecture) running the function's path: "+
		"`export.LoadConfig` and `config.AWSConfig` from the environment → avepoint client `ExportFile` → `report.Storer.Handle` → "+
		"`upload.Store.Put` (transfer manager). Only the AvePoint credentials come from the environment instead of Secrets Manager. "+
		"GOMEMLIMIT="+memLimitText()+" (StoreReportFunction's, read from `template.yaml`) and GOGC unset, as deployed. Part size %s × concurrency %d%s.",
		human(o.effectivePart), o.effectiveConc, defaultNote(o))
	p("- **Figures**: throughput = report bytes ÷ time inside the handler (from the `ExportFile` call to the completed upload); " +
		"peak RSS = the child's `ru_maxrss` from wait4; CPU = the child's user+system time. Medians, [min–max] over the runs.")
	p("- **Source**: `internal/testing/avesim` in the bench process over %s; each report is a real ZIP of exactly the given size "+
		"(workbook + stored padding entry, zip64 above 4 GiB) generated while it is sent (`Options.ReportSize`/`JobPlan.ReportSize`). "+
		"In-process generation rate: %s.", scheme, genRates(o))
	p("- **S3 endpoint**: `bench/cmd/s3sink` in its own process over %s: path-style PutObject and multipart upload, bodies decoded "+
		"(aws-chunked included), CRC-32 checked against the SDK's `x-amz-checksum-crc32` and S3's completion rules, then discarded; "+
		"every stored object is checked against the report's size and CRC-32. moto_server keeps objects in Python memory and gofakes3 "+
		"holds every part in memory until completion (`io.ReadAll` per part, then reassembly), so neither can take 4 GiB quickly. "+
		"The sink's own ceiling is measured below (raw PUTs of the same volume, %s bodies, %d at a time, no SDK).", scheme, human(o.effectivePart), o.blastConc)
	p("- **Baselines** (same run, same endpoint): the **source-read ceiling** (`storechild read`: the same bytes through the avepoint "+
		"client, `io.Copy(io.Discard, …)`) and the **pipe** `curl -sS --fail -H 'Authorization: Bearer …' URL | aws --endpoint-url … s3 cp - s3://…` "+
		"(%s, %s; wall time of the whole command, peak RSS = the largest of bash, curl and aws).", firstLine("aws", "--version"), curlVersion())
	p("")

	p("### Per report size")
	p("")
	p("| report | runs | store MiB/s | source ceiling MiB/s | pipe MiB/s | endpoint ceiling MiB/s | store peak RSS MiB | pipe peak RSS MiB | CPU s/GiB: store child · read child · pipe (curl+aws) · sink during store · simulator during store | cores busy: store · read · pipe |")
	p("|---|---|---|---|---|---|---|---|---|---|")
	for _, size := range o.sizes {
		st, rd, pp, bl := b.select_("store", size, 0, 0), b.select_("read", size, 0, 0), b.select_("pipe", size, 0, 0), b.select_("blast", size, 0, 0)
		p("| %s | %d | %s | %s | %s | %s | %s | %s | %.1f · %.1f · %.1f · %.1f · %.1f | %.1f · %.1f · %s |", human(size), len(st),
			stat(st, sample.mibps), stat(rd, sample.mibps), stat(pp, sample.mibps), stat(bl, sample.mibps),
			stat(st, sample.rssMiB).fmt1(), stat(pp, sample.rssMiB).fmt1(),
			stat(st, sample.cpuPerGiB).med, stat(rd, sample.cpuPerGiB).med, stat(pp, sample.cpuPerGiB).med,
			stat(st, perGiB(func(s sample) float64 { return s.SinkCPU })).med,
			stat(st, perGiB(func(s sample) float64 { return s.SelfCPU })).med,
			stat(st, sample.coresBusy).med, stat(rd, sample.coresBusy).med, stat(pp, sample.coresBusy).fmt1())
	}
	p("")
	p("*Cores busy* = CPU time of the measured process, the sink and the simulator together ÷ wall time, of %d cores: "+
		"when it is near %d the run is CPU-bound and the three processes compete for the same cores.", runtime.NumCPU(), runtime.NumCPU())
	p("")
	if o.memLimitCheck != "" {
		p("### With GOMEMLIMIT=%s", o.memLimitCheck)
		p("")
		p("Each size stored once more with `GOMEMLIMIT=%s` in the child's environment (the deployed setting is "+memLimitText()+"). "+
			"Without a limit the GC lets the heap grow to twice what was live after the last collection; the store's "+
			"small per-request garbage (net/http's 32 KiB copy buffer per part, SDK request state) then accumulates "+
			"for gigabytes before a collection, so the peak RSS creeps up with the report size.", o.memLimitCheck)
		p("")
		p("| report | store MiB/s | peak RSS MiB | GCs | without the limit: MiB/s · peak RSS MiB · GCs |")
		p("|---|---|---|---|---|")
		for _, size := range o.sizes {
			ml, st := b.select_("store-memlimit", size, 0, 0), b.select_("store", size, 0, 0)
			gcs := func(s sample) float64 { return float64(s.NumGC) }
			p("| %s | %s | %s | %s | %s · %s · %s |", human(size), stat(ml, sample.mibps), stat(ml, sample.rssMiB).fmt1(), stat(ml, gcs),
				stat(st, sample.mibps), stat(st, sample.rssMiB).fmt1(), stat(st, gcs))
		}
		p("")
	}
	if o.pacedSize > 0 {
		rd, st := b.select_("read-paced", o.pacedSize, 0, 0), b.select_("store-paced", o.pacedSize, 0, 0)
		p("### Paced source")
		p("")
		p("The same comparison with the simulator pacing the download to %s/s (`JobPlan.ReportRate`), about what a function gets from an internet host: "+
			"the source, not this machine's CPU, is then the bottleneck, as in production.", human(o.pacedRate))
		p("")
		p("| report | runs | store MiB/s | source ceiling MiB/s | store peak RSS MiB | store CPU s/GiB |")
		p("|---|---|---|---|---|---|")
		p("| %s | %d | %s | %s | %s | %s |", human(o.pacedSize), len(st), stat(st, sample.mibps), stat(rd, sample.mibps), stat(st, sample.rssMiB).fmt1(), stat(st, sample.cpuPerGiB).fmt1())
		p("")
	}

	p("### Targets")
	p("")
	p("| figure | value | baseline | ratio | target | met? |")
	p("|---|---|---|---|---|---|")
	var rssMeds []float64
	for _, size := range o.sizes {
		st, rd, pp := b.select_("store", size, 0, 0), b.select_("read", size, 0, 0), b.select_("pipe", size, 0, 0)
		sm, rm := stat(st, sample.mibps), stat(rd, sample.mibps)
		r := sm.med / rm.med
		p("| %s store throughput vs source-read ceiling | %.0f MiB/s | %.0f MiB/s | %.2f | ≥ %.1f | %s |", human(size), sm.med, rm.med, r, targetCeilingFrac, yesNo(r >= targetCeilingFrac))
		if len(pp) > 0 {
			pm := stat(pp, sample.mibps)
			r := sm.med / pm.med
			p("| %s store throughput vs `curl \\| aws s3 cp -` | %.0f MiB/s | %.0f MiB/s | %.1f | ≥ %d | %s |", human(size), sm.med, pm.med, r, targetPipeRatio, yesNo(r >= targetPipeRatio))
		}
		rss := stat(st, sample.rssMiB)
		rssMeds = append(rssMeds, rss.med)
		p("| %s store peak RSS | %.1f MiB (max %.1f) | — | — | ≤ %d MiB | %s |", human(size), rss.med, rss.hi, targetRSSMiB, yesNo(rss.hi <= targetRSSMiB))
	}
	cpuMet := true
	for _, size := range o.sizes {
		st, rd := stat(b.select_("store", size, 0, 0), sample.cpuPerGiB), stat(b.select_("read", size, 0, 0), sample.cpuPerGiB)
		cpuMet = cpuMet && st.med <= targetCPUPerGiB
		p("| %s store CPU per GiB (store child user+sys ÷ GiB; baseline: the read child, TLS decrypt included) | %.2f CPU-s/GiB [%.2f–%.2f] | %.2f CPU-s/GiB | %.1f | ≤ %.1f | %s |",
			human(size), st.med, st.lo, st.hi, rd.med, st.med/rd.med, targetCPUPerGiB, yesNo(st.med <= targetCPUPerGiB))
	}
	if sf, sok := b.cpuFit("store"); sok {
		rf, _ := b.cpuFit("read")
		cpuMet = cpuMet && sf.perGiB <= targetCPUPerGiB
		p("| store CPU per additional GiB (least-squares slope of the store child's CPU-s over %s–%s; baseline: the read child's slope) | %.2f CPU-s/GiB (+ %.2f CPU-s per run) | %.2f CPU-s/GiB (+ %.2f) | %.1f | ≤ %.1f | %s |",
			human(o.sizes[0]), human(o.sizes[len(o.sizes)-1]), sf.perGiB, sf.fixed, rf.perGiB, rf.fixed, sf.perGiB/rf.perGiB, targetCPUPerGiB, yesNo(sf.perGiB <= targetCPUPerGiB))
	}
	rssMet := true
	for _, m := range rssMeds {
		rssMet = rssMet && m <= targetRSSMiB
	}
	if len(rssMeds) > 1 {
		lo, hi := slices.Min(rssMeds), slices.Max(rssMeds)
		rssMet = rssMet && hi-lo <= flatRSSMiB
		p("| peak RSS flat across %s–%s as deployed (GOMEMLIMIT=%s; median per size) | %.1f–%.1f MiB | smallest %.1f MiB | %.2f | max − min ≤ %d MiB | %s |",
			human(o.sizes[0]), human(o.sizes[len(o.sizes)-1]), memLimitText(), lo, hi, lo, hi/lo, flatRSSMiB, yesNo(hi-lo <= flatRSSMiB))
	}
	if o.memLimitCheck != "" && len(o.sizes) > 1 {
		var meds []float64
		for _, size := range o.sizes {
			meds = append(meds, stat(b.select_("store-memlimit", size, 0, 0), sample.rssMiB).med)
		}
		lo, hi := slices.Min(meds), slices.Max(meds)
		p("| peak RSS flat across sizes **with GOMEMLIMIT=%s** | %.1f–%.1f MiB | smallest %.1f MiB | %.2f | max − min ≤ %d MiB, max ≤ %d MiB | %s |",
			o.memLimitCheck, lo, hi, lo, hi/lo, flatRSSMiB, targetRSSMiB, yesNo(hi-lo <= flatRSSMiB && hi <= targetRSSMiB))
	}
	if o.pacedSize > 0 {
		sm, rm := stat(b.select_("store-paced", o.pacedSize, 0, 0), sample.mibps), stat(b.select_("read-paced", o.pacedSize, 0, 0), sample.mibps)
		r := sm.med / rm.med
		p("| %s store throughput vs source-read ceiling, **paced** source (%s/s) | %.0f MiB/s | %.0f MiB/s | %.2f | ≥ %.1f | %s |", human(o.pacedSize), human(o.pacedRate), sm.med, rm.med, r, targetCeilingFrac, yesNo(r >= targetCeilingFrac))
	}
	for _, size := range o.sizes {
		st, bl := stat(b.select_("store", size, 0, 0), sample.mibps), stat(b.select_("blast", size, 0, 0), sample.mibps)
		if bl.n > 0 {
			p("| %s endpoint ceiling vs store (endpoint not the bottleneck) | %.0f MiB/s | %.0f MiB/s | %.1f | > 1 | %s |", human(size), bl.med, st.med, bl.med/st.med, yesNo(bl.med > st.med))
		}
	}
	p("")
	if !cpuMet {
		p("%s", b.cpuWhy())
		p("")
	}
	if !rssMet {
		p("**Peak RSS not met**: the part buffers alone are part size × (concurrency + 1) = %s, plus the download's and the HTTP clients' buffers and the Go runtime; "+
			"with GOMEMLIMIT=%s the heap is held near the limit, so what remains above it is memory that is live (see the part size × concurrency sweep for the cells within %d MiB).",
			human(o.effectivePart*int64(o.effectiveConc+1)), memLimitText(), targetRSSMiB)
		p("")
	}

	b.cpuNote(p)
	b.profileTable(p)

	if o.sweepSize > 0 {
		b.sweepTable(p)
	}

	if o.moto {
		p("### Realism check: moto_server")
		p("")
		if o.motoUnavailable != "" {
			p("Not measured: %s", o.motoUnavailable)
		} else {
			size := o.sizes[0]
			mo := b.select_("moto", size, 0, 0)
			p("The smallest report stored into moto_server (plain HTTP, so the SDK signs the payload with SHA-256 and sends the CRC-32 as a header; objects kept in Python memory): " +
				fmt.Sprintf("%s, %s run(s): %s MiB/s, peak RSS %s MiB. moto is the bottleneck here, which is why the sink is used above.",
					human(size), fmt.Sprint(len(mo)), stat(mo, sample.mibps), stat(mo, sample.rssMiB).fmt1()))
		}
		p("")
	}

	st := o.sinkStatsAtEnd
	p("Endpoint checks over the whole run: %d requests, %d bodies CRC-32-verified (%d in aws-chunked encoding), %d without a checksum, %d rejected, %d uploads left open, %d aborted.",
		st.Requests, st.CRCVerified, st.AWSChunked, st.CRCMissing, st.Rejected, st.OpenUploads, st.Aborted)
	if o.bigRuns < o.runs {
		p("")
		p("Sizes above 1 GiB were run %d time(s) (time budget); smaller ones %d times.", o.bigRuns, o.runs)
	}
	for _, n := range o.notes {
		p("")
		p("%s", n)
	}
	return w.String()
}

// cpuNote explains the unpaced ratios when the run was CPU-bound: the
// three processes share the cores, so each method's throughput is about
// the cores available ÷ the CPU all processes spend per byte, and the
// ratio of two methods is the inverse ratio of those costs.
func (b *bench) cpuNote(p func(string, ...any)) {
	o := b.opts
	size := o.sizes[0]
	for _, s := range o.sizes {
		if s <= o.bigRunThreshold {
			size = s
		}
	}
	total := func(kind string) float64 {
		ss := b.select_(kind, size, 0, 0)
		return stat(ss, perGiB(func(s sample) float64 { return s.CPUSeconds + s.SinkCPU + s.SelfCPU })).med
	}
	st, rd, pp := total("store"), total("read"), total("pipe")
	sm := stat(b.select_("store", size, 0, 0), sample.mibps).med
	rm := stat(b.select_("read", size, 0, 0), sample.mibps).med
	line := fmt.Sprintf("**CPU accounting** (%s): the source, the measured process and the endpoint share %d cores, so each method runs at "+
		"about (cores available) ÷ (CPU all processes spend per GiB). Store: %.1f CPU-s/GiB in total, source read: %.1f", human(size), runtime.NumCPU(), st, rd)
	if pm := stat(b.select_("pipe", size, 0, 0), sample.mibps).med; pp > 0 && pm > 0 {
		line += fmt.Sprintf(", pipe: %.1f. Predicted ratios %.2f (vs ceiling) and %.1f (vs pipe); measured %.2f and %.1f (the pipe also waits on the AWS CLI's start-up, which dominates small reports).", pp, rd/st, pp/st, sm/rm, sm/pm)
	} else {
		line += fmt.Sprintf(". Predicted ratio vs ceiling %.2f; measured %.2f.", rd/st, sm/rm)
	}
	p("%s The store's own CPU goes to TLS both ways, SHA-256 of every byte (the output's `sha256`), CRC-32 and the syscalls of two sockets; "+
		"the source read only decrypts. With the source as the bottleneck, as in production, the store keeps up (paced source above).", line)
	p("")
}

func (b *bench) sweepTable(p func(string, ...any)) {
	o := b.opts
	p("### Part size × concurrency (%s report, %d run(s) per cell)", human(o.sweepSize), o.sweepRuns)
	p("")
	p("Cells: store MiB/s · peak RSS MiB. Source-read ceiling at this size: %s MiB/s.", stat(b.select_("read", o.sweepSize, 0, 0), sample.mibps))
	p("")
	head := "| part size |"
	sep := "|---|"
	for _, c := range o.sweepConc {
		head += fmt.Sprintf(" concurrency %d |", c)
		sep += "---|"
	}
	p("%s", head)
	p("%s", sep)
	type cell struct {
		part int64
		conc int
		mibs float64
		rss  float64
	}
	var best *cell
	for _, part := range o.sweepParts {
		row := "| " + human(part) + " |"
		for _, c := range o.sweepConc {
			ss := b.select_("sweep", o.sweepSize, part, c)
			m, r := stat(ss, sample.mibps), stat(ss, sample.rssMiB)
			mark := ""
			if part == o.defaultPart && c == o.defaultConc {
				mark = " (default)"
			}
			row += fmt.Sprintf(" %.0f · %.1f%s |", m.med, r.hi, mark)
			if r.hi <= targetRSSMiB && (best == nil || m.med > best.mibs) {
				best = &cell{part, c, m.med, r.hi}
			}
		}
		p("%s", row)
	}
	p("")
	if best != nil {
		p("Fastest cell within the %d MiB RSS target: %s × %d at %.0f MiB/s, %.1f MiB peak RSS.", targetRSSMiB, human(best.part), best.conc, best.mibs, best.rss)
		p("")
	}
}

func defaultNote(o *options) string {
	if o.effectivePart == o.defaultPart && o.effectiveConc == o.defaultConc {
		return " (the `internal/storage/upload` defaults)"
	}
	return fmt.Sprintf(" (storage defaults are %s × %d)", human(o.defaultPart), o.defaultConc)
}

func genRates(o *options) string {
	var parts []string
	for _, s := range o.sizes {
		if r, ok := o.generationMiBps[s]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f GiB/s", human(s), r/1024))
		}
	}
	return strings.Join(parts, ", ") + " (written straight into a CRC-32, no network)"
}

// loadAvg is the 1-, 5- and 15-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

func machine() string {
	model, mem := "unknown CPU", ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var kb int64
			if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); err == nil {
				mem = fmt.Sprintf(", %.1f GiB RAM", float64(kb)/(1<<20))
				break
			}
		}
		f.Close()
	}
	var u syscall.Utsname
	kernel := ""
	if syscall.Uname(&u) == nil {
		var b []byte
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		kernel = ", Linux " + string(b)
	}
	return fmt.Sprintf("%d × %s (%s)%s%s, %s", runtime.NumCPU(), model, runtime.GOARCH, mem, kernel, runtime.Version())
}

func curlVersion() string {
	v := firstLine("curl", "--version")
	if f := strings.Fields(v); len(f) >= 2 {
		return f[0] + " " + f[1]
	}
	return v
}

func firstLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return name + " (version unknown)"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func memLimitText() string {
	if deployedMemLimit == "" {
		return "unset"
	}
	return deployedMemLimit
}

// linearCPU is CPU-s = fixed + perGiB × GiB, fitted over a kind's runs.
type linearCPU struct{ fixed, perGiB float64 }

// cpuFit fits the main runs of kind (store or read) across the sizes: the
// slope is what each further GiB costs, the intercept what every run pays
// whatever the size (process start, configuration, TLS handshakes).
func (b *bench) cpuFit(kind string) (linearCPU, bool) {
	var n, sx, sy, sxx, sxy float64
	sizes := map[int64]bool{}
	for _, size := range b.opts.sizes {
		for _, s := range b.select_(kind, size, 0, 0) {
			x := float64(s.Bytes) / (1 << 30)
			n, sx, sy, sxx, sxy = n+1, sx+x, sy+s.CPUSeconds, sxx+x*x, sxy+x*s.CPUSeconds
			sizes[size] = true
		}
	}
	d := n*sxx - sx*sx
	if len(sizes) < 2 || d == 0 {
		return linearCPU{}, false
	}
	slope := (n*sxy - sx*sy) / d
	return linearCPU{fixed: (sy - slope*sx) / n, perGiB: slope}, true
}
