package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
)

// AWSConfig builds the AWS SDK configuration from the environment Lambda
// gives a function, without config.LoadDefaultConfig.
//
// Why not LoadDefaultConfig: it links the whole default credential chain —
// shared config files, SSO, SSO-OIDC, STS web identity and assume-role,
// console sign-in, IMDS — 1.6 to 1.8 MB of each arm64 bootstrap
// (storereport 10,485,922 → 8,847,522 bytes, from over the 10 MiB budget
// to well under it), none of which a Lambda function uses. Lambda hands
// the execution role's credentials over as AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, and, where it serves them
// from an endpoint instead (SnapStart), as
// AWS_CONTAINER_CREDENTIALS_FULL_URI/RELATIVE_URI with
// AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]. Both are honoured here, in the
// SDK's order (keys first), with the SDK's own providers.
//
// Also honoured, with the SDK's meaning: AWS_REGION (then
// AWS_DEFAULT_REGION), AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>
// (e.g. _S3, _SECRETS_MANAGER), AWS_IGNORE_CONFIGURED_ENDPOINT_URLS,
// AWS_MAX_ATTEMPTS, AWS_RETRY_MODE, AWS_CA_BUNDLE,
// AWS_REQUEST_CHECKSUM_CALCULATION, AWS_RESPONSE_CHECKSUM_VALIDATION,
// AWS_USE_FIPS_ENDPOINT, AWS_USE_DUALSTACK_ENDPOINT and AWS_SDK_UA_APP_ID.
// Profiles (AWS_PROFILE, ~/.aws) are not: a function has none. With no
// credentials in the environment it fails at once, naming the variables,
// rather than on the first call.
func AWSConfig(getenv func(string) string) (aws.Config, error) {
	env := awsEnv(getenv)
	cfg := aws.Config{
		Region:        env.first("AWS_REGION", "AWS_DEFAULT_REGION"),
		ConfigSources: []any{env},
		AppID:         env.get("AWS_SDK_UA_APP_ID"),
	}
	var err error
	if cfg.Credentials, err = env.credentials(); err != nil {
		return aws.Config{}, err
	}
	if !env.ignoreEndpoints() {
		if v := env.get("AWS_ENDPOINT_URL"); v != "" {
			cfg.BaseEndpoint = aws.String(v)
		}
	}
	if v := env.get("AWS_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return aws.Config{}, fmt.Errorf("aws config: AWS_MAX_ATTEMPTS %q is not a whole number ≥ 1", v)
		}
		cfg.RetryMaxAttempts = n
	}
	if v := env.get("AWS_RETRY_MODE"); v != "" {
		if cfg.RetryMode, err = aws.ParseRetryMode(v); err != nil {
			return aws.Config{}, fmt.Errorf("aws config: AWS_RETRY_MODE: %w", err)
		}
	}
	switch v := strings.ToLower(env.get("AWS_REQUEST_CHECKSUM_CALCULATION")); v {
	case "":
	case "when_supported":
		cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported
	case "when_required":
		cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	default:
		return aws.Config{}, fmt.Errorf("aws config: AWS_REQUEST_CHECKSUM_CALCULATION %q is not when_supported or when_required", v)
	}
	switch v := strings.ToLower(env.get("AWS_RESPONSE_CHECKSUM_VALIDATION")); v {
	case "":
	case "when_supported":
		cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenSupported
	case "when_required":
		cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	default:
		return aws.Config{}, fmt.Errorf("aws config: AWS_RESPONSE_CHECKSUM_VALIDATION %q is not when_supported or when_required", v)
	}
	if path := env.get("AWS_CA_BUNDLE"); path != "" {
		if cfg.HTTPClient, err = caBundleClient(path); err != nil {
			return aws.Config{}, err
		}
	}
	return cfg, nil
}

// awsEnv reads AWS_* variables through getenv. It is also the aws.Config
// config source the service clients ask for per-service endpoints, FIPS
// and dual-stack (the interfaces of aws-sdk-go-v2's internal/configsources).
type awsEnv func(string) string

func (e awsEnv) get(name string) string { return strings.TrimSpace(e(name)) }

func (e awsEnv) first(names ...string) string {
	for _, n := range names {
		if v := e.get(n); v != "" {
			return v
		}
	}
	return ""
}

func (e awsEnv) ignoreEndpoints() bool {
	v, _ := strconv.ParseBool(e.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))
	return v
}

