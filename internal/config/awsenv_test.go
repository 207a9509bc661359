package config

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/insights-export/insights-export/internal/testing/moto"
)

// awsVars are every variable these tests set; each test sets all of them
// (absent ones to "", which the SDK reads as unset) so the machine's own
// AWS_* settings cannot leak in.
var awsVars = []string{
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY", "AWS_SECRET_KEY",
	"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SECRETS_MANAGER",
	"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_REQUEST_CHECKSUM_CALCULATION",
	"AWS_RESPONSE_CHECKSUM_VALIDATION", "AWS_SDK_UA_APP_ID", "AWS_CA_BUNDLE", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
}

// awsConfigWith is AWSConfig with exactly the variables in m set.
func awsConfigWith(t *testing.T, m map[string]string) (aws.Config, error) {
	t.Helper()
	for _, k := range awsVars {
		t.Setenv(k, m[k])
	}
	return AWSConfig()
}

func TestAWSConfigFromLambdaEnvironment(t *testing.T) {
	base := map[string]string{"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET", "AWS_SESSION_TOKEN": "TOKEN", "AWS_REGION": "eu-west-1"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, cfg aws.Config)
	}{
		{name: "Lambda's variables", env: base, check: func(t *testing.T, cfg aws.Config) {
			creds, err := cfg.Credentials.Retrieve(t.Context())
			if err != nil || creds.AccessKeyID != "AKID" || creds.SecretAccessKey != "SECRET" || creds.SessionToken != "TOKEN" {
				t.Fatalf("credentials %+v, %v", creds, err)
			}
			if cfg.Region != "eu-west-1" || cfg.BaseEndpoint != nil || cfg.HTTPClient != nil || cfg.RetryMaxAttempts != 0 {
				t.Fatalf("unexpected config %+v", cfg)
			}
		}},
		{name: "AWS_DEFAULT_REGION when AWS_REGION is unset", env: with("AWS_REGION", "", "AWS_DEFAULT_REGION", "us-west-2"), check: func(t *testing.T, cfg aws.Config) {
			if cfg.Region != "us-west-2" {
				t.Fatalf("region %q", cfg.Region)
			}
		}},
		{name: "legacy key names", env: map[string]string{"AWS_ACCESS_KEY": "A2", "AWS_SECRET_KEY": "S2"}, check: func(t *testing.T, cfg aws.Config) {
			creds, err := cfg.Credentials.Retrieve(t.Context())
			if err != nil || creds.AccessKeyID != "A2" || creds.SecretAccessKey != "S2" {
				t.Fatalf("credentials %+v, %v", creds, err)
			}
		}},
		{name: "no credentials", env: map[string]string{"AWS_REGION": "us-east-1"}, wantErr: "AWS_ACCESS_KEY_ID"},
		{name: "key without secret", env: map[string]string{"AWS_ACCESS_KEY_ID": "AKID"}, wantErr: "no AWS credentials"},
		{name: "endpoint, retries, checksums, app id", env: with("AWS_ENDPOINT_URL", "http://127.0.0.1:4566", "AWS_MAX_ATTEMPTS", "7", "AWS_RETRY_MODE", "adaptive",
			"AWS_REQUEST_CHECKSUM_CALCULATION", "WHEN_REQUIRED", "AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required", "AWS_SDK_UA_APP_ID", "insights"), check: func(t *testing.T, cfg aws.Config) {
			if aws.ToString(cfg.BaseEndpoint) != "http://127.0.0.1:4566" || cfg.RetryMaxAttempts != 7 || cfg.RetryMode != aws.RetryModeAdaptive ||
				cfg.RequestChecksumCalculation != aws.RequestChecksumCalculationWhenRequired ||
				cfg.ResponseChecksumValidation != aws.ResponseChecksumValidationWhenRequired || cfg.AppID != "insights" {
				t.Fatalf("unexpected config %+v", cfg)
			}
		}},
		{name: "ignored endpoints", env: with("AWS_ENDPOINT_URL", "http://127.0.0.1:4566", "AWS_ENDPOINT_URL_S3", "http://127.0.0.1:4567", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"), check: func(t *testing.T, cfg aws.Config) {
			if cfg.BaseEndpoint != nil {
				t.Fatalf("base endpoint %s despite AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", aws.ToString(cfg.BaseEndpoint))
			}
			// The service clients ask their config sources whether to ignore
			// configured endpoints before reading AWS_ENDPOINT_URL_<SERVICE>.
			if ignore, found, _ := cfg.ConfigSources[0].(interface {
				GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error)
			}).GetIgnoreConfiguredEndpoints(t.Context()); !found || !ignore {
				t.Fatalf("config source does not report AWS_IGNORE_CONFIGURED_ENDPOINT_URLS (%v, %v)", ignore, found)
			}
		}},
		{name: "bad AWS_MAX_ATTEMPTS", env: with("AWS_MAX_ATTEMPTS", "many"), wantErr: "AWS_MAX_ATTEMPTS"},
		{name: "bad AWS_RETRY_MODE", env: with("AWS_RETRY_MODE", "eager"), wantErr: "AWS_RETRY_MODE"},
		{name: "bad checksum mode", env: with("AWS_REQUEST_CHECKSUM_CALCULATION", "always"), wantErr: "AWS_REQUEST_CHECKSUM_CALCULATION"},
		{name: "missing CA bundle", env: with("AWS_CA_BUNDLE", "/nonexistent/ca.pem"), wantErr: "AWS_CA_BUNDLE"},
		{name: "credentials endpoint over http to another host", env: map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://198.51.100.7/creds"}, wantErr: "plain http only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := awsConfigWith(t, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg)
		})
	}
}

