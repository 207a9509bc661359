package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/insights-export/insights-export/bench/gobuild"
	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

const (
	modulePath   = "github.com/insights-export/insights-export"
	clientID     = "bench-client"
	clientSecret = "bench-secret"
	bucket       = "bench"
	prefix       = "reports"
)

// buildBinaries builds the measured child and the S3 sink the way the
// Makefile builds the Lambda bootstraps (for the host's architecture).
func buildBinaries(ctx context.Context, dir string) (child, sink string, err error) {
	child, sink = filepath.Join(dir, "storechild"), filepath.Join(dir, "s3sink")
	for out, pkg := range map[string]string{child: modulePath + "/bench/cmd/storechild", sink: modulePath + "/bench/cmd/s3sink"} {
		if err := gobuild.Host(ctx, "", pkg, out); err != nil {
			return "", "", err
		}
	}
	return child, sink, nil
}

// tlsFiles is a throwaway CA and a 127.0.0.1 server certificate it signed.
type tlsFiles struct {
	CA, Cert, Key string // PEM file paths
	pair          tls.Certificate
	pool          *x509.CertPool
}

func makeTLS(dir string) (*tlsFiles, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "storebench CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	f := &tlsFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	for path, block := range map[string]*pem.Block{
		f.CA: {Type: "CERTIFICATE", Bytes: caDER}, f.Cert: {Type: "CERTIFICATE", Bytes: leafDER}, f.Key: {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
	}
	if f.pair, err = tls.LoadX509KeyPair(f.Cert, f.Key); err != nil {
		return nil, err
	}
	f.pool = x509.NewCertPool()
	f.pool.AddCert(ca)
	return f, nil
}

// noHTTP2 turns HTTP/2 off on a server: S3 speaks HTTP/1.1, and curl and
// the Go client then use the same protocol against the simulator.
var noHTTP2 = map[string]func(*http.Server, *tls.Conn, http.Handler){}

// process is a long-running helper (the sink) started so that the kernel
// kills it if this program dies.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// PR_SET_PDEATHSIG fires when the forking thread exits: keep it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(p.exited)
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, <-started
}

func (p *process) stop() {
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-p.exited
}

// cpuSeconds is the process's user+system CPU time so far.
func (p *process) cpuSeconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line, in clock ticks (100 Hz on Linux).
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	var ut, st float64
	_, _ = fmt.Sscan(fields[11], &ut)
	_, _ = fmt.Sscan(fields[12], &st)
	return (ut + st) / 100
}

type sinkProc struct {
	*process
	URL string
}

func startSink(ctx context.Context, bin string, tf *tlsFiles) (*sinkProc, error) {
	args := []string{"-addr", "127.0.0.1:0"}
	if tf != nil {
		args = append(args, "-cert", tf.Cert, "-key", tf.Key)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p, err := startProcess(cmd)
	if err != nil {
		return nil, err
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case u := <-line:
		if u == "" {
			p.stop()
			return nil, errors.New("s3sink exited without printing its URL")
		}
		return &sinkProc{process: p, URL: u}, nil
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, errors.New("s3sink did not start within 10s")
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

// sinkObject asks the sink what it stored under key.
func sinkObject(ctx context.Context, client *http.Client, sinkURL, key string) (struct {
	Size  int64  `json:"size"`
	CRC32 uint32 `json:"crc32"`
	Parts int    `json:"parts"`
}, error) {
	var o struct {
		Size  int64  `json:"size"`
		CRC32 uint32 `json:"crc32"`
		Parts int    `json:"parts"`
	}
	err := getJSON(ctx, client, sinkURL+"/_sink/object?bucket="+bucket+"&key="+url.QueryEscape(key), &o)
	return o, err
}

type sinkStats struct {
	Requests    int64 `json:"requests"`
	OpenUploads int64 `json:"openUploads"`
	Aborted     int64 `json:"aborted"`
	Rejected    int64 `json:"rejected"`
	CRCVerified int64 `json:"crcVerified"`
	CRCMissing  int64 `json:"crcMissing"`
	AWSChunked  int64 `json:"awsChunked"`
}

func getJSON(ctx context.Context, client *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// simulator is avesim served in this process, over TLS like AvePoint.
type simulator struct {
	srv      *avesim.Server
	hs       *http.Server
	URL      string
	TokenURL string
}

func startSimulator(plans map[string]avesim.JobPlan, tf *tlsFiles) (*simulator, error) {
	srv, err := avesim.New(avesim.Options{ClientID: clientID, ClientSecret: clientSecret, PollsToFinish: -1, Plans: plans})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	scheme := "http"
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, TLSNextProto: noHTTP2}
	if tf != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{tf.pair}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	go func() { _ = hs.Serve(ln) }()
	u := scheme + "://" + ln.Addr().String()
	return &simulator{srv: srv, hs: hs, URL: u, TokenURL: u + srv.TokenPath()}, nil
}

// emailFor names the simulated user whose report has the given size and
// download rate (0 = unpaced).
func emailFor(size, rate int64) string {
	if rate > 0 {
		return fmt.Sprintf("bench-%d-at-%d@contoso.com", size, rate)
	}
	return fmt.Sprintf("bench-%d@contoso.com", size)
}

// newJob runs the start and check steps' client calls against the
// simulator and returns the Job the store step receives.
func newJob(ctx context.Context, api *avepoint.Client, email string) (request.Job, error) {
	raw := fmt.Sprintf(`{"email":%q,"startTime":"2024-01-01T00:00:00","finishTime":"2024-01-31T00:00:00"}`, email)
	now := time.Now().UTC()
	q, err := request.ParseRequest([]byte(raw), now)
	if err != nil {
		return request.Job{}, err
	}
	start, finish := q.Window()
	id, err := api.StartExport(ctx, avepoint.ExportRequest{Email: q.Email, Start: start, Finish: finish})
	if err != nil {
		return request.Job{}, err
	}
	st, err := api.JobStatus(ctx, id)
	if err != nil {
		return request.Job{}, err
	}
	if st.State != avepoint.JobFinished {
		return request.Job{}, fmt.Errorf("job %s is %s after one poll", id, st.State)
	}
	return request.Job{Request: q, JobID: id, StartedAt: now, Polls: 1, Status: string(st.State), JobStatus: st.Code}, nil
}

// fetchToken gets a bearer token for curl, as any OAuth client would.
func fetchToken(ctx context.Context, client *http.Client, tokenURL string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {clientSecret}, "scope": {avepoint.Scope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: %s, %v", resp.Status, err)
	}
	return tok.AccessToken, nil
}
