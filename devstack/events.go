package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/request"
)

// EventCapture is an EventBridge rule on moto's default bus whose target
// is an SQS queue: what the state machines publish lands there, as it
// would for a user who routes insights-export's events to a queue.
type EventCapture struct {
	endpoint string
	queueURL string
}

// PublishedEvent is an EventBridge event as a rule's target receives it.
type PublishedEvent struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// CaptureEvents creates the rule (matching source insights-export) and its
// queue, both named after name so tests do not see each other's events.
func (s *Stack) CaptureEvents(ctx context.Context, name string) (*EventCapture, error) {
	c := &EventCapture{endpoint: s.Moto.URL}
	var q struct{ QueueUrl string }
	if err := awsJSON(ctx, c.endpoint, "sqs", "AmazonSQS.CreateQueue", "1.0", map[string]any{"QueueName": name}, &q); err != nil {
		return nil, err
	}
	c.queueURL = q.QueueUrl
	pattern, _ := json.Marshal(map[string]any{"source": []string{"insights-export"}})
	if err := awsJSON(ctx, c.endpoint, "events", "AWSEvents.PutRule", "1.1",
		map[string]any{"Name": name, "EventBusName": EventBus, "EventPattern": string(pattern), "State": "ENABLED"}, nil); err != nil {
		return nil, err
	}
	arn := "arn:aws:sqs:" + awsRegion + ":" + awsAccount + ":" + name
	if err := awsJSON(ctx, c.endpoint, "events", "AWSEvents.PutTargets", "1.1",
		map[string]any{"Rule": name, "EventBusName": EventBus, "Targets": []map[string]string{{"Id": "queue", "Arn": arn}}}, nil); err != nil {
		return nil, err
	}
	return c, nil
}

// Received drains the queue: every event delivered so far, oldest first.
func (c *EventCapture) Received(ctx context.Context) ([]PublishedEvent, error) {
	var out []PublishedEvent
	for {
		var r struct {
			Messages []struct{ Body, ReceiptHandle string }
		}
		if err := awsJSON(ctx, c.endpoint, "sqs", "AmazonSQS.ReceiveMessage", "1.0",
			map[string]any{"QueueUrl": c.queueURL, "MaxNumberOfMessages": 10}, &r); err != nil {
			return out, err
		}
		if len(r.Messages) == 0 {
			return out, nil
		}
		for _, m := range r.Messages {
			var e PublishedEvent
			if err := json.Unmarshal([]byte(m.Body), &e); err != nil {
				return out, fmt.Errorf("devstack: queued event %q: %w", m.Body, err)
			}
			out = append(out, e)
			if err := awsJSON(ctx, c.endpoint, "sqs", "AmazonSQS.DeleteMessage", "1.0",
				map[string]any{"QueueUrl": c.queueURL, "ReceiptHandle": m.ReceiptHandle}, nil); err != nil {
				return out, err
			}
		}
	}
}

// awsJSON makes one call of an AWS JSON-protocol service on moto (which
// does not check signatures: a well-formed header is enough).
func awsJSON(ctx context.Context, endpoint, service, target, version string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	date := time.Now().UTC().Format("20060102T150405Z")
	req.Header.Set("Content-Type", "application/x-amz-json-"+version)
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("X-Amz-Date", date)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/"+date[:8]+"/"+awsRegion+"/"+service+
		"/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="+strings.Repeat("0", 64))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("devstack: %s: %w", target, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("devstack: %s: %w", target, err)
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("devstack: %s answered %d: %.300s", target, res.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("devstack: %s answered %.300s: %w", target, raw, err)
	}
	return nil
}

// BatchOutputOf is a batch run's output: the execution's, or, for a run
// that ended in UsersFailed after its manifest was written, what
// WriteManifest returned (a failed execution has no output; its history
// keeps the state's).
func BatchOutputOf(exec *Execution) (request.BatchOutput, bool) {
	var out request.BatchOutput
	raw := exec.Output
	if exec.Status != StatusSucceeded {
		raw = nil
		for _, e := range exec.Events {
			if e.Execution == "" && e.Type == "StateExited" && e.State == "WriteManifest" {
				raw = e.Output
			}
		}
	}
	if raw == nil || json.Unmarshal(raw, &out) != nil {
		return request.BatchOutput{}, false
	}
	return out, true
}
