package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// prefixHeader carries the path prefix API Gateway strips (the stage) from
// the adapter to statusURL. The adapter always sets it, overwriting any
// client-sent value.
const prefixHeader = "X-Forwarded-Prefix"

// LambdaHandler adapts h to API Gateway's REST (v1) proxy integration.
func LambdaHandler(h http.Handler) func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		r, err := toHTTPRequest(ctx, req)
		if err != nil {
			return jsonResponse(http.StatusBadRequest, `{"error":"ValidationError","message":"the request could not be read"}`), nil
		}
		var rw responseWriter
		h.ServeHTTP(&rw, r)
		resp := events.APIGatewayProxyResponse{StatusCode: rw.status, Headers: map[string]string{}, Body: rw.body.String()}
		if resp.StatusCode == 0 {
			resp.StatusCode = http.StatusOK
		}
		for k, v := range rw.header {
			resp.Headers[k] = strings.Join(v, ", ")
		}
		return resp, nil
	}
}

func toHTTPRequest(ctx context.Context, req events.APIGatewayProxyRequest) (*http.Request, error) {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
	}
	if req.HTTPMethod == "" {
		return nil, errors.New("no method")
	}
	u := &url.URL{Path: req.Path}
	r, err := http.NewRequestWithContext(ctx, req.HTTPMethod, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range req.MultiValueHeaders {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	for k, v := range req.Headers {
		if _, done := req.MultiValueHeaders[k]; !done {
			r.Header.Set(k, v)
		}
	}
	r.Host = req.RequestContext.DomainName
	if r.Host == "" {
		r.Host = r.Header.Get("Host")
	}
	// On the execute-api host the stage is part of the URL the client
	// used; API Gateway removes it from Path.
	r.Header.Del(prefixHeader)
	if req.RequestContext.Stage != "" && strings.HasSuffix(r.Host, ".amazonaws.com") {
		r.Header.Set(prefixHeader, "/"+req.RequestContext.Stage)
	}
	if r.Header.Get("X-Forwarded-Proto") == "" {
		r.Header.Set("X-Forwarded-Proto", "https")
	}
	return r, nil
}

func jsonResponse(status int, body string) events.APIGatewayProxyResponse {
	return events.APIGatewayProxyResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: body}
}

// responseWriter collects a handler's answer for the proxy response: the
// whole body in memory, which API Gateway's 10 MB limit bounds anyway.
type responseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseWriter) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *responseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// Handle is the API function's Lambda handler: the API behind API
// Gateway's proxy integration.
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return LambdaHandler(h)(ctx, req)
}
