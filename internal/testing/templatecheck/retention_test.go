package templatecheck

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/insights-export/insights-export/internal/batch"
	"github.com/insights-export/insights-export/internal/dataset"
	"github.com/insights-export/insights-export/internal/request"
)

// The retention settings (README, "Retention and compliance") are
// checked the way CloudFormation would deploy them: the template's
// Conditions, Fn::If and Rules evaluated for chosen parameter values, so
// a test sees the bucket a stack with those values gets.

// retentionParams are the parameters of the retention settings; each
// must be bounded and listed in the "Report storage" parameter group.
var retentionParams = []string{
	"ObjectLockEnabled", "ObjectLockMode", "ObjectLockRetentionDays", "NoncurrentVersionDays",
	"ReportArchiveDays", "ReportArchiveStorageClass", "RunFilesExpirationDays",
	"AccessLogging", "AccessLogExpirationDays",
}

// noValue stands for AWS::NoValue while resolving: the property or list
// element it is in disappears.
type noValueT struct{}

var noValue = noValueT{}

// stack is template.yaml deployed with parameter values: what
// CloudFormation evaluates before it creates anything.
type stack struct {
	t      *testing.T
	root   map[string]any
	params map[string]string
}

func rawTemplate(t *testing.T) map[string]any {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	root, ok := value(&doc).(map[string]any)
	if !ok {
		t.Fatal("template is not a mapping")
	}
	return root
}

// deploy evaluates the template with the parameters' defaults, overridden
// by values.
func deploy(t *testing.T, values map[string]string) *stack {
	t.Helper()
	s := &stack{t: t, root: rawTemplate(t), params: map[string]string{}}
	params, _ := s.root["Parameters"].(map[string]any)
	for name, p := range params {
		def, _ := p.(map[string]any)["Default"].(string)
		s.params[name] = def
	}
	for k, v := range values {
		if _, ok := params[k]; !ok {
			t.Fatalf("template.yaml has no parameter %s", k)
		}
		s.params[k] = v
	}
	return s
}

// param is a parameter's definition.
func param(t *testing.T, name string) map[string]any {
	t.Helper()
	params, _ := rawTemplate(t)["Parameters"].(map[string]any)
	p, ok := params[name].(map[string]any)
	if !ok {
		t.Fatalf("template.yaml has no parameter %s", name)
	}
	return p
}

func (s *stack) scalar(v any) string {
	s.t.Helper()
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok {
			if p, ok := s.params[ref]; ok {
				return p
			}
		}
		if sub, ok := x["Fn::Sub"].(string); ok {
			return subVarRE.ReplaceAllStringFunc(sub, func(m string) string {
				if p, ok := s.params[m[2:len(m)-1]]; ok {
					return p
				}
				return m
			})
		}
	}
	s.t.Fatalf("cannot evaluate %v to a string", v)
	return ""
}

// cond evaluates a condition expression (the functions Conditions and
// Rules use).
func (s *stack) cond(v any) bool {
	s.t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		s.t.Fatalf("condition %v is not a function", v)
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Fn::Equals":
			return s.scalar(args[0]) == s.scalar(args[1])
		case "Fn::Not":
			return !s.cond(args[0])
		case "Fn::And":
			for _, a := range args {
				if !s.cond(a) {
					return false
				}
			}
			return true
		case "Fn::Or":
			for _, a := range args {
				if s.cond(a) {
					return true
				}
			}
			return false
		case "Condition":
			return s.condition(arg.(string))
		}
	}
	s.t.Fatalf("unsupported condition %v", v)
	return false
}

func (s *stack) condition(name string) bool {
	s.t.Helper()
	conds, _ := s.root["Conditions"].(map[string]any)
	c, ok := conds[name]
	if !ok {
		s.t.Fatalf("no condition %s", name)
	}
	return s.cond(c)
}

// resolve picks the Fn::If branches and drops AWS::NoValue; other
// functions are left as they are.
func (s *stack) resolve(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if args, ok := x["Fn::If"].([]any); ok && len(x) == 1 {
			if s.condition(args[0].(string)) {
				return s.resolve(args[1])
			}
			return s.resolve(args[2])
		}
		if x["Ref"] == "AWS::NoValue" {
			return noValue
		}
		out := map[string]any{}
		for k, e := range x {
			if r := s.resolve(e); r != noValue {
				out[k] = r
			}
		}
		return out
	case []any:
		out := []any{}
		for _, e := range x {
			if r := s.resolve(e); r != noValue {
				out = append(out, r)
			}
		}
		return out
	}
	return v
}

