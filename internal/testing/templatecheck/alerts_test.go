package templatecheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/insights-export/insights-export/internal/metrics"
)

// alarms lists the template's alarms by logical id.
func alarms(tpl *Template) map[string]resource {
	out := map[string]resource{}
	for name, r := range tpl.Resources {
		if r.Type == "AWS::CloudWatch::Alarm" {
			out[name] = r
		}
	}
	return out
}

// alarmMetrics lists "Namespace/MetricName dim=value…" for an alarm, from
// its single metric or its metric math.
func alarmMetrics(r resource) []string {
	dims := func(v any) string {
		var parts []string
		for _, d := range asList(v) {
			m, _ := d.(map[string]any)
			parts = append(parts, fmt.Sprintf("%v=%v", m["Name"], m["Value"]))
		}
		return strings.Join(parts, ",")
	}
	p := r.Properties
	if p["MetricName"] != nil {
		return []string{fmt.Sprintf("%v/%v %s", p["Namespace"], p["MetricName"], dims(p["Dimensions"]))}
	}
	var out []string
	for _, m := range asList(p["Metrics"]) {
		mm, _ := m.(map[string]any)
		stat, _ := mm["MetricStat"].(map[string]any)
		metric, _ := stat["Metric"].(map[string]any)
		if metric != nil {
			out = append(out, fmt.Sprintf("%v/%v %s", metric["Namespace"], metric["MetricName"], dims(metric["Dimensions"])))
		}
	}
	return out
}

func hasMetric(r resource, namespace, name, dim string) bool {
	want := namespace + "/" + name + " " + dim
	return slices.Contains(alarmMetrics(r), want)
}

