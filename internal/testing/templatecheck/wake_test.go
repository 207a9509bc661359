package templatecheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/insights-export/insights-export/internal/batch"
)

// The wake-up of waiting exports (internal/slots/wake) is wired as its
// code assumes: a FIFO queue with ids per message (a content-based id
// would drop the second park of a waiter with the same body within 5
// minutes), one message group in the ASL (so receives are oldest first),
// the queue and the waker handed to the export state machine and the
// queue to both functions that wake, and every slot given back followed
// by a wake whose failure the export survives.
func TestSlotReleasesWakeTheWaitersQueue(t *testing.T) {
	tpl := loadTemplate(t)
	q := tpl.Resources["JobSlotWaitersQueue"]
	if q.Type != "AWS::SQS::Queue" || fmt.Sprint(q.Properties["FifoQueue"]) != "true" || fmt.Sprint(q.Properties["ContentBasedDeduplication"]) != "false" {
		t.Fatalf("JobSlotWaitersQueue %s %v: want a FIFO queue without content-based deduplication", q.Type, q.Properties)
	}
	subs, _ := tpl.Resources["ExportStateMachine"].Properties["DefinitionSubstitutions"].(map[string]any)
	if !isRef(subs["JobSlotWaitersQueueUrl"], "JobSlotWaitersQueue") || fmt.Sprint(subs["WakeJobSlotWaiterFunctionArn"]) != "map[Fn::GetAtt:WakeJobSlotWaiterFunction.Arn]" &&
		fmt.Sprint(subs["WakeJobSlotWaiterFunctionArn"]) != "map[Fn::GetAtt:[WakeJobSlotWaiterFunction Arn]]" {
		t.Errorf("export state machine substitutions %v", subs)
	}
	for _, fn := range []string{"WakeJobSlotWaiterFunction", "ReleaseJobSlotFunction"} {
		env, _ := tpl.Resources[fn].Properties["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		if !isRef(vars["JOB_SLOT_WAITERS_QUEUE_URL"], "JobSlotWaitersQueue") {
			t.Errorf("%s: JOB_SLOT_WAITERS_QUEUE_URL %v, want !Ref JobSlotWaitersQueue", fn, vars["JOB_SLOT_WAITERS_QUEUE_URL"])
		}
	}

	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "statemachine", "export.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ States map[string]map[string]any }
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	park := doc.States["WaitForJobSlot"]
	params, _ := park["Parameters"].(map[string]any)
	body, _ := params["MessageBody"].(map[string]any)
	if park["Resource"] != "arn:${Partition}:states:::sqs:sendMessage.waitForTaskToken" || params["QueueUrl"] != "${JobSlotWaitersQueueUrl}" ||
		params["MessageGroupId"] == nil || params["MessageDeduplicationId.$"] != "States.UUID()" || body["taskToken.$"] != "$$.Task.Token" ||
		park["TimeoutSecondsPath"] != "$.slotWait.waitSeconds" || park["ResultPath"] != nil {
		t.Errorf("WaitForJobSlot %v", park)
	}
	for release, wake := range map[string]string{"ReleaseJobSlot": "WakeJobSlotWaiter", "ReleaseJobSlotAfterFailure": "WakeJobSlotWaiterAfterFailure"} {
		st := doc.States[release]
		catches, _ := st["Catch"].([]any)
		if st["Next"] != wake || len(catches) != 1 || catches[0].(map[string]any)["Next"] != wake {
			t.Errorf("%s does not lead to %s, whatever it does", release, wake)
		}
		w := doc.States[wake]
		wc, _ := w["Catch"].([]any)
		if w["Resource"] != "${WakeJobSlotWaiterFunctionArn}" || len(wc) != 1 {
			t.Fatalf("%s %v", wake, w)
		}
		c := wc[0].(map[string]any)
		if fmt.Sprint(c["ErrorEquals"]) != "[States.ALL]" || c["Next"] != w["Next"] || c["ResultPath"] == nil {
			t.Errorf("%s: a failed wake must go on to %v with its error kept, got catch %v", wake, w["Next"], c)
		}
	}
}

// The stack's MaxConcurrency default is the batch's own (8: a child parked
// for the next slot while others store and convert, BENCHMARKS.md "Slot
// utilisation"), so a stack and a function run without the parameter
// agree.
func TestMaxConcurrencyDefaultIsTheBatchDefault(t *testing.T) {
	tpl := loadTemplate(t)
	p, _ := tpl.Parameters["MaxConcurrency"].(map[string]any)
	if got, want := fmt.Sprint(p["Default"]), fmt.Sprint(batch.DefaultMaxConcurrency); got != want {
		t.Errorf("MaxConcurrency default %s, batch.DefaultMaxConcurrency %s", got, want)
	}
	if batch.DefaultMaxConcurrency <= 5 {
		t.Errorf("batch.DefaultMaxConcurrency %d: at the 5 slots or below, a slot idles while a child stores and converts", batch.DefaultMaxConcurrency)
	}
}