// resource is a resource as deployed; nil when its Condition is false.
func (s *stack) resource(name string) map[string]any {
	s.t.Helper()
	res, _ := s.root["Resources"].(map[string]any)
	r, ok := res[name].(map[string]any)
	if !ok {
		s.t.Fatalf("no resource %s", name)
	}
	if c, ok := r["Condition"].(string); ok && !s.condition(c) {
		return nil
	}
	return s.resolve(r).(map[string]any)
}

func (s *stack) props(name string) map[string]any {
	s.t.Helper()
	r := s.resource(name)
	if r == nil {
		s.t.Fatalf("%s is not created with %v", name, s.params)
	}
	p, _ := r["Properties"].(map[string]any)
	return p
}

// rulesPass reports whether CloudFormation's Rules accept the
// parameters, and the descriptions of the assertions that fail.
func (s *stack) rulesPass() (bool, []string) {
	rules, _ := s.root["Rules"].(map[string]any)
	var failed []string
	for name, r := range rules {
		rm := r.(map[string]any)
		if c, ok := rm["RuleCondition"]; ok && !s.cond(c) {
			continue
		}
		for _, a := range asList(rm["Assertions"]) {
			am := a.(map[string]any)
			if !s.cond(am["Assert"]) {
				failed = append(failed, fmt.Sprintf("%s: %v", name, am["AssertDescription"]))
			}
		}
	}
	return len(failed) == 0, failed
}

func (s *stack) lifecycleRules(bucket string) []map[string]any {
	s.t.Helper()
	lc, _ := s.props(bucket)["LifecycleConfiguration"].(map[string]any)
	var out []map[string]any
	for _, r := range asList(lc["Rules"]) {
		out = append(out, r.(map[string]any))
	}
	return out
}

// Object Lock is on only when ObjectLockEnabled says so, its default
// retention only with a mode; the defaults leave ReportBucket exactly as
// stacks deployed before these settings have it (no lock property at
// all, so nothing CloudFormation could replace the bucket for); and a
// mode without the lock is refused before anything is deployed.
func TestObjectLockOnlyWithAModeOnALockedBucket(t *testing.T) {
	def := deploy(t, nil)
	if def.params["ObjectLockEnabled"] != "false" || def.params["ObjectLockMode"] != "NONE" {
		t.Fatalf("Object Lock must be off by default: %v %v", def.params["ObjectLockEnabled"], def.params["ObjectLockMode"])
	}
	for _, p := range []string{"ObjectLockEnabled", "ObjectLockConfiguration"} {
		if v, ok := def.props("ReportBucket")[p]; ok {
			t.Errorf("with the defaults ReportBucket has %s = %v; a stack deployed before it existed would see a change", p, v)
		}
	}

	for _, enabled := range []string{"false", "true"} {
		for _, mode := range []string{"NONE", "GOVERNANCE", "COMPLIANCE"} {
			name := "ObjectLockEnabled=" + enabled + ",ObjectLockMode=" + mode
			t.Run(name, func(t *testing.T) {
				s := deploy(t, map[string]string{"ObjectLockEnabled": enabled, "ObjectLockMode": mode, "ObjectLockRetentionDays": "2557"})
				ok, failed := s.rulesPass()
				if wantOK := mode == "NONE" || enabled == "true"; ok != wantOK {
					t.Fatalf("Rules accept it: %v (%v), want %v", ok, failed, wantOK)
				}
				if !ok {
					return
				}
				p := s.props("ReportBucket")
				if want := map[string]any{"true": "true", "false": nil}[enabled]; p["ObjectLockEnabled"] != want {
					t.Errorf("ObjectLockEnabled = %v, want %v", p["ObjectLockEnabled"], want)
				}
				cfg, hasCfg := p["ObjectLockConfiguration"].(map[string]any)
				if hasCfg != (enabled == "true") {
					t.Fatalf("ObjectLockConfiguration = %v", p["ObjectLockConfiguration"])
				}
				if !hasCfg {
					return
				}
				if cfg["ObjectLockEnabled"] != "Enabled" {
					t.Errorf("ObjectLockConfiguration.ObjectLockEnabled = %v", cfg["ObjectLockEnabled"])
				}
				rule, hasRule := cfg["Rule"].(map[string]any)
				if hasRule != (mode != "NONE") {
					t.Fatalf("default retention %v with mode %s", cfg["Rule"], mode)
				}
				if !hasRule {
					return
				}
				dr, _ := rule["DefaultRetention"].(map[string]any)
				if s.scalar(dr["Mode"]) != mode || s.scalar(dr["Days"]) != "2557" || dr["Years"] != nil {
					t.Errorf("DefaultRetention = %v", dr)
				}
				if v, _ := s.props("ReportBucket")["VersioningConfiguration"].(map[string]any); v["Status"] != "Enabled" {
					t.Errorf("Object Lock needs versioning: %v", v)
				}
			})
		}
	}
}

