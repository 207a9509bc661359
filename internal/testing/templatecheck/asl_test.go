package templatecheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// No ASL names a partition: arn:aws: does not exist in GovCloud
// (aws-us-gov) or China (aws-cn); the template substitutes ${Partition}.
// And every Lambda Task retries Lambda's transient service errors, the
// client-side timeout included.
func TestStateMachinesArePartitionNeutralAndRetryLambdaErrors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "statemachine", "*.asl.json"))
	if err != nil || len(files) < 3 {
		t.Fatalf("state machines %v (%v)", files, err)
	}
	literal := regexp.MustCompile(`arn:aws[a-z-]*:`)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := literal.Find(raw); m != nil {
			t.Errorf("%s names the partition %q: use arn:${Partition}:", filepath.Base(f), m)
		}
		if strings.Contains(string(raw), `"Lambda.ServiceException"`) && strings.Count(string(raw), `"Lambda.ServiceException"`) != strings.Count(string(raw), `"Lambda.ClientExecutionTimeoutException"`) {
			t.Errorf("%s: a Retry on Lambda's service errors leaves out Lambda.ClientExecutionTimeoutException", filepath.Base(f))
		}
	}
	tpl := loadTemplate(t)
	for name, r := range tpl.Resources {
		if r.Type != "AWS::Serverless::StateMachine" {
			continue
		}
		uri, _ := r.Properties["DefinitionUri"].(string)
		raw, err := os.ReadFile(filepath.Join("..", "..", "..", uri))
		if err != nil {
			t.Fatal(err)
		}
		subs, _ := r.Properties["DefinitionSubstitutions"].(map[string]any)
		for _, m := range regexp.MustCompile(`\$\{([A-Za-z0-9]+)\}`).FindAllStringSubmatch(string(raw), -1) {
			if _, ok := subs[m[1]]; !ok {
				t.Errorf("%s: %s uses ${%s}, which DefinitionSubstitutions does not set", name, uri, m[1])
			}
		}
	}
}