func TestAWSConfigServiceEndpoints(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:1", "AWS_USE_FIPS_ENDPOINT": "true", "AWS_USE_DUALSTACK_ENDPOINT": "false"}
	for _, k := range awsVars {
		t.Setenv(k, env[k])
	}
	src, err := readEnvConfig()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		sdkID string
		want  string
		found bool
	}{
		{"Secrets Manager", "http://127.0.0.1:1", true},
		{"S3", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.sdkID, func(t *testing.T) {
			got, found, err := src.GetServiceBaseEndpoint(ctx, tt.sdkID)
			if err != nil || got != tt.want || found != tt.found {
				t.Fatalf("GetServiceBaseEndpoint(%q) = %q, %v, %v", tt.sdkID, got, found, err)
			}
		})
	}
	if v, found, err := src.GetUseFIPSEndpoint(ctx); v != aws.FIPSEndpointStateEnabled || !found || err != nil {
		t.Fatalf("FIPS %v %v %v", v, found, err)
	}
	if v, found, err := src.GetUseDualStackEndpoint(ctx); v != aws.DualStackEndpointStateDisabled || !found || err != nil {
		t.Fatalf("dual-stack %v %v %v", v, found, err)
	}
}

// The per-service variables must reach real clients: S3 and Secrets
// Manager on moto_server through AWS_ENDPOINT_URL_S3 and
// AWS_ENDPOINT_URL_SECRETS_MANAGER while AWS_ENDPOINT_URL points nowhere.
func TestAWSConfigReachesMotoThroughServiceEndpoints(t *testing.T) {
	moto := moto.Start(t)
	cfg, err := awsConfigWith(t, map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
		"AWS_ENDPOINT_URL":                 "http://127.0.0.1:1",
		"AWS_ENDPOINT_URL_S3":              moto.URL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": moto.URL,
		"AWS_MAX_ATTEMPTS":                 "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("awsenv-test")}); err != nil {
		t.Fatalf("S3 through AWS_ENDPOINT_URL_S3: %v", err)
	}
	sm := secretsmanager.NewFromConfig(cfg)
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("awsenv/test"), SecretString: aws.String("{}")}); err != nil {
		t.Fatalf("Secrets Manager through AWS_ENDPOINT_URL_SECRETS_MANAGER: %v", err)
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("awsenv/test")})
	if err != nil || aws.ToString(out.SecretString) != "{}" {
		t.Fatalf("GetSecretValue: %v", err)
	}
}

// Where credentials come from an endpoint (AWS_CONTAINER_CREDENTIALS_*),
// the SDK's endpoint provider fetches them with the authorization token.
func TestAWSConfigContainerCredentials(t *testing.T) {
	var gotAuth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = append(gotAuth, r.Header.Get("Authorization"))
		_ = json.NewEncoder(w).Encode(map[string]string{
			"AccessKeyId": "CONTAINER", "SecretAccessKey": "S", "Token": "T",
			"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		})
	}))
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		wantAuth string
	}{
		{"token", map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": srv.URL + "/creds", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "tok"}, "tok"},
		{"token file", map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": srv.URL + "/creds", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile}, "from-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotAuth = nil
			cfg, err := awsConfigWith(t, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			creds, err := cfg.Credentials.Retrieve(t.Context())
			if err != nil || creds.AccessKeyID != "CONTAINER" || creds.SessionToken != "T" {
				t.Fatalf("credentials %+v, %v", creds, err)
			}
			if len(gotAuth) != 1 || gotAuth[0] != tt.wantAuth {
				t.Fatalf("authorization headers %q, want [%q]", gotAuth, tt.wantAuth)
			}
		})
	}
}

func TestAWSConfigCABundle(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer srv.Close()
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := awsConfigWith(t, map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_CA_BUNDLE": bundle})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	resp, err := cfg.HTTPClient.Do(req)
	if err != nil {
		t.Fatalf("the bundle's certificate is not trusted: %v", err)
	}
	resp.Body.Close()
	// Without the bundle the test server's certificate is unknown.
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the default client trusted the test certificate; the test proves nothing")
	}
}