// keyFamilies are sample keys of everything in the report bucket, spelled
// by the code that writes them, with the template's default prefixes.
func keyFamilies(t *testing.T, s *stack) map[string]string {
	t.Helper()
	reports, ds, state := s.params["ReportPrefix"], s.params["DatasetPrefix"], s.params["StatePrefix"]
	q := request.Query{Email: "alex.wilber@contoso.com", StartTime: "2026-11-01T00:00:00", FinishTime: "2026-11-02T00:00:00"}
	report := request.ObjectKey(reports, q)
	run := batch.RunPrefix(reports, batch.Execution{Name: "nightly", StartTime: "2026-11-02T00:15:00Z"}, time.Now())
	layout := dataset.Layout{Prefix: ds}
	id := dataset.ReportID(report)
	return map[string]string{
		"report":         report,
		"work list":      run + "/items.json",
		"plan":           run + "/plan.json",
		"map results":    run + "/results/0123/SUCCEEDED_0.json",
		"manifest":       run + "/manifest.json",
		"mark":           (&batch.Watermarks{Prefix: state}).Key(q.Email, nil),
		"parquet":        layout.Key("2026-11-01", id),
		"conversion":     layout.RecordKey(id),
		"athena results": "athena-results/0123.csv",
	}
}

// applies reports whether a lifecycle rule's filter takes key.
func applies(t *testing.T, s *stack, rule map[string]any, key string) bool {
	t.Helper()
	if rule["Filter"] != nil || rule["TagFilters"] != nil || rule["ObjectSizeGreaterThan"] != nil || rule["ObjectSizeLessThan"] != nil {
		t.Fatalf("rule %v: only Prefix filters are expected", rule["Id"])
	}
	p, ok := rule["Prefix"]
	if !ok {
		return true // the whole bucket
	}
	return strings.HasPrefix(key, s.scalar(p))
}

// Reports move to colder storage, and nothing else does: not the Parquet
// Athena reads (it skips objects in archive classes), not the run files
// or marks the batch reads back. 0 means never.
func TestOnlyReportZIPsAreArchived(t *testing.T) {
	days := param(t, "ReportArchiveDays")
	classes := strs(param(t, "ReportArchiveStorageClass")["AllowedValues"])
	if len(classes) == 0 {
		t.Fatal("ReportArchiveStorageClass has no AllowedValues")
	}
	for _, c := range classes {
		if c == "ONEZONE_IA" || c == "STANDARD" || c == "REDUCED_REDUNDANCY" {
			t.Errorf("ReportArchiveStorageClass allows %s", c)
		}
	}
	for _, d := range strs(days["AllowedValues"]) {
		n, err := strconv.Atoi(d)
		// S3 refuses a transition to STANDARD_IA before 30 days.
		if err != nil || n != 0 && n < 30 {
			t.Errorf("ReportArchiveDays allows %q: 0 or at least 30", d)
		}
	}

	for _, d := range []string{"0", "30", "365"} {
		for _, class := range classes {
			s := deploy(t, map[string]string{"ReportArchiveDays": d, "ReportArchiveStorageClass": class})
			keys := keyFamilies(t, s)
			archived := 0
			for _, r := range s.lifecycleRules("ReportBucket") {
				if r["NoncurrentVersionTransitions"] != nil || r["NoncurrentVersionTransition"] != nil || r["Transition"] != nil {
					t.Errorf("rule %v: transitions other than of current report versions", r["Id"])
				}
				if r["Transitions"] == nil {
					continue
				}
				archived++
				for family, key := range keys {
					if got := applies(t, s, r, key); got != (family == "report") {
						t.Errorf("days %s class %s: rule %v applies to the %s (%s): %v", d, class, r["Id"], family, key, got)
					}
				}
				for _, tr := range asList(r["Transitions"]) {
					m := tr.(map[string]any)
					if s.scalar(m["StorageClass"]) != class || s.scalar(m["TransitionInDays"]) != d || m["TransitionDate"] != nil {
						t.Errorf("transition %v", m)
					}
				}
			}
			if want := map[bool]int{true: 0, false: 1}[d == "0"]; archived != want {
				t.Errorf("days %s: %d transition rules, want %d", d, archived, want)
			}
		}
	}
}

