package depcheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/insights-export/insights-export"

// Heavy or foreign dependencies, by what they are for.
var (
	avepointStack = []string{"golang.org/x/oauth2", "github.com/golang-jwt/jwt/v5", "github.com/aws/aws-sdk-go-v2/service/secretsmanager", module + "/internal/avepoint", module + "/internal/secrets"}
	reportStack   = []string{"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager", module + "/internal/zipcheck", module + "/internal/storage/upload", module + "/internal/report"}
	s3Client      = []string{"github.com/aws/aws-sdk-go-v2/service/s3"}
	sfnClient     = []string{"github.com/aws/aws-sdk-go-v2/service/sfn"}
	sqsClient     = []string{"github.com/aws/aws-sdk-go-v2/service/sqs", module + "/internal/slots/wake"}
	dynamoClient  = []string{"github.com/aws/aws-sdk-go-v2/service/dynamodb", module + "/internal/slots"}
	// slotsCode is the job slot ledger's Go side; the API links the
	// DynamoDB client for its Idempotency-Key claims, not the ledger.
	slotsCode    = []string{module + "/internal/slots"}
	datasetStack = []string{"github.com/parquet-go/parquet-go", module + "/internal/xlsx", module + "/internal/dataset", module + "/internal/convert"}
)

func join(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// forbidden lists, per function, what its bootstrap must not link.
// Only the job slot functions talk to DynamoDB (the state machine's own
// slot tasks use Step Functions' integration), and they call nothing else.
var forbidden = map[string][]string{
	"api":             join(avepointStack, reportStack, s3Client, datasetStack, slotsCode, sqsClient),
	"preparebatch":    join(avepointStack, reportStack, sfnClient, datasetStack, dynamoClient, sqsClient),
	"writemanifest":   join(avepointStack, reportStack, sfnClient, datasetStack, dynamoClient, sqsClient),
	"advancemark":     join(avepointStack, reportStack, sfnClient, datasetStack, dynamoClient, sqsClient),
	"startexport":     join(reportStack, s3Client, sfnClient, datasetStack, dynamoClient, sqsClient),
	"checkjob":        join(reportStack, s3Client, sfnClient, datasetStack, dynamoClient, sqsClient),
	"storereport":     join(sfnClient, datasetStack, dynamoClient, sqsClient),
	"convertreport":   join(avepointStack, reportStack, sfnClient, dynamoClient, sqsClient),
	"backfillreports": join(avepointStack, reportStack, sfnClient, dynamoClient, sqsClient),
	// The user discovery lists users from AvePoint and writes the list
	// with the plain object store: no report stack, no Step Functions or
	// DynamoDB client, no dataset code.
	"discoverusers": join(reportStack, sfnClient, datasetStack, dynamoClient, sqsClient),
	"checkjobslots": join(avepointStack, reportStack, s3Client, sfnClient, sqsClient, datasetStack),
	// The releaser also wakes a waiter (internal/slots/wake): SQS and
	// Step Functions' SendTaskSuccess besides the ledger.
	"releasejobslot": join(avepointStack, reportStack, s3Client, datasetStack),
	// The waker reads the waiters' queue and answers a token: no ledger.
	"wakejobslotwaiter": join(avepointStack, reportStack, s3Client, datasetStack, dynamoClient),
}

// deps lists the packages a function links, built as the Makefile builds
// it for Lambda (linux/arm64, lambda.norpc).
func deps(t *testing.T, root, fn string) map[string]bool {
	t.Helper()
	// go test puts its own GOROOT/bin first on the test's PATH.
	cmd := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "-f", "{{.ImportPath}}", "./functions/"+fn)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./functions/%s: %v\n%s", fn, err, stderr.String())
	}
	set := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		set[p] = true
	}
	return set
}

func TestFunctionsLinkOnlyWhatTheyCall(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		fn := e.Name()
		seen++
		t.Run(fn, func(t *testing.T) {
			banned, known := forbidden[fn]
			if !known {
				t.Fatalf("functions/%s has no entry in forbidden: say what it must not link", fn)
			}
			linked := deps(t, root, fn)
			if !linked[module+"/internal/failure"] || !linked["github.com/aws/aws-lambda-go/lambda"] {
				t.Fatalf("functions/%s does not link failure and aws-lambda-go: not a function of this project's shape", fn)
			}
			for _, p := range banned {
				if linked[p] {
					t.Errorf("functions/%s links %s", fn, p)
				}
			}
			for p := range linked {
				if strings.HasPrefix(p, module+"/internal/testing/") || strings.HasPrefix(p, module+"/devstack") || strings.HasPrefix(p, module+"/bench") {
					t.Errorf("functions/%s links the test rig %s", fn, p)
				}
			}
		})
	}
	if seen != len(forbidden) {
		t.Errorf("found %d functions, forbidden lists %d", seen, len(forbidden))
	}
}