// GetServiceBaseEndpoint resolves AWS_ENDPOINT_URL_<SDK ID>, the SDK ID
// upper-cased with spaces as underscores ("Secrets Manager" →
// AWS_ENDPOINT_URL_SECRETS_MANAGER), as the SDK's EnvConfig does.
func (e awsEnv) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	if e.ignoreEndpoints() {
		return "", false, nil
	}
	v := e.get("AWS_ENDPOINT_URL_" + strings.ToUpper(strings.ReplaceAll(sdkID, " ", "_")))
	return v, v != "", nil
}

// GetUseFIPSEndpoint reads AWS_USE_FIPS_ENDPOINT.
func (e awsEnv) GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error) {
	v, found, err := e.boolean("AWS_USE_FIPS_ENDPOINT")
	if !found || err != nil {
		return aws.FIPSEndpointStateUnset, false, err
	}
	if v {
		return aws.FIPSEndpointStateEnabled, true, nil
	}
	return aws.FIPSEndpointStateDisabled, true, nil
}

// GetUseDualStackEndpoint reads AWS_USE_DUALSTACK_ENDPOINT.
func (e awsEnv) GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error) {
	v, found, err := e.boolean("AWS_USE_DUALSTACK_ENDPOINT")
	if !found || err != nil {
		return aws.DualStackEndpointStateUnset, false, err
	}
	if v {
		return aws.DualStackEndpointStateEnabled, true, nil
	}
	return aws.DualStackEndpointStateDisabled, true, nil
}

func (e awsEnv) boolean(name string) (value, found bool, err error) {
	v := e.get(name)
	if v == "" {
		return false, false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, false, fmt.Errorf("aws config: %s %q is not true or false", name, v)
	}
	return b, true, nil
}

// ecsCredentialsHost is where AWS_CONTAINER_CREDENTIALS_RELATIVE_URI points.
const ecsCredentialsHost = "http://169.254.170.2"

func (e awsEnv) credentials() (aws.CredentialsProvider, error) {
	id := e.first("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY")
	secret := e.first("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY")
	if id != "" && secret != "" {
		return credentials.NewStaticCredentialsProvider(id, secret, e.get("AWS_SESSION_TOKEN")), nil
	}
	endpoint := ""
	if rel := e.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); rel != "" {
		endpoint = ecsCredentialsHost + rel
	} else if full := e.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"); full != "" {
		if err := checkCredentialsEndpoint(full); err != nil {
			return nil, err
		}
		endpoint = full
	}
	if endpoint == "" {
		return nil, errors.New("aws config: no AWS credentials in the environment: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Lambda sets them from the execution role) or AWS_CONTAINER_CREDENTIALS_FULL_URI")
	}
	token, tokenFile := e.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"), e.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
	provider := endpointcreds.New(endpoint, func(o *endpointcreds.Options) {
		o.AuthorizationToken = token
		if tokenFile != "" {
			// Read on every refresh: the file is rotated under us.
			o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return "", fmt.Errorf("read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: %w", err)
				}
				return strings.TrimSpace(string(b)), nil
			})
		}
	})
	// As the SDK does for endpoint credentials: refresh 5 minutes early.
	return aws.NewCredentialsCache(provider, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 5 * time.Minute }), nil
}

// checkCredentialsEndpoint applies the SDK's rule for a full credentials
// URI: https anywhere, plain http only to loopback or the ECS/EKS agent
// addresses.
func checkCredentialsEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("aws config: AWS_CONTAINER_CREDENTIALS_FULL_URI %q is not a URL", raw)
	}
	if u.Scheme == "https" {
		return nil
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() == "localhost" || ip != nil && (ip.IsLoopback() || ip.Equal(net.IPv4(169, 254, 170, 2)) ||
		ip.Equal(net.IPv4(169, 254, 170, 23)) || ip.Equal(net.ParseIP("fd00:ec2::23"))) {
		return nil
	}
	return fmt.Errorf("aws config: AWS_CONTAINER_CREDENTIALS_FULL_URI %q: plain http only to loopback or the ECS/EKS agent", raw)
}

// caBundleClient is the SDK's default HTTP client trusting only the PEM
// certificates in path, as AWS_CA_BUNDLE means for the SDK.
func caBundleClient(path string) (aws.HTTPClient, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("aws config: AWS_CA_BUNDLE: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("aws config: AWS_CA_BUNDLE %s holds no PEM certificate", path)
	}
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.RootCAs = pool
	}), nil
}