// Run files expire when asked, and only they: the rule's prefix takes the
// work list, the Map's results and the manifest, and no report, dataset
// file or mark. The versions an expiry hides go too (a day later), so
// "deleted" means deleted, not a delete marker over a kept version.
func TestRunFilesExpireOnlyUnderRuns(t *testing.T) {
	for _, d := range []string{"0", "30", "3653"} {
		s := deploy(t, map[string]string{"RunFilesExpirationDays": d})
		keys := keyFamilies(t, s)
		expiring := 0
		for _, r := range s.lifecycleRules("ReportBucket") {
			if r["ExpirationInDays"] == nil && r["ExpirationDate"] == nil {
				continue
			}
			if applies(t, s, r, keys["athena results"]) {
				continue // ExpireAthenaResults
			}
			expiring++
			for family, key := range keys {
				runFile := family == "work list" || family == "plan" || family == "map results" || family == "manifest"
				if got := applies(t, s, r, key); got != runFile {
					t.Errorf("days %s: rule %v applies to the %s (%s): %v", d, r["Id"], family, key, got)
				}
			}
			nve, _ := r["NoncurrentVersionExpiration"].(map[string]any)
			if s.scalar(r["ExpirationInDays"]) != d || nve == nil {
				t.Errorf("rule %v: expiration %v, noncurrent %v", r["Id"], r["ExpirationInDays"], nve)
			}
		}
		if want := map[bool]int{true: 0, false: 1}[d == "0"]; expiring != want {
			t.Errorf("days %s: %d run file expiry rules, want %d", d, expiring, want)
		}
	}
	for _, d := range strs(param(t, "RunFilesExpirationDays")["AllowedValues"]) {
		// WriteManifest reads the plan the run wrote at its start.
		if n, err := strconv.Atoi(d); err != nil || n != 0 && n < 30 {
			t.Errorf("RunFilesExpirationDays allows %q: 0 or at least 30", d)
		}
	}
}

// A rerun's previous report is kept NoncurrentVersionDays (30 by
// default, as before); 0 keeps every version.
func TestNoncurrentVersionsKeptAsConfigured(t *testing.T) {
	for d, want := range map[string]string{"": "30", "0": "", "2557": "2557"} {
		var s *stack
		if d == "" {
			s = deploy(t, nil)
		} else {
			s = deploy(t, map[string]string{"NoncurrentVersionDays": d})
		}
		var got []string
		for _, r := range s.lifecycleRules("ReportBucket") {
			nve, ok := r["NoncurrentVersionExpiration"].(map[string]any)
			if !ok || r["Prefix"] != nil {
				continue // the run files' own rule has a prefix
			}
			got = append(got, s.scalar(nve["NoncurrentDays"]))
		}
		if want == "" && len(got) != 0 || want != "" && !slices.Equal(got, []string{want}) {
			t.Errorf("NoncurrentVersionDays %q: bucket-wide noncurrent expiry %v, want %q", d, got, want)
		}
	}
}

