// Package testenv starts the local AWS stand-ins that integration tests and
// the local `make run` command talk to. Today that is moto_server, which
// serves S3, Secrets Manager and Step Functions on one port.
//
// Tests get one moto_server per test process (see Moto); the process is
// started on first use and killed by the kernel when the test process exits
// for any reason, including a panic, a -timeout abort or SIGKILL.
package moto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Static credentials and region moto accepts. Moto does not check
// signatures, but the SDK refuses to sign without credentials.
const (
	motoAccessKey = "test"
	motoSecretKey = "test"
	motoRegion    = "us-east-1"
)

const (
	// startTimeout bounds the wait for moto_server to answer. A cold start
	// through the pyenv shim takes about a second; a loaded CI box with two
	// cores can take several.
	startTimeout = 60 * time.Second
	// startAttempts covers the small race between picking a free port and
	// moto_server binding it.
	startAttempts = 3
)

// Server is a running moto_server listening on 127.0.0.1.
type Server struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:40123. Use it as
	// the SDK base endpoint (or AWS_ENDPOINT_URL for child processes).
	URL string

	cmd       *exec.Cmd
	front     *http.Server  // the DynamoDB-serializing proxy URL points at
	exited    chan struct{} // closed once the process has been reaped
	closeOnce sync.Once
	stderr    *syncBuffer
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Moto returns the moto_server shared by every test in this test process,
// starting it on first use. It fails the test (never skips it) when
// moto_server is missing or does not come up.
//
// Sharing is deliberate: a start costs one to several seconds of a shared
// two-core machine. Tests therefore isolate by name (their own bucket or
// secret, e.g. derived from t.Name()) rather than by server. Reset wipes
// the whole server, so call it only from tests that do not run in
// parallel with other users of the server.
//
// The server is not stopped by t.Cleanup (later tests still need it). It is
// started with PR_SET_PDEATHSIG from an OS thread that lives as long as the
// process, so it dies with the test binary however the binary ends.
func Start(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs moto_server: skipped with -short (make unit); make test runs it")
	}
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		shared.srv, shared.err = StartContext(ctx)
	})
	if shared.err != nil {
		t.Fatalf("moto: %v", shared.err)
	}
	select {
	case <-shared.srv.exited:
		t.Fatalf("moto: shared moto_server at %s has exited; stderr:\n%s", shared.srv.URL, shared.srv.stderr.String())
	default:
	}
	return shared.srv
}

