package polling

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Definition is an ASL state machine as far as pricing it needs: its
// states, their transitions, resources and Retry/Catch fields. The model
// walks it instead of hard-coding the state list, so a state added to
// statemachine/*.asl.json is priced without anyone remembering to.
type Definition struct {
	StartAt string            `json:"StartAt"`
	States  map[string]*State `json:"States"`
}

// State is one ASL state. Fields the walk does not read are ignored.
type State struct {
	Type     string `json:"Type"`
	Next     string `json:"Next"`
	End      bool   `json:"End"`
	Default  string `json:"Default"`
	Resource string `json:"Resource"`
	// Choices stay raw: Choice evaluates the few comparison operators it
	// knows and refuses the others.
	Choices       []map[string]json.RawMessage `json:"Choices"`
	Retry         []RetrierJSON                `json:"Retry"`
	Catch         []Catcher                    `json:"Catch"`
	ItemProcessor *Definition                  `json:"ItemProcessor"`
	Parameters    json.RawMessage              `json:"Parameters"`
}

// RetrierJSON is a retrier as the ASL writes it.
type RetrierJSON struct {
	ErrorEquals     []string `json:"ErrorEquals"`
	IntervalSeconds *float64 `json:"IntervalSeconds,omitempty"`
	MaxAttempts     *int     `json:"MaxAttempts,omitempty"`
	BackoffRate     *float64 `json:"BackoffRate,omitempty"`
	MaxDelaySeconds *float64 `json:"MaxDelaySeconds,omitempty"`
	JitterStrategy  string   `json:"JitterStrategy,omitempty"`
}

// Catcher is a Catch entry.
type Catcher struct {
	ErrorEquals []string `json:"ErrorEquals"`
	Next        string   `json:"Next"`
}

// ParseDefinition reads an ASL document (SAM ${Name} placeholders may stay:
// they sit inside JSON strings).
func ParseDefinition(b []byte) (*Definition, error) {
	var d Definition
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("polling: ASL: %w", err)
	}
	if err := d.check(""); err != nil {
		return nil, err
	}
	return &d, nil
}