// The access-log bucket exists only when asked for. S3 delivers to it
// through a bucket policy for logging.s3.amazonaws.com alone (no ACLs:
// ownership is BucketOwnerEnforced), PutObject only, only under the
// prefix the report bucket logs to, and only for this account's report
// bucket (aws:SourceArn, aws:SourceAccount). S3 cannot deliver to a
// bucket with Object Lock or SSE-KMS default encryption: it has neither.
func TestAccessLogBucketTakesOnlyTheReportBucketsLogs(t *testing.T) {
	off := deploy(t, nil)
	if off.params["AccessLogging"] != "false" {
		t.Fatalf("AccessLogging defaults to %q", off.params["AccessLogging"])
	}
	if off.resource("AccessLogBucket") != nil || off.resource("AccessLogBucketPolicy") != nil {
		t.Error("the access-log bucket is created with AccessLogging=false")
	}
	if lc := off.props("ReportBucket")["LoggingConfiguration"]; lc != nil {
		t.Errorf("ReportBucket logs with AccessLogging=false: %v", lc)
	}

	s := deploy(t, map[string]string{"AccessLogging": "true", "ObjectLockEnabled": "true", "ObjectLockMode": "COMPLIANCE", "KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/abc"})
	bucket := s.resource("AccessLogBucket")
	if bucket["DeletionPolicy"] != "Retain" || bucket["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("AccessLogBucket DeletionPolicy %v, UpdateReplacePolicy %v: the record must outlive the stack", bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"])
	}
	p := s.props("AccessLogBucket")
	pab, _ := p["PublicAccessBlockConfiguration"].(map[string]any)
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if pab[k] != "true" {
			t.Errorf("PublicAccessBlockConfiguration.%s = %v", k, pab[k])
		}
	}
	oc, _ := p["OwnershipControls"].(map[string]any)
	if rules := asList(oc["Rules"]); len(rules) != 1 || rules[0].(map[string]any)["ObjectOwnership"] != "BucketOwnerEnforced" {
		t.Errorf("OwnershipControls = %v", oc)
	}
	enc, _ := p["BucketEncryption"].(map[string]any)
	sse := asList(enc["ServerSideEncryptionConfiguration"])
	if len(sse) != 1 {
		t.Fatalf("BucketEncryption = %v", enc)
	}
	def, _ := sse[0].(map[string]any)["ServerSideEncryptionByDefault"].(map[string]any)
	if def["SSEAlgorithm"] != "AES256" || def["KMSMasterKeyID"] != nil {
		t.Errorf("access logs are encrypted with %v: S3 delivers them to SSE-S3 (AES256) only", def)
	}
	for _, k := range []string{"ObjectLockEnabled", "ObjectLockConfiguration", "LoggingConfiguration"} {
		if p[k] != nil {
			t.Errorf("AccessLogBucket has %s: S3 does not deliver logs to a bucket with Object Lock, and a log bucket that logs loops", k)
		}
	}
	exp := 0
	for _, r := range s.lifecycleRules("AccessLogBucket") {
		if r["ExpirationInDays"] != nil {
			exp++
			if s.scalar(r["ExpirationInDays"]) != s.params["AccessLogExpirationDays"] || r["Prefix"] != nil {
				t.Errorf("access log expiry %v", r)
			}
		}
	}
	if exp != 1 {
		t.Errorf("%d access log expiry rules, want 1", exp)
	}
	if keep := deploy(t, map[string]string{"AccessLogging": "true", "AccessLogExpirationDays": "0"}); keep.props("AccessLogBucket")["LifecycleConfiguration"] != nil {
		t.Error("AccessLogExpirationDays=0 still expires logs")
	}

	// The report bucket logs there, under one prefix.
	lc, _ := s.props("ReportBucket")["LoggingConfiguration"].(map[string]any)
	if !isRef(lc["DestinationBucketName"], "AccessLogBucket") {
		t.Fatalf("ReportBucket LoggingConfiguration %v", lc)
	}
	logPrefix, _ := lc["LogFilePrefix"].(string)
	if logPrefix == "" || !strings.HasSuffix(logPrefix, "/") {
		t.Errorf("LogFilePrefix %q: the policy grants one prefix", logPrefix)
	}

	pol := s.props("AccessLogBucketPolicy")
	if !isRef(pol["Bucket"], "AccessLogBucket") {
		t.Fatalf("AccessLogBucketPolicy is on %v", pol["Bucket"])
	}
	doc, _ := pol["PolicyDocument"].(map[string]any)
	allows := 0
	for _, st := range asList(doc["Statement"]) {
		m := st.(map[string]any)
		if m["Effect"] != "Allow" {
			continue
		}
		allows++
		principal, _ := m["Principal"].(map[string]any)
		if len(principal) != 1 || !slices.Equal(strs(principal["Service"]), []string{"logging.s3.amazonaws.com"}) {
			t.Errorf("log delivery is granted to %v, want the service logging.s3.amazonaws.com only", m["Principal"])
		}
		if !slices.Equal(strs(m["Action"]), []string{"s3:PutObject"}) {
			t.Errorf("log delivery may %v, want s3:PutObject only", m["Action"])
		}
		if res, _ := subString(m["Resource"]); res != "${AccessLogBucket.Arn}/"+logPrefix+"*" {
			t.Errorf("log delivery Resource %v, want the log prefix %q of the access-log bucket", m["Resource"], logPrefix)
		}
		cond, _ := m["Condition"].(map[string]any)
		arn, _ := cond["ArnLike"].(map[string]any)
		if arn == nil {
			arn, _ = cond["ArnEquals"].(map[string]any)
		}
		srcArn, _ := arn["aws:SourceArn"].(map[string]any)
		ga, _ := srcArn["Fn::GetAtt"].([]any)
		if len(ga) != 2 || ga[0] != "ReportBucket" || ga[1] != "Arn" {
			t.Errorf("aws:SourceArn condition %v, want the report bucket's ARN", arn["aws:SourceArn"])
		}
		eq, _ := cond["StringEquals"].(map[string]any)
		if !isRef(eq["aws:SourceAccount"], "AWS::AccountId") {
			t.Errorf("aws:SourceAccount condition %v, want this account", eq["aws:SourceAccount"])
		}
	}
	if allows != 1 {
		t.Errorf("%d Allow statements in the access-log bucket policy, want 1", allows)
	}
}