// Every alarm notifies the stack's topic (and says so when it clears), is
// named after the stack (the topic policy admits only those), and the
// alarms the issue names exist: each state machine's failed, timed-out
// and aborted executions, failed batch users, stale marks, the schedule's
// dead letters, and each function's errors and throttles.
func TestAlarmsCoverEveryFailureAndNotifyTheTopic(t *testing.T) {
	tpl := loadTemplate(t)
	all := alarms(tpl)
	for name, a := range all {
		for _, key := range []string{"AlarmActions", "OKActions"} {
			acts := asList(a.Properties[key])
			if len(acts) != 1 || !isRef(acts[0], "AlarmTopic") {
				t.Errorf("%s: %s %v, want [!Ref AlarmTopic]", name, key, a.Properties[key])
			}
		}
		sub, _ := a.Properties["AlarmName"].(map[string]any)
		if n, _ := sub["Fn::Sub"].(string); !strings.HasPrefix(n, "${AWS::StackName}-") {
			t.Errorf("%s: AlarmName %v does not start with the stack name", name, a.Properties["AlarmName"])
		}
		if a.Properties["TreatMissingData"] != "notBreaching" {
			t.Errorf("%s: TreatMissingData %v: an idle stack is a healthy one", name, a.Properties["TreatMissingData"])
		}
	}
	find := func(what string, ok func(resource) bool) resource {
		t.Helper()
		for _, a := range all {
			if ok(a) {
				return a
			}
		}
		t.Errorf("no alarm on %s", what)
		return resource{}
	}
	for name, r := range tpl.Resources {
		switch r.Type {
		case "AWS::Serverless::StateMachine":
			dim := fmt.Sprintf("StateMachineArn=map[Ref:%s]", name)
			find(name+" executions", func(a resource) bool {
				return hasMetric(a, "AWS/States", "ExecutionsFailed", dim) && hasMetric(a, "AWS/States", "ExecutionsTimedOut", dim) &&
					hasMetric(a, "AWS/States", "ExecutionsAborted", dim)
			})
		case "AWS::Serverless::Function":
			dim := fmt.Sprintf("FunctionName=map[Ref:%s]", name)
			find(name+" errors and throttles", func(a resource) bool {
				return hasMetric(a, "AWS/Lambda", "Errors", dim) && hasMetric(a, "AWS/Lambda", "Throttles", dim)
			})
		}
	}
	stackDim := "Stack=map[Ref:AWS::StackName]"
	find("failed batch users", func(a resource) bool { return hasMetric(a, "map[Ref:MetricsNamespace]", metrics.UsersFailed, stackDim) })
	dlq := find("the schedule's dead letters", func(a resource) bool {
		return hasMetric(a, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName=map[Fn::GetAtt:[ScheduleDeadLetterQueue QueueName]]")
	})
	if dlq.Condition != "HasSchedule" {
		t.Errorf("dead-letter alarm condition %q, want the queue's (HasSchedule)", dlq.Condition)
	}

	stale := find("stale marks", func(a resource) bool {
		return hasMetric(a, "map[Ref:MetricsNamespace]", metrics.MarkStalenessSeconds, stackDim)
	})
	if stale.Condition != "HasIncrementalSchedule" || stale.Properties["Statistic"] != "Maximum" {
		t.Errorf("staleness alarm: condition %q, statistic %v", stale.Condition, stale.Properties["Statistic"])
	}
	// Two schedule periods, for every period the schedule may have.
	periods, _ := tpl.Parameters["SchedulePeriod"].(map[string]any)
	seconds := map[string]int{"hour": 3600, "day": 86400, "week": 7 * 86400, "month": 31 * 86400}
	mapping, _ := tpl.Mappings["SchedulePeriodSeconds"].(map[string]any)
	for _, p := range asList(periods["AllowedValues"]) {
		row, _ := mapping[p.(string)].(map[string]any)
		if got := fmt.Sprint(row["TwoPeriods"]); got != fmt.Sprint(2*seconds[p.(string)]) {
			t.Errorf("staleness threshold for %s periods = %s, want %d", p, got, 2*seconds[p.(string)])
		}
	}
	if fmt.Sprint(stale.Properties["Threshold"]) != "map[Fn::FindInMap:[SchedulePeriodSeconds map[Ref:SchedulePeriod] TwoPeriods]]" {
		t.Errorf("staleness threshold %v is not the mapping's", stale.Properties["Threshold"])
	}
}

// The alarm topic: only this stack's CloudWatch alarms may publish, and a
// mailbox is subscribed only when AlarmEmail is set.
func TestAlarmTopicIsLeastPrivilege(t *testing.T) {
	tpl := loadTemplate(t)
	pol := tpl.Resources["AlarmTopicPolicy"]
	if topics := asList(pol.Properties["Topics"]); len(topics) != 1 || !isRef(topics[0], "AlarmTopic") {
		t.Fatalf("AlarmTopicPolicy topics %v", pol.Properties["Topics"])
	}
	doc, _ := pol.Properties["PolicyDocument"].(map[string]any)
	stmts := asList(doc["Statement"])
	if len(stmts) != 1 {
		t.Fatalf("%d statements, want the one for CloudWatch", len(stmts))
	}
	st := stmts[0].(map[string]any)
	principal, _ := st["Principal"].(map[string]any)
	cond, _ := st["Condition"].(map[string]any)
	eq, _ := cond["StringEquals"].(map[string]any)
	like, _ := cond["ArnLike"].(map[string]any)
	src, _ := like["aws:SourceArn"].(map[string]any)
	if st["Effect"] != "Allow" || principal["Service"] != "cloudwatch.amazonaws.com" || st["Action"] != "sns:Publish" ||
		!isRef(st["Resource"], "AlarmTopic") || !isRef(eq["aws:SourceAccount"], "AWS::AccountId") ||
		!strings.HasSuffix(fmt.Sprint(src["Fn::Sub"]), ":alarm:${AWS::StackName}-*") {
		t.Errorf("topic statement %v", st)
	}
	sub := tpl.Resources["AlarmEmailSubscription"]
	if sub.Condition != "HasAlarmEmail" || !isRef(sub.Properties["TopicArn"], "AlarmTopic") || sub.Properties["Protocol"] != "email" {
		t.Errorf("subscription %+v", sub)
	}
}

// customMetrics are the metric names the functions emit: internal/metrics'
// vocabulary, so a renamed metric fails here instead of leaving a chart or
// an alarm watching nothing.
var customMetrics = []string{
	metrics.ReportsStored, metrics.ReportBytes, metrics.RowsConverted, metrics.DatasetObjects, metrics.JobSlotWaits,
	metrics.JobSlotWaitSeconds, metrics.JobSlotHolders, metrics.ExportsEnded, metrics.BatchRuns, metrics.UsersSucceeded,
	metrics.UsersWithException, metrics.UsersFailed, metrics.UsersUpToDate, metrics.BatchBytesStored, metrics.BatchRowsConverted,
	metrics.MarkStalenessSeconds,
}

// The dashboard's body is JSON once CloudFormation has substituted it, in
// every combination of its conditions; it charts only metrics that exist
// (AWS's, or one the functions emit) and shows every alarm of the stack.
func TestDashboardIsValidAndShowsEveryAlarm(t *testing.T) {
	tpl := loadTemplate(t)
	dash := tpl.Resources["Dashboard"]
	join, _ := dash.Properties["DashboardBody"].(map[string]any)["Fn::Join"].([]any)
	if len(join) != 2 {
		t.Fatalf("DashboardBody %v is not a Fn::Join", dash.Properties["DashboardBody"])
	}
	placeholder := regexp.MustCompile(`\$\{([A-Za-z0-9:.]+)\}`)
	for _, conds := range [][2]bool{{false, false}, {true, false}, {true, true}} {
		var body strings.Builder
		var shown []string
		for _, part := range asList(join[1]) {
			if m, ok := part.(map[string]any); ok && m["Fn::If"] != nil {
				args := m["Fn::If"].([]any)
				on := map[string]bool{"HasSchedule": conds[0], "HasIncrementalSchedule": conds[1]}[args[0].(string)]
				part = args[2]
				if on {
					part = args[1]
				}
			}
			text := fmt.Sprint(part)
			if m, ok := part.(map[string]any); ok {
				text = fmt.Sprint(m["Fn::Sub"])
			}
			text = placeholder.ReplaceAllStringFunc(text, func(s string) string {
				name := placeholder.FindStringSubmatch(s)[1]
				if strings.HasSuffix(name, "Alarm.Arn") {
					shown = append(shown, strings.TrimSuffix(name, ".Arn"))
				}
				return "X" + strings.NewReplacer(":", "", ".", "").Replace(name)
			})
			body.WriteString(text)
		}
		var doc struct {
			Widgets []struct {
				Type       string
				Properties struct {
					Metrics []json.RawMessage
				}
			}
		}
		if err := json.Unmarshal([]byte(body.String()), &doc); err != nil {
			t.Fatalf("schedule %v: body is not JSON: %v\n%s", conds, err, body.String())
		}
		for _, w := range doc.Widgets {
			for _, raw := range w.Properties.Metrics {
				var m []any
				_ = json.Unmarshal(raw, &m)
				if len(m) < 2 {
					continue
				}
				ns, _ := m[0].(string)
				name, _ := m[1].(string)
				if ns == "XMetricsNamespace" && !slices.Contains(customMetrics, name) {
					t.Errorf("dashboard charts %s, which no function emits", name)
				}
			}
		}
		for name, a := range alarms(tpl) {
			created := a.Condition == "" || (a.Condition == "HasSchedule" && conds[0]) || (a.Condition == "HasIncrementalSchedule" && conds[1])
			if created != slices.Contains(shown, name) {
				t.Errorf("schedule %v: alarm %s created %v, on the dashboard %v", conds, name, created, !created)
			}
		}
	}
}

// Tags on everything that takes them: Application=insights-export, so a
// cost report or a policy can find the stack's resources.
func TestEveryTaggableResourceIsTagged(t *testing.T) {
	tpl := loadTemplate(t)
	untaggable := []string{"AWS::Glue::Database", "AWS::Glue::Table", "AWS::Athena::NamedQuery", "AWS::Scheduler::Schedule",
		"AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::SNS::Subscription", "AWS::CloudWatch::Dashboard", "AWS::ApiGateway::Account"}
	fnGlobals, _ := tpl.Globals["Function"].(map[string]any)
	for name, r := range tpl.Resources {
		if slices.Contains(untaggable, r.Type) {
			continue
		}
		tags := r.Properties["Tags"]
		propagate := r.Properties["PropagateTags"]
		if r.Type == "AWS::Serverless::Function" && tags == nil {
			tags, propagate = fnGlobals["Tags"], fnGlobals["PropagateTags"]
		}
		tagged := false
		switch x := tags.(type) {
		case map[string]any: // SAM resources
			tagged = x["Application"] == "insights-export" && fmt.Sprint(propagate) == "true"
		case []any:
			for _, tg := range x {
				m, _ := tg.(map[string]any)
				tagged = tagged || m["Key"] == "Application" && m["Value"] == "insights-export"
			}
		}
		if !tagged {
			t.Errorf("%s (%s) is not tagged Application=insights-export (SAM resources also PropagateTags)", name, r.Type)
		}
	}
}

// The AvePoint settings and secret reach only the functions that call
// AvePoint: those with the secret's read policy.
func TestAvePointSettingsOnlyWhereAvePointIsCalled(t *testing.T) {
	tpl := loadTemplate(t)
	env, _ := tpl.Globals["Function"].(map[string]any)["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	for k := range vars {
		if strings.HasPrefix(k, "AVEPOINT_") {
			t.Errorf("Globals give every function %s", k)
		}
	}
	callers := 0
	for name, r := range tpl.Resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		readsSecret := strings.Contains(fmt.Sprint(r.Properties["Policies"]), "AWSSecretsManagerGetSecretValuePolicy")
		e, _ := r.Properties["Environment"].(map[string]any)
		v, _ := e["Variables"].(map[string]any)
		hasSettings := v["AVEPOINT_SECRET_ID"] != nil && v["AVEPOINT_API_URL"] != nil
		if readsSecret != hasSettings {
			t.Errorf("%s: reads the secret %v, has the AvePoint settings %v", name, readsSecret, hasSettings)
		}
		if readsSecret {
			callers++
		}
	}
	if callers != 4 {
		t.Errorf("%d functions call AvePoint, want 4 (start, check, store, discover users)", callers)
	}
}

