package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/insights-export/insights-export/bench/coldstart"
	"github.com/insights-export/insights-export/devstack"
)

const coldRatioTarget = 1.25

// buildStack makes sure the local stack's tools are installed and builds
// every function's bootstrap into a new temporary folder (tmp: the
// caller removes it).
func buildStack(ctx context.Context, prefix string) (tmp string, bins map[string]string, err error) {
	if err := devstack.EnsureTools(ctx); err != nil {
		return "", nil, err
	}
	if tmp, err = os.MkdirTemp("", prefix); err != nil {
		return "", nil, err
	}
	if bins, err = devstack.BuildBootstraps(ctx, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", nil, err
	}
	return tmp, bins, nil
}

// runColdStart launches every bootstrap opts.coldRuns times per request
// kind, in a shuffled order each round so drift and noise spread evenly,
// then checks that no function connects anywhere during init.
func runColdStart(ctx context.Context, r *report) error {
	began := time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	tmp, bins, err := buildStack(ctx, "bench-coldstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	hello, err := devstack.BuildBootstrap(ctx, filepath.Join(root, "devstack", "testdata", "hello"), filepath.Join(tmp, "hello"))
	if err != nil {
		return err
	}
	env, err := coldstart.StartEnv(ctx)
	if err != nil {
		return err
	}
	defer env.Close()
	targets, err := env.Targets(hello, bins)
	if err != nil {
		return err
	}
	// The same functions at the baseline revision, measured in the same
	// rounds: what the changes since then did to init.
	var baseTargets []coldstart.Target
	if tree, berr := r.baselineTree(ctx); berr == nil {
		baseBins := map[string]string{}
		for _, fn := range functions {
			if baseBins[fn], berr = devstack.BuildBootstrap(ctx, filepath.Join(tree, "functions", fn), filepath.Join(tmp, "base-"+fn)); berr != nil {
				break
			}
		}
		if berr == nil {
			bt, _ := env.Targets(hello, baseBins)
			for _, t := range bt {
				if t.Name != "hello" {
					t.Name += "@" + r.opts.sizeBaselineRev
					baseTargets = append(baseTargets, t)
				}
			}
		}
		if berr != nil {
			r.failures = append(r.failures, "cold-start baseline: "+berr.Error())
		}
	}

	type kind struct {
		target  coldstart.Target
		refused bool
	}
	var kinds []kind
	for _, t := range append(append([]coldstart.Target(nil), targets...), baseTargets...) {
		kinds = append(kinds, kind{t, false})
		if t.Refused != nil {
			kinds = append(kinds, kind{t, true})
		}
	}
	samples := map[string][]coldstart.Sample{}
	key := func(k kind) string {
		if k.refused {
			return k.target.Name + "/refused"
		}
		return k.target.Name
	}
	// One unmeasured launch of each warms the page cache and the emulator.
	for _, k := range kinds {
		if _, err := launch(ctx, k.target, k.refused); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	for round := 0; round < r.opts.coldRuns; round++ {
		order := rng.Perm(len(kinds))
		for _, i := range order {
			s, err := launch(ctx, kinds[i].target, kinds[i].refused)
			if err != nil {
				return err
			}
			samples[key(kinds[i])] = append(samples[key(kinds[i])], s)
		}
	}

	var checks []coldstart.NetCheck
	for _, t := range targets {
		if t.Refused == nil {
			continue
		}
		c, err := coldstart.InitConnections(ctx, t)
		if err != nil {
			return fmt.Errorf("network check: %w", err)
		}
		checks = append(checks, c)
	}

	hs := coldstart.Summarise(samples["hello"])
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("**What is measured.** Each sample launches `aws-lambda-rie` with one bootstrap (built by `devstack.BuildBootstrap`: the deployment flags, host architecture) on fresh ports and times from just before the launch to the end of the first invocation's response. That includes the emulator's own start (identical for every binary), process start, Go runtime init, `main()` (the package's loader — `export.LoadStarter`, `export.LoadChecker`, `report.LoadStorer`: environment, logger, `config.AWSConfig`, clients; no network) and the handler. Then the same request is sent again to the warm instance, and the instance is stopped. %d samples per row, rows interleaved in a new random order each round after one unmeasured warm-up launch each.", r.opts.coldRuns)
	p("")
	p("**First successful response** — the cheapest request each function answers with success, against local services (moto_server for Secrets Manager and S3, the AvePoint simulator), so it includes the first-call network work a real cold start pays: `startexport` a valid input (secret, token, export call); `checkjob` a running job (secret, token, one status call); `storereport` a finished job (secret, token, ~10 KB report download, PutObject). The baseline is `devstack/testdata/hello` (aws-lambda-go, no network), measured in the same rounds. **Refused request** — an input the handler rejects with a ValidationError before any call: init + dispatch without network, the like-for-like comparison with hello world. Rows `…@%s` are the same functions built from revision %s, measured in the same rounds.", r.opts.sizeBaselineRev, r.baselineLabel(ctx))
	p("")
	p("Columns: launch → first response (median, IQR, range, ratio of medians to hello); the emulator's REPORT *Duration* of that first invocation, which in this RIE runs from the runtime's start through init and the handler (it leaves out the emulator's own start; its *Init Duration* only times an asynchronous call and reads ~0), with its ratio to hello; the same request on the warm instance.")
	p("")
	p("| bootstrap | request | median | IQR | min – max | ratio to hello | RIE Duration of the first invoke (ratio) | warm median |")
	p("|---|---|---:|---:|---:|---:|---:|---:|")
	line := func(name, req string, st coldstart.Stats) {
		if st.N == 0 {
			return
		}
		ratio, invRatio := "—", ""
		if name != "hello" && hs.Median > 0 {
			ratio = fmt.Sprintf("%.2f", float64(st.Median)/float64(hs.Median))
		}
		if name != "hello" && hs.MedianInvoke > 0 {
			invRatio = fmt.Sprintf(" (%.2f)", float64(st.MedianInvoke)/float64(hs.MedianInvoke))
		}
		p("| %s | %s | %s | %s – %s | %s – %s | %s | %s%s | %s |", name, req, ms(st.Median), ms(st.P25), ms(st.P75), ms(st.Min), ms(st.Max), ratio,
			ms(st.MedianInvoke), invRatio, ms(st.MedianWarm))
	}
	line("hello", "greeting", hs)
	for _, t := range targets {
		if t.Name == "hello" {
			continue
		}
		st := coldstart.Summarise(samples[t.Name])
		line(t.Name, "first success", st)
		ratio := float64(st.Median) / float64(hs.Median)
		r.rows = append(r.rows, row{coldStartRows, t.Name + ": launch → first successful response (median of " + fmt.Sprint(st.N) + ")",
			fmt.Sprintf("%s (IQR %s–%s)", ms(st.Median), ms(st.P25), ms(st.P75)), "hello " + ms(hs.Median), fmt.Sprintf("%.2f", ratio), "≤ 1.25", yesNo(ratio <= coldRatioTarget)})
	}
	for _, t := range targets {
		if t.Refused == nil {
			continue
		}
		st := coldstart.Summarise(samples[t.Name+"/refused"])
		line(t.Name, "refused (no network)", st)
		ratio := float64(st.Median) / float64(hs.Median)
		r.rows = append(r.rows, row{coldStartRows, t.Name + ": launch → first response, no network (refused input)",
			ms(st.Median), "hello " + ms(hs.Median), fmt.Sprintf("%.2f", ratio), "(diagnostic)", "—"})
	}
	for _, t := range targets {
		if t.Refused == nil {
			continue
		}
		for _, k := range []struct{ key, what string }{{t.Name, "first successful"}, {t.Name + "/refused", "refused-input (no network)"}} {
			st := coldstart.Summarise(samples[k.key])
			r.rows = append(r.rows, row{coldStartRows, fmt.Sprintf("%s: RIE Duration of the %s first invoke (no emulator start; median of %d)", t.Name, k.what, st.InitN),
				ms(st.MedianInvoke), "hello " + ms(hs.MedianInvoke), fmt.Sprintf("%.2f", float64(st.MedianInvoke)/float64(hs.MedianInvoke)), "(diagnostic)", "—"})
		}
	}
	for _, t := range baseTargets {
		line(t.Name, "first success", coldstart.Summarise(samples[t.Name]))
		line(t.Name, "refused (no network)", coldstart.Summarise(samples[t.Name+"/refused"]))
	}
	for _, t := range baseTargets {
		fn, _, _ := strings.Cut(t.Name, "@")
		now, then := coldstart.Summarise(samples[fn+"/refused"]), coldstart.Summarise(samples[t.Name+"/refused"])
		r.rows = append(r.rows, row{coldStartRows, fn + ": refused-input first response now vs " + r.opts.sizeBaselineRev + ": launch → response; RIE Duration",
			ms(now.Median) + "; " + ms(now.MedianInvoke), ms(then.Median) + "; " + ms(then.MedianInvoke),
			fmt.Sprintf("%.2f; %.2f", float64(now.Median)/float64(then.Median), float64(now.MedianInvoke)/float64(then.MedianInvoke)), "(diagnostic)", "—"})
	}
	p("")
	p("Raw first-response samples (ms, in measurement order):")
	p("")
	for _, k := range kinds {
		var v []string
		for _, s := range samples[key(k)] {
			v = append(v, fmt.Sprintf("%.1f", float64(s.First)/1e6))
		}
		p("- %s: %s", key(k), strings.Join(v, " "))
	}
	if len(emulatorRetries) > 0 {
		p("")
		p("%d launch(es) were repeated after an emulator error (the RIE answered without running the function; not counted as samples):", len(emulatorRetries))
		p("")
		for _, e := range emulatorRetries {
			p("- `%s`", e)
		}
	}
	p("")
	p("**No network call at init.** Each function runs under the RIE with `AVEPOINT_API_URL`, `AVEPOINT_TOKEN_URL`, `AWS_ENDPOINT_URL` and `HTTP(S)_PROXY` (which Go and the AWS SDK use for every non-loopback host, IMDS included) all pointing at a listener that records connections. It is invoked with a request refused before any call; then with a real one, which must connect (proof the recorder was in the path). The same check runs in `go test ./bench/coldstart` (TestNoNetworkAtInit).")
	p("")
	p("| function | connections through init + refused request | connections after a real request |")
	p("|---|---:|---:|")
	allZero := true
	for _, c := range checks {
		p("| %s | %d | %d |", c.Name, len(c.AtInit), len(c.AfterCall))
		if len(c.AtInit) != 0 || len(c.AfterCall) == 0 {
			allZero = false
		}
	}
	r.rows = append(r.rows, row{coldStartRows, "network connections during init (3 functions)", connSummary(checks), "—", "—", "0 (and > 0 after a real call)", yesNo(allZero)})
	r.add(12, b.String(), time.Since(began))
	return nil
}

func connSummary(cs []coldstart.NetCheck) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s %d", c.Name, len(c.AtInit)))
	}
	return strings.Join(parts, ", ")
}

// emulatorRetries lists launches repeated after an emulator error (see
// coldstart.ErrEmulator); the report shows them.
var emulatorRetries []string

// launch measures one sample, repeating it (up to twice) only when the
// emulator rather than the function failed — on a loaded machine this RIE
// occasionally answers 502 without running the function.
func launch(ctx context.Context, t coldstart.Target, refused bool) (coldstart.Sample, error) {
	for attempt := 0; ; attempt++ {
		var s coldstart.Sample
		var err error
		if refused {
			s, err = coldstart.Launch(ctx, t, t.Refused, "ValidationError")
		} else {
			s, err = coldstart.Launch(ctx, t, t.Success, "")
		}
		if err == nil || !errors.Is(err, coldstart.ErrEmulator) || attempt == 2 || ctx.Err() != nil {
			return s, err
		}
		first, _, _ := strings.Cut(err.Error(), "\n")
		emulatorRetries = append(emulatorRetries, t.Name+": "+first)
		logf("cold start: %s: repeating after an emulator error: %s", t.Name, first)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