// Every retention parameter is bounded (a value CloudFormation accepts
// is one S3 accepts), says what it does, has a default inside its bounds
// and is in the "Report storage" group of the console's form.
func TestRetentionParametersAreBounded(t *testing.T) {
	root := rawTemplate(t)
	params, _ := root["Parameters"].(map[string]any)
	md, _ := root["Metadata"].(map[string]any)
	iface, _ := md["AWS::CloudFormation::Interface"].(map[string]any)
	var group []string
	for _, g := range asList(iface["ParameterGroups"]) {
		gm := g.(map[string]any)
		if label, _ := gm["Label"].(map[string]any); label["default"] == "Report storage" {
			group = strs(gm["Parameters"])
		}
	}
	for _, name := range retentionParams {
		p, ok := params[name].(map[string]any)
		if !ok {
			t.Errorf("no parameter %s", name)
			continue
		}
		if d, _ := p["Description"].(string); len(d) < 40 {
			t.Errorf("%s: Description %q does not say what it does", name, d)
		}
		if !slices.Contains(group, name) {
			t.Errorf("%s is not in the Report storage parameter group %v", name, group)
		}
		def, hasDef := p["Default"].(string)
		if !hasDef {
			t.Errorf("%s has no Default: an upgrade would have to ask", name)
		}
		if allowed := strs(p["AllowedValues"]); len(allowed) > 0 {
			if !slices.Contains(allowed, def) {
				t.Errorf("%s: Default %q not in %v", name, def, allowed)
			}
			continue
		}
		lo, errLo := strconv.Atoi(fmt.Sprint(p["MinValue"]))
		hi, errHi := strconv.Atoi(fmt.Sprint(p["MaxValue"]))
		n, errDef := strconv.Atoi(def)
		if p["Type"] != "Number" || errLo != nil || errHi != nil || errDef != nil || n < lo || n > hi {
			t.Errorf("%s: Type %v, MinValue %v, MaxValue %v, Default %q: want a bounded Number", name, p["Type"], p["MinValue"], p["MaxValue"], def)
		}
		if name == "ObjectLockRetentionDays" && (lo < 1 || hi > 36500) {
			t.Errorf("%s allows %d..%d; S3 takes 1 day to 100 years", name, lo, hi)
		}
	}
}
