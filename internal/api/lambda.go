package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/insights-export/insights-export/internal/failure"
)

// prefixHeader carries the path prefix API Gateway strips (the stage) from
// the adapter to statusURL. The adapter always sets it, overwriting any
// client-sent value.
const prefixHeader = "X-Forwarded-Prefix"

// Config is the API function's environment.
type Config struct {
	ExportStateMachineARN string     // EXPORT_STATE_MACHINE_ARN
	BatchStateMachineARN  string     // BATCH_STATE_MACHINE_ARN
	LogLevel              slog.Level // LOG_LEVEL
}

// LoadConfig reads the environment through getenv.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{ExportStateMachineARN: getenv("EXPORT_STATE_MACHINE_ARN"), BatchStateMachineARN: getenv("BATCH_STATE_MACHINE_ARN")}
	level := getenv("LOG_LEVEL")
	if level == "" {
		level = "info"
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return Config{}, &failure.ValidationError{Field: "LOG_LEVEL", Reason: "must be debug, info, warn or error"}
	}
	return c, c.validate()
}

func (c Config) validate() error {
	for name, arn := range map[string]string{"EXPORT_STATE_MACHINE_ARN": c.ExportStateMachineARN, "BATCH_STATE_MACHINE_ARN": c.BatchStateMachineARN} {
		if !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":stateMachine:") {
			return &failure.ValidationError{Field: name, Reason: "must be a state machine ARN (arn:…:states:…:stateMachine:NAME)"}
		}
	}
	return nil
}

// LambdaHandler adapts h to API Gateway's REST (v1) proxy integration.
func LambdaHandler(h http.Handler) func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		r, err := toHTTPRequest(ctx, req)
		if err != nil {
			return jsonResponse(http.StatusBadRequest, `{"error":"ValidationError","message":"the request could not be read"}`), nil
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		resp := events.APIGatewayProxyResponse{StatusCode: rec.Code, Headers: map[string]string{}, Body: rec.Body.String()}
		for k, v := range rec.Header() {
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
