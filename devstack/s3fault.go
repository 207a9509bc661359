package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// S3FaultProxy stands between the functions and moto_server's S3 (point
// AWS_ENDPOINT_URL_S3 at URL) and fails chosen multipart uploads part-way:
// an S3 outage in the middle of a report upload. It also records every S3
// operation, so tests can count uploads, parts and aborts per object.
type S3FaultProxy struct {
	URL string

	srv *http.Server
	rp  *httputil.ReverseProxy

	mu     sync.Mutex
	target *url.URL
	faults []*s3FaultState
	ops    []S3Op
}

// S3Fault fails the upload of one part of matching multipart uploads.
type S3Fault struct {
	// KeyContains selects the objects (matched against the unescaped key).
	KeyContains string
	// Part is the part number whose upload fails (default 2: mid-upload).
	Part int
	// Uploads is how many multipart uploads fail (0 = every one). Each
	// failing upload fails every attempt at its part, so the SDK's own
	// retries give up too.
	Uploads int
	// Status is the HTTP status answered (default 500 InternalError).
	Status int
}

type s3FaultState struct {
	S3Fault
	failed map[string]bool // upload ids chosen to fail
}

// S3Op is one S3 request the proxy saw.
type S3Op struct {
	Op       string // CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload, PutObject, …
	Key      string // unescaped object key ("" for bucket operations)
	UploadID string
	Injected bool // answered with an injected failure
	// Integrity lists the integrity headers the request carried, by
	// lower-case name: content-md5, x-amz-checksum-<algorithm>, and, with
	// their values, x-amz-sdk-checksum-algorithm, x-amz-checksum-algorithm
	// (CreateMultipartUpload) and x-amz-trailer. S3 refuses an upload into
	// a bucket with an Object Lock default retention that has neither
	// Content-MD5 nor a checksum.
	Integrity []string
}

// StartS3FaultProxy listens on a free 127.0.0.1 port; requests fail with
// 502 until SetTarget names the S3 endpoint (which is often started later).
func StartS3FaultProxy(ctx context.Context) (*S3FaultProxy, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("devstack: s3 fault proxy: %w", err)
	}
	p := &S3FaultProxy{URL: "http://" + ln.Addr().String()}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			p.mu.Lock()
			t := p.target
			p.mu.Unlock()
			pr.SetURL(t)
			pr.Out.Host = pr.In.Host // the host the request was signed for
		},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// SetTarget names the S3 endpoint requests go to, e.g. the moto URL.
func (p *S3FaultProxy) SetTarget(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("devstack: s3 fault proxy target %q: %v", rawURL, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = u
	return nil
}

// Fail arms a fault.
func (p *S3FaultProxy) Fail(f S3Fault) {
	if f.Part == 0 {
		f.Part = 2
	}
	if f.Status == 0 {
		f.Status = http.StatusInternalServerError
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, &s3FaultState{S3Fault: f, failed: map[string]bool{}})
}

// Ops returns the operations on keys containing keyContains ("" = all).
func (p *S3FaultProxy) Ops(keyContains string) []S3Op {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []S3Op
	for _, o := range p.ops {
		if strings.Contains(o.Key, keyContains) {
			out = append(out, o)
		}
	}
	return out
}

// Close stops the proxy.
func (p *S3FaultProxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		return p.srv.Close()
	}
	return nil
}

// classify names the S3 operation of a path-style request.
func classify(r *http.Request) (op, key string) {
	q := r.URL.Query()
	// Path style: /bucket/key...
	if _, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/"); ok {
		key = rest
	}
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "CreateMultipartUpload", key
	case r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId"):
		return "UploadPart", key
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload", key
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "AbortMultipartUpload", key
	case r.Method == http.MethodGet && q.Has("uploads"):
		return "ListMultipartUploads", key
	case r.Method == http.MethodPut && key != "":
		return "PutObject", key
	}
	return r.Method, key
}

// integrityHeaders names the integrity headers of a request (see
// S3Op.Integrity): the algorithms, never a checksum value.
func integrityHeaders(h http.Header) []string {
	var out []string
	for name, v := range h {
		switch n := strings.ToLower(name); {
		case n == "content-md5":
			out = append(out, n)
		case n == "x-amz-sdk-checksum-algorithm", n == "x-amz-checksum-algorithm", n == "x-amz-checksum-type", n == "x-amz-trailer":
			out = append(out, n+"="+strings.Join(v, ","))
		case strings.HasPrefix(n, "x-amz-checksum-"):
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func (p *S3FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, key := classify(r)
	uploadID := r.URL.Query().Get("uploadId")
	rec := S3Op{Op: op, Key: key, UploadID: uploadID, Integrity: integrityHeaders(r.Header)}
	status := 0
	p.mu.Lock()
	if op == "UploadPart" {
		part, _ := strconv.Atoi(r.URL.Query().Get("partNumber"))
		for _, f := range p.faults {
			if part != f.Part || !strings.Contains(key, f.KeyContains) {
				continue
			}
			if f.failed[uploadID] || f.Uploads == 0 || len(f.failed) < f.Uploads {
				f.failed[uploadID] = true
				status = f.Status
				break
			}
		}
	}
	rec.Injected = status != 0
	p.ops = append(p.ops, rec)
	target := p.target
	p.mu.Unlock()

	if status != 0 {
		// Take the part's bytes first, as S3 does before it fails a request.
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected failure of part %s</Message><RequestId>devstack-fault</RequestId></Error>`,
			r.URL.Query().Get("partNumber"))
		return
	}
	if target == nil {
		http.Error(w, errors.New("devstack: s3 fault proxy has no target").Error(), http.StatusBadGateway)
		return
	}
	p.rp.ServeHTTP(w, r)
}