// StartMoto starts a moto_server of its own on a free 127.0.0.1 port and
// waits until it answers. The caller must Close it. It is meant for
// non-test use such as a local run command; tests use Moto.
func StartContext(ctx context.Context) (*Server, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, errors.New("moto_server not found on PATH; install moto (pip install 'moto[server]==5.2.1') to run the AWS integration tests")
	}
	var lastErr error
	for range startAttempts {
		m, err := startOnce(ctx, bin)
		if err == nil {
			return m, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func startOnce(ctx context.Context, bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("finding a free port for moto_server: %w", err)
	}
	m := &Server{
		URL:    "http://127.0.0.1:" + strconv.Itoa(port),
		exited: make(chan struct{}),
		stderr: &syncBuffer{limit: 64 << 10},
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout = m.stderr // moto logs requests to stdout or stderr depending on version
	cmd.Stderr = m.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group, so Close can kill anything moto spawns.
		Setpgid: true,
		// Killed by the kernel if this process dies without running Close
		// (panic, test timeout, SIGKILL).
		Pdeathsig: syscall.SIGKILL,
	}
	m.cmd = cmd

	// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits,
	// not the process. The Go runtime may retire threads, so the fork
	// happens on a goroutine locked to its thread that stays there until
	// the child has been reaped (golang/go#27505).
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			runtime.UnlockOSThread()
			started <- err
			close(m.exited)
			return
		}
		started <- nil
		_ = cmd.Wait()
		runtime.UnlockOSThread()
		close(m.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting moto_server: %w", err)
	}

	if err := m.waitReady(ctx); err != nil {
		m.Close()
		return nil, err
	}
	if err := m.serveFront(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// serveFront puts a proxy in front of moto_server and points URL at it.
// It hands DynamoDB requests to moto one at a time: DynamoDB applies the
// writes to an item one after another, so a conditional write sees the
// one before it, but moto handles requests on threads without a lock and
// lets two conditional writes pass the same check (the job slot ledger
// would hold six of five slots). Everything else passes straight through.
func (m *Server) serveFront() error {
	backend, err := url.Parse(m.URL)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("moto front proxy: %w", err)
	}
	rp := httputil.NewSingleHostReverseProxy(backend)
	rp.FlushInterval = -1
	rp.ErrorLog = log.New(io.Discard, "", 0)
	var dynamo sync.Mutex
	m.front = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_") {
			dynamo.Lock()
			defer dynamo.Unlock()
		}
		rp.ServeHTTP(w, r)
	}),
		ReadHeaderTimeout: 30 * time.Second,
		// Without an IdleTimeout the server closes idle keep-alive
		// connections after ReadHeaderTimeout, and a client that sends on
		// one just then reads "other side closed" (the interpreter's
		// fetch did, in a 2,000-user run). Clients close theirs sooner.
		IdleTimeout: 10 * time.Minute,
	}
	go func() { _ = m.front.Serve(l) }()
	m.URL = "http://" + l.Addr().String()
	return nil
}

// waitReady polls until moto answers any HTTP request.
func (m *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/moto-api/data.json", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-m.exited:
			return fmt.Errorf("moto_server exited before answering on %s; output:\n%s", m.URL, m.stderr.String())
		case <-ctx.Done():
			return fmt.Errorf("moto_server did not answer on %s: %w; output:\n%s", m.URL, ctx.Err(), m.stderr.String())
		case <-tick.C:
		}
	}
}

// Close kills the server's process group and waits until it is reaped.
// It is safe to call more than once.
func (m *Server) Close() error {
	m.closeOnce.Do(func() {
		if m.front != nil {
			_ = m.front.Close()
		}
		if m.cmd.Process != nil {
			// Negative pid: the whole group created by Setpgid.
			_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		}
		<-m.exited
	})
	return nil
}

// AWSConfig returns an SDK config pointed at the server: static
// credentials, us-east-1, base endpoint = URL. It is built by hand rather
// than with config.LoadDefaultConfig so that AWS_* variables and profiles
// of the machine running the tests cannot leak in.
func (m *Server) AWSConfig(t testing.TB) aws.Config {
	t.Helper()
	return m.Config()
}

// Config is AWSConfig for callers outside tests (the local stack).
func (m *Server) Config() aws.Config {
	return aws.Config{
		Region:       motoRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(motoAccessKey, motoSecretKey, ""),
		BaseEndpoint: aws.String(m.URL),
	}
}

// S3Client returns an S3 client for the server. It uses path-style
// addressing: bucket.127.0.0.1 does not resolve.
func (m *Server) S3Client(t testing.TB) *s3.Client {
	t.Helper()
	return s3.NewFromConfig(m.AWSConfig(t), func(o *s3.Options) { o.UsePathStyle = true })
}

// SecretsClient returns a Secrets Manager client for the server.
func (m *Server) SecretsClient(t testing.TB) *secretsmanager.Client {
	t.Helper()
	return secretsmanager.NewFromConfig(m.AWSConfig(t))
}

// Reset wipes all state on the server (every bucket, secret, ...).
func (m *Server) Reset(t testing.TB) {
	t.Helper()
	resp, err := http.Post(m.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatalf("moto: resetting moto_server: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("moto: resetting moto_server: HTTP %d", resp.StatusCode)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer keeps the first limit bytes of moto's output for error
// messages; moto logs every request, so an unbounded buffer would grow with
// the test run.
type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