// Events go out on the configured bus, from the state machines that
// publish them, and only there.
func TestEventsArePublishedOnTheBusOnly(t *testing.T) {
	tpl := loadTemplate(t)
	publishers := 0
	for name, r := range tpl.Resources {
		if r.Type != "AWS::Serverless::StateMachine" {
			continue
		}
		asl := readASL(t, fmt.Sprint(r.Properties["DefinitionUri"]))
		publishes := strings.Contains(asl, "states:::events:putEvents")
		grants := strings.Contains(fmt.Sprint(r.Properties["Policies"]), "events:PutEvents")
		if publishes != grants {
			t.Errorf("%s: publishes %v, may PutEvents %v", name, publishes, grants)
		}
		if !publishes {
			continue
		}
		publishers++
		subs, _ := r.Properties["DefinitionSubstitutions"].(map[string]any)
		if !isRef(subs["EventBusName"], "EventBusName") || !strings.Contains(asl, `"EventBusName": "${EventBusName}"`) ||
			!strings.Contains(asl, `"Source": "insights-export"`) {
			t.Errorf("%s: events not on ${EventBusName} with source insights-export", name)
		}
		if !strings.Contains(fmt.Sprint(r.Properties["Policies"]), ":event-bus/${EventBusName}") {
			t.Errorf("%s: PutEvents is not scoped to the bus", name)
		}
	}
	if publishers != 2 {
		t.Errorf("%d state machines publish events, want 2 (export, batch)", publishers)
	}
}

// readASL reads a state machine definition by its DefinitionUri.
func readASL(t *testing.T, uri string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", uri))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
