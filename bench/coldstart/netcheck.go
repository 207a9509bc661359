package coldstart

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/insights-export/insights-export/devstack"
)

// Recorder is a TCP listener on 127.0.0.1 that records every connection
// (and its first request line) and closes it without answering.
type Recorder struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []string
	wg    sync.WaitGroup
}

// NewRecorder listens on a free 127.0.0.1 port.
func NewRecorder() (*Recorder, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Recorder{ln: ln}
	r.wg.Add(1)
	go r.serve()
	return r, nil
}

func (r *Recorder) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			r.mu.Lock()
			r.conns = append(r.conns, strings.TrimSpace(line))
			r.mu.Unlock()
		}()
	}
}

// URL is http://127.0.0.1:PORT.
func (r *Recorder) URL() string { return "http://" + r.ln.Addr().String() }

// Connections returns the first line of every connection so far (empty
// when the client sent nothing before the read deadline).
func (r *Recorder) Connections() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.conns...)
}

// Close stops listening and waits for the connection handlers.
func (r *Recorder) Close() error {
	err := r.ln.Close()
	r.wg.Wait()
	return err
}

// NetCheck is the result of InitConnections for one bootstrap.
type NetCheck struct {
	Name string
	// AtInit are the connections seen from launch through the answer to a
	// request refused before any call (init + handler up to validation).
	AtInit []string
	// AfterCall are the connections seen once a real request ran: proof
	// that the endpoints really pointed at the recorder.
	AfterCall []string
}

// InitConnections runs t's bootstrap under the RIE with every endpoint it
// could call — AVEPOINT_API_URL, AVEPOINT_TOKEN_URL, AWS_ENDPOINT_URL and
// the proxies for any other host (HTTP_PROXY/HTTPS_PROXY, which Go's
// default transport and the AWS SDK honour for non-loopback hosts, IMDS
// included) — pointed at a connection recorder. It invokes t.Refused (the
// handler refuses it before any call, as t.Refusal checks), reads the
// recorder, then invokes t.Connects (which must now try to connect; it
// fails, nothing answers).
func InitConnections(ctx context.Context, t Target) (NetCheck, error) {
	res := NetCheck{Name: t.Name}
	if t.Refused == nil || t.Refusal == nil || t.Connects == nil {
		return res, fmt.Errorf("coldstart: %s has no refused request or none that connects", t.Name)
	}
	rec, err := NewRecorder()
	if err != nil {
		return res, err
	}
	defer rec.Close()
	env := map[string]string{}
	for k, v := range t.Env {
		env[k] = v
	}
	for _, k := range []string{"AVEPOINT_API_URL", "AWS_ENDPOINT_URL", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		env[k] = rec.URL()
	}
	env["AVEPOINT_TOKEN_URL"] = rec.URL() + "/connect/token"
	// The SDK must not give up before its first attempt reaches the
	// recorder; one attempt keeps the positive control quick.
	env["AWS_MAX_ATTEMPTS"] = "1"

	f, err := devstack.StartFunction(ctx, devstack.FunctionSpec{Name: "netcheck-" + t.Name, Bootstrap: t.Bootstrap, Env: env, Timeout: 30 * time.Second})
	if err != nil {
		return res, err
	}
	defer f.Close()
	out, fnErr, err := f.Invoke(ctx, t.Refused)
	if err != nil {
		return res, err
	}
	if err := t.Refusal(out, fnErr); err != nil {
		return res, fmt.Errorf("coldstart: %s: refused request: %w\n%s", t.Name, err, tail(f.Logs()))
	}
	// A connection attempt racing the answer would still be in flight;
	// give it a moment to land.
	time.Sleep(200 * time.Millisecond)
	res.AtInit = rec.Connections()

	// Whatever it answers (an error, or the API's 5xx), the proof is in
	// the recorder.
	if _, _, err = f.Invoke(ctx, t.Connects); err != nil {
		return res, err
	}
	time.Sleep(100 * time.Millisecond)
	res.AfterCall = rec.Connections()
	return res, nil
}
