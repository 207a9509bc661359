package config

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
// console sign-in, IMDS — well over a megabyte of each arm64 bootstrap
// (BENCHMARKS.md, "Binary sizes"), none of which a Lambda function uses.
// Nor the SDK's config.NewEnvConfig: importing that package alone
// initialises the chain at every cold start (see envConfig), so
// readEnvConfig reads the environment by the SDK's rules, and every AWS_*
// variable means what it means to the SDK: region (AWS_REGION, AWS_DEFAULT_REGION),
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (resolved by the service
// clients through ConfigSources, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS
// included), retries, checksums, FIPS, dual-stack, AWS_CA_BUNDLE.
//
// Credentials: Lambda hands the execution role's over as AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; where they are served from
// an endpoint instead (AWS_CONTAINER_CREDENTIALS_FULL_URI/RELATIVE_URI with
// AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]) the SDK's endpoint provider is
// used. Profiles (AWS_PROFILE, ~/.aws) are not: a function has none. With
// no credentials at all it fails at once, naming the variables, rather
// than on the first call.
func AWSConfig() (aws.Config, error) {
	env, err := readEnvConfig()
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	cfg := aws.Config{
		Region:                     env.Region,
		ConfigSources:              []any{env},
		AppID:                      env.AppID,
		RetryMaxAttempts:           env.RetryMaxAttempts,
		RetryMode:                  env.RetryMode,
		RequestChecksumCalculation: env.RequestChecksumCalculation,
		ResponseChecksumValidation: env.ResponseChecksumValidation,
	}
	if ignore, _, _ := env.GetIgnoreConfiguredEndpoints(context.Background()); !ignore && env.BaseEndpoint != "" {
		cfg.BaseEndpoint = aws.String(env.BaseEndpoint)
	}
	if cfg.Credentials, err = credentialsFrom(env); err != nil {
		return aws.Config{}, err
	}
	if env.CustomCABundle != "" {
		if cfg.HTTPClient, err = caBundleClient(env.CustomCABundle); err != nil {
			return aws.Config{}, err
		}
	}
	return cfg, nil
}

// ecsCredentialsHost is where AWS_CONTAINER_CREDENTIALS_RELATIVE_URI points.
const ecsCredentialsHost = "http://169.254.170.2"

func credentialsFrom(env envConfig) (aws.CredentialsProvider, error) {
	if env.Credentials.HasKeys() {
		c := env.Credentials
		return credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken), nil
	}
	endpoint := ""
	if rel := env.ContainerCredentialsRelativePath; rel != "" {
		endpoint = ecsCredentialsHost + rel
	} else if full := env.ContainerCredentialsEndpoint; full != "" {
		if err := checkCredentialsEndpoint(full); err != nil {
			return nil, err
		}
		endpoint = full
	}
	if endpoint == "" {
		return nil, errors.New("aws config: no AWS credentials in the environment: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Lambda sets them from the execution role) or AWS_CONTAINER_CREDENTIALS_FULL_URI")
	}
	// EnvConfig has no field for the token file; the SDK reads it the same way.
	token, tokenFile := env.ContainerAuthorizationToken, strings.TrimSpace(os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))
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
