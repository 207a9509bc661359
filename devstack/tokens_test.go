package devstack

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/smithy-go"
)

// The token broker answers the AWS SDK as Step Functions does, so the
// waker's error handling (internal/slots/wake) sees the codes it would
// see in AWS: a token answered once, then TaskTimedOut; unknown,
// TaskDoesNotExist; timed out, TaskTimedOut; bad output, InvalidOutput.
// And the interpreter's long poll hears of each end.
func TestTokenBrokerSpeaksStepFunctions(t *testing.T) {
	b, err := StartTokenBroker()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	client := sfn.New(sfn.Options{Region: "us-east-1", BaseEndpoint: aws.String(b.URL), Credentials: aws.AnonymousCredentials{}})
	register := func(token string, timeout time.Duration) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"token": token, "timeoutMs": timeout.Milliseconds()})
		res, err := http.Post(b.URL+"/devstack/tokens", "application/json", bytes.NewReader(body))
		if err != nil || res.StatusCode != http.StatusNoContent {
			t.Fatalf("register: %v %v", res, err)
		}
		res.Body.Close()
	}
	wait := func(token string) (status string, output json.RawMessage) {
		t.Helper()
		res, err := http.Get(b.URL + "/devstack/tokens?token=" + token)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct {
			Status string
			Output json.RawMessage
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out.Status, out.Output
	}
	send := func(token, output string) string {
		_, err := client.SendTaskSuccess(t.Context(), &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(output)})
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return ""
	}

	register("a", time.Minute)
	if code := send("a", "not json"); code != "InvalidOutput" {
		t.Errorf("bad output: %q, want InvalidOutput", code)
	}
	if code := send("a", `{"wokenBy":"x"}`); code != "" {
		t.Fatalf("waiting token: %q, want success", code)
	}
	if status, out := wait("a"); status != "succeeded" || string(out) != `{"wokenBy":"x"}` {
		t.Errorf("waiter heard %s %s", status, out)
	}
	if code := send("a", `{}`); code != "TaskTimedOut" {
		t.Errorf("answered twice: %q, want TaskTimedOut", code)
	}
	if code := send("nobody", `{}`); code != "TaskDoesNotExist" {
		t.Errorf("unknown token: %q, want TaskDoesNotExist", code)
	}
	register("b", 50*time.Millisecond)
	if status, _ := wait("b"); status != "timedout" {
		t.Errorf("timed-out token: waiter heard %s", status)
	}
	if code := send("b", `{}`); code != "TaskTimedOut" {
		t.Errorf("timed-out token: %q, want TaskTimedOut", code)
	}
}
