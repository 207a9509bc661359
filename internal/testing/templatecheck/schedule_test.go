package templatecheck

import (
	"fmt"
	"testing"
)

// A schedule delivery that cannot start the batch after its retries is
// not lost: it goes to a dead-letter queue the schedule's own role may
// send to.
func TestScheduleHasARetryPolicyAndADeadLetterQueue(t *testing.T) {
	tpl := loadTemplate(t)
	sched, ok := tpl.Resources["ExportSchedule"]
	if !ok {
		t.Fatal("no ExportSchedule")
	}
	target, _ := sched.Properties["Target"].(map[string]any)
	if target["RetryPolicy"] == nil {
		t.Error("the schedule's target has no RetryPolicy")
	}
	dlc, _ := target["DeadLetterConfig"].(map[string]any)
	arn, _ := dlc["Arn"].(map[string]any)
	ga, _ := arn["Fn::GetAtt"].([]any)
	if len(ga) != 2 || tpl.Resources[fmt.Sprint(ga[0])].Type != "AWS::SQS::Queue" {
		t.Fatalf("DeadLetterConfig %v is not a queue of this stack", dlc)
	}
	queue := fmt.Sprint(ga[0])
	role := tpl.Resources["SchedulerRole"]
	canSend := false
	for _, p := range role.Properties["Policies"].([]any) {
		doc := p.(map[string]any)["PolicyDocument"].(map[string]any)
		for _, st := range doc["Statement"].([]any) {
			m := st.(map[string]any)
			res, _ := m["Resource"].(map[string]any)
			if m["Action"] == "sqs:SendMessage" && res != nil && fmt.Sprint(res["Fn::GetAtt"]) == fmt.Sprint([]any{queue, "Arn"}) {
				canSend = true
			}
		}
	}
	if !canSend {
		t.Errorf("SchedulerRole cannot send to %s", queue)
	}
}