// LoadDefinition reads an ASL file.
func LoadDefinition(path string) (*Definition, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("polling: %w", err)
	}
	d, err := ParseDefinition(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

func (d *Definition) check(where string) error {
	if d.StartAt == "" || d.States[d.StartAt] == nil {
		return fmt.Errorf("polling: ASL%s: StartAt %q is no state", where, d.StartAt)
	}
	for name, st := range d.States {
		if st == nil {
			return fmt.Errorf("polling: ASL%s: state %s is empty", where, name)
		}
		if st.ItemProcessor != nil {
			if err := st.ItemProcessor.check(" (" + name + "'s ItemProcessor)"); err != nil {
				return err
			}
		}
	}
	return nil
}

// Step is one state entered: one billed state transition.
type Step struct {
	Name, Type, Resource string
	// Parameters are the Task's Parameters as the ASL has them (a service
	// integration's request: a DynamoDB key, EventBridge entries).
	Parameters json.RawMessage
	// Failed: the Task failed and its Catch led on (its history has a
	// *Failed event where a success would have its *Succeeded one).
	Failed bool
}

// Lambda reports whether the step invokes a Lambda function directly (a
// function ARN or a ${…FunctionArn} placeholder as Resource), as opposed to
// an arn:…:states::: service integration.
func (s Step) Lambda() bool {
	return s.Type == "Task" && s.Resource != "" && !strings.Contains(s.Resource, ":states:::")
}

// Integration is the service integration a Task calls, "dynamodb:updateItem",
// "events:putEvents", "states:startExecution.sync:2" …; "" for a Lambda
// function or another state type.
func (s Step) Integration() string {
	if s.Type != "Task" {
		return ""
	}
	_, after, ok := strings.Cut(s.Resource, ":states:::")
	if !ok {
		return ""
	}
	return after
}

// Function is the substitution name of a Lambda step's function
// ("${CheckJobFunctionArn}" → "CheckJobFunctionArn"), or the Resource as
// it is when it is no placeholder; "" for other steps.
func (s Step) Function() string {
	if !s.Lambda() {
		return ""
	}
	if strings.HasPrefix(s.Resource, "${") && strings.HasSuffix(s.Resource, "}") {
		return s.Resource[2 : len(s.Resource)-1]
	}
	return s.Resource
}

// History events a state adds to a Standard workflow's execution history
// (see the constants in model.go). Map and Parallel states are not priced:
// their events depend on their runs.
func stateEvents(typ string) (int, bool) {
	switch typ {
	case "Task":
		return EventsTask, true
	case "Wait":
		return EventsWait, true
	case "Choice":
		return EventsChoice, true
	case "Pass":
		return EventsPass, true
	case "Succeed":
		return EventsSucceed, true
	case "Fail":
		return EventsFail, true
	}
	return 0, false
}

// Walker says how a walk takes the decisions the definition leaves to
// data.
type Walker struct {
	// Vars gives the values the rules of a Choice state read on its
	// visit-th visit (1 = first), by JSONPath ("$.status"); a path the map
	// does not hold is absent (IsPresent false).
	Vars func(state string, visit int) map[string]any
	// Fail names the error a Task fails with on its visit-th visit; ""
	// means it succeeds (after any retries, which the walk does not count).
	Fail func(state string, visit int) string
}

// maxSteps bounds a walk whose choices never leave a loop.
const maxSteps = 1_000_000

// Walk follows the definition from StartAt to a Succeed or Fail state or
// a state with End: a Task, Pass, Wait or Map state goes to its Next (a
// failed Task to its matching catcher's), a Choice state to the first rule
// that matches w.Vars or its Default. It returns every state entered, in
// order: the execution's billed transitions, retries aside.
func (d *Definition) Walk(w Walker) ([]Step, error) {
	var steps []Step
	visits := map[string]int{}
	name := d.StartAt
	for {
		st := d.States[name]
		if st == nil {
			return steps, fmt.Errorf("polling: walk reached %q, which is no state", name)
		}
		if len(steps) >= maxSteps {
			return steps, fmt.Errorf("polling: walk did not end within %d states (at %s)", maxSteps, name)
		}
		visits[name]++
		step := Step{Name: name, Type: st.Type, Resource: st.Resource, Parameters: st.Parameters}
		next := st.Next
		switch st.Type {
		case "Succeed", "Fail":
			return append(steps, step), nil
		case "Choice":
			var vars map[string]any
			if w.Vars != nil {
				vars = w.Vars(name, visits[name])
			}
			n, err := choose(name, st, vars)
			if err != nil {
				return steps, err
			}
			next = n
		case "Task":
			if w.Fail != nil {
				if e := w.Fail(name, visits[name]); e != "" {
					c := catcherFor(st, e)
					if c == "" {
						return steps, fmt.Errorf("polling: %s fails with %s and no catcher takes it", name, e)
					}
					step.Failed, next = true, c
				}
			}
		case "Wait", "Pass", "Map":
		default:
			return steps, fmt.Errorf("polling: state %s has type %q, which the walk does not follow", name, st.Type)
		}
		steps = append(steps, step)
		if st.End && !step.Failed {
			return steps, nil
		}
		if next == "" {
			return steps, fmt.Errorf("polling: state %s has no Next", name)
		}
		name = next
	}
}

// catcherFor is the Next of the first catcher of st that takes errName.
func catcherFor(st *State, errName string) string {
	for _, c := range st.Catch {
		if slices.Contains(c.ErrorEquals, errName) || slices.Contains(c.ErrorEquals, "States.ALL") ||
			(slices.Contains(c.ErrorEquals, "States.TaskFailed") && errName != "States.Timeout") {
			return c.Next
		}
	}
	return ""
}

// choose evaluates a Choice state's rules against vars. It knows
// StringEquals, IsPresent, NumericGreaterThan and BooleanEquals on a
// Variable; any other rule is refused, so the walk never guesses.
func choose(name string, st *State, vars map[string]any) (string, error) {
	for i, rule := range st.Choices {
		var variable, next string
		if err := json.Unmarshal(rule["Variable"], &variable); err != nil {
			return "", fmt.Errorf("polling: %s rule %d: no Variable (And/Or/Not are not evaluated)", name, i)
		}
		if err := json.Unmarshal(rule["Next"], &next); err != nil || next == "" {
			return "", fmt.Errorf("polling: %s rule %d: no Next", name, i)
		}
		v, present := vars[variable]
		matched, known := false, false
		for op, raw := range rule {
			switch op {
			case "Variable", "Next", "Comment":
				continue
			case "StringEquals":
				var want string
				if err := json.Unmarshal(raw, &want); err != nil {
					return "", fmt.Errorf("polling: %s rule %d: %s: %w", name, i, op, err)
				}
				s, ok := v.(string)
				matched, known = present && ok && s == want, true
			case "IsPresent":
				var want bool
				if err := json.Unmarshal(raw, &want); err != nil {
					return "", fmt.Errorf("polling: %s rule %d: %s: %w", name, i, op, err)
				}
				matched, known = present == want, true
			case "NumericGreaterThan":
				var want float64
				if err := json.Unmarshal(raw, &want); err != nil {
					return "", fmt.Errorf("polling: %s rule %d: %s: %w", name, i, op, err)
				}
				f, ok := toFloat(v)
				matched, known = present && ok && f > want, true
			case "BooleanEquals":
				var want bool
				if err := json.Unmarshal(raw, &want); err != nil {
					return "", fmt.Errorf("polling: %s rule %d: %s: %w", name, i, op, err)
				}
				b, ok := v.(bool)
				matched, known = present && ok && b == want, true
			default:
				return "", fmt.Errorf("polling: %s rule %d: operator %s is not evaluated", name, i, op)
			}
		}
		if !known {
			return "", fmt.Errorf("polling: %s rule %d has no comparison", name, i)
		}
		if matched {
			return next, nil
		}
	}
	if st.Default == "" {
		return "", fmt.Errorf("polling: no rule of %s matches %v and it has no Default", name, vars)
	}
	return st.Default, nil
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// Transitions is what Standard workflows bill for these steps: one per
// state entered.
func Transitions(steps []Step) int { return len(steps) }

// HistoryEvents is the length of an execution history made of these steps,
// ExecutionStarted and its closing event included.
func HistoryEvents(steps []Step) (int, error) {
	n := EventsExecution
	for _, s := range steps {
		e, ok := stateEvents(s.Type)
		if !ok {
			return 0, fmt.Errorf("polling: the history of a %s state (%s) is not priced", s.Type, s.Name)
		}
		n += e
	}
	return n, nil
}

// Without is a copy of the definition with the named states taken out:
// whatever led to one of them (StartAt, Next, Default, a Choice rule's or
// a catcher's Next) leads to its Next instead. Only states with a Next
// can go (a design without them: the baseline without job slots).
func (d *Definition) Without(names ...string) (*Definition, error) {
	gone := map[string]string{}
	for _, n := range names {
		st := d.States[n]
		if st == nil || st.Next == "" {
			return nil, fmt.Errorf("polling: state %q cannot be taken out (absent, or no Next)", n)
		}
		gone[n] = st.Next
	}
	to := func(n string) string {
		for i := 0; i <= len(gone); i++ {
			next, ok := gone[n]
			if !ok {
				return n
			}
			n = next
		}
		return n
	}
	out := &Definition{StartAt: to(d.StartAt), States: map[string]*State{}}
	for name, st := range d.States {
		if _, ok := gone[name]; ok {
			continue
		}
		c := *st
		if c.Next != "" {
			c.Next = to(c.Next)
		}
		if c.Default != "" {
			c.Default = to(c.Default)
		}
		c.Catch = slices.Clone(st.Catch)
		for i := range c.Catch {
			c.Catch[i].Next = to(c.Catch[i].Next)
		}
		c.Choices = nil
		for _, rule := range st.Choices {
			r := map[string]json.RawMessage{}
			for k, v := range rule {
				r[k] = v
			}
			var next string
			if json.Unmarshal(rule["Next"], &next) == nil {
				b, _ := json.Marshal(to(next))
				r["Next"] = b
			}
			c.Choices = append(c.Choices, r)
		}
		out.States[name] = &c
	}
	if _, ok := gone[out.StartAt]; ok || out.States[out.StartAt] == nil {
		return nil, fmt.Errorf("polling: taking out %v leaves no start", names)
	}
	return out, nil
}
