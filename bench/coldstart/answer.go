package coldstart

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/insights-export/insights-export/devstack"
)

// Answer checks what one invocation answered: its result, or the function
// error the runtime reported. A sample counts only when its answer is the
// expected one, so a bootstrap that crashed, refused for another reason
// or answered at all differently cannot pass for a fast cold start.
type Answer func(out json.RawMessage, fnErr *devstack.FunctionError) error

// Succeeds wants a result (no function error) that check accepts (nil:
// any result).
func Succeeds(check func(json.RawMessage) error) Answer {
	return func(out json.RawMessage, fnErr *devstack.FunctionError) error {
		if fnErr != nil {
			return fmt.Errorf("want a result, got %v", fnErr)
		}
		if check != nil {
			return check(out)
		}
		return nil
	}
}

// FailsWith wants the function error errType (the Go type name the
// failure vocabulary gives Step Functions) whose message names field:
// "invalid <field>:" for a ValidationError ("" = any message).
func FailsWith(errType, field string) Answer {
	return func(out json.RawMessage, fnErr *devstack.FunctionError) error {
		if fnErr == nil {
			return fmt.Errorf("want a %s, got the result %s", errType, clip(string(out)))
		}
		if fnErr.Type != errType {
			return fmt.Errorf("want a %s, got %s", errType, clip(fnErr.Error()))
		}
		if field != "" && !containsField(fnErr.Message, field) {
			return fmt.Errorf("want a %s naming %s, got %s", errType, field, clip(fnErr.Error()))
		}
		return nil
	}
}

func containsField(msg, field string) bool {
	return strings.Contains(msg, "invalid "+field+":")
}

// APIRefuses wants an API Gateway proxy response (the API function answers
// refusals as HTTP, not as a function error) with status and a JSON body
// whose "error" is name and whose "field" is field ("" = any).
func APIRefuses(status int, name, field string) Answer {
	return func(out json.RawMessage, fnErr *devstack.FunctionError) error {
		if fnErr != nil {
			return fmt.Errorf("want a %d response, got %v", status, clip(fnErr.Error()))
		}
		var resp struct {
			StatusCode int    `json:"statusCode"`
			Body       string `json:"body"`
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			return fmt.Errorf("want a proxy response, got %s", clip(string(out)))
		}
		var body struct {
			Error string `json:"error"`
			Field string `json:"field"`
		}
		if resp.StatusCode != status || json.Unmarshal([]byte(resp.Body), &body) != nil || body.Error != name || (field != "" && body.Field != field) {
			return fmt.Errorf("want a %d %s (field %q), got %d %s", status, name, field, resp.StatusCode, clip(resp.Body))
		}
		return nil
	}
}

// clip bounds a quoted answer, cutting on a rune boundary.
func clip(s string) string {
	const limit = 300
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
