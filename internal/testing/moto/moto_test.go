package moto

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// processGone reports whether pid no longer runs. A zombie counts as gone:
// in a container PID 1 may never reap re-parented children.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// Format: pid (comm) state ...; comm may contain spaces.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("moto_server pid %d still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartMotoServesS3AndSecretsAndCloseKillsIt(t *testing.T) {
	if testing.Short() {
		t.Skip("needs moto_server: skipped with -short (make unit); make test runs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	m, err := StartContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := m.cmd.Process.Pid
	t.Cleanup(func() { m.Close() })

	if !strings.HasPrefix(m.URL, "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want a 127.0.0.1 URL", m.URL)
	}
	s3c := m.S3Client(t)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("probe")}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	sm := m.SecretsClient(t)
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("probe"), SecretString: aws.String("{}")}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}

	m.Reset(t)
	out, err := s3c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	if len(out.Buckets) != 0 {
		t.Fatalf("after Reset: %d buckets, want 0", len(out.Buckets))
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	if err := m.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
}

func TestMotoIsSharedWithinTheProcess(t *testing.T) {
	a, b := Start(t), Start(t)
	if a != b {
		t.Fatalf("Moto returned two servers: %s and %s", a.URL, b.URL)
	}
	if _, err := a.S3Client(t).ListBuckets(context.Background(), &s3.ListBucketsInput{}); err != nil {
		t.Fatalf("ListBuckets on shared server: %v", err)
	}
}

// The helper process starts the shared server, reports its pid and panics;
// the kernel must then kill moto_server (PR_SET_PDEATHSIG), since no
// cleanup of ours gets to run.
const helperEnv = "TESTENV_PANIC_HELPER"

func TestHelperProcessPanics(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return // only meaningful as the child of TestMotoDiesWithPanickingTest
	}
	m := Start(t)
	fmt.Printf("MOTO_PID=%d\n", m.cmd.Process.Pid)
	os.Stdout.Sync()
	panic("deliberate panic with moto_server running")
}

func TestMotoDiesWithPanickingTest(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessPanics$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := 0
	var lines []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if v, ok := strings.CutPrefix(sc.Text(), "MOTO_PID="); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	werr := cmd.Wait()
	if werr == nil {
		t.Fatalf("helper test did not fail; output:\n%s", strings.Join(lines, "\n"))
	}
	if pid == 0 {
		t.Fatalf("helper printed no moto pid; output:\n%s", strings.Join(lines, "\n"))
	}
	waitGone(t, pid)
}

func TestStartMotoWithoutBinaryFailsClearly(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := StartContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "moto_server not found on PATH") {
		t.Fatalf("err = %v, want a clear 'not found on PATH' error", err)
	}
}
