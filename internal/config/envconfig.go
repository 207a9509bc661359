package config

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// envConfig is the part of the SDK's config.EnvConfig that AWSConfig and
// the service clients use, read from the same variables by the same rules
// (TestEnvConfigIsTheSDKs compares the two on every variable, valid and
// not). Why not config.NewEnvConfig itself: importing the SDK's config
// package links and initialises its whole credential chain — the SSO,
// SSO-OIDC, STS and sign-in clients' endpoint tables and schemas, about
// 540 KB of heap built at every cold start of every function before
// main runs (BENCHMARKS.md §1b, package init), for clients no function
// uses.
type envConfig struct {
	Credentials                      aws.Credentials
	ContainerCredentialsEndpoint     string
	ContainerCredentialsRelativePath string
	ContainerAuthorizationToken      string
	Region                           string
	CustomCABundle                   string
	AppID                            string
	RetryMaxAttempts                 int
	RetryMode                        aws.RetryMode
	BaseEndpoint                     string
	RequestChecksumCalculation       aws.RequestChecksumCalculation
	ResponseChecksumValidation       aws.ResponseChecksumValidation

	// Read through ConfigSources by the service clients (the methods
	// below implement the SDK's provider interfaces).
	IgnoreConfiguredEndpoints        *bool
	S3UseARNRegion                   *bool
	S3DisableMultiRegionAccessPoints *bool
	S3DisableExpressAuth             *bool
	UseDualStackEndpoint             aws.DualStackEndpointState
	UseFIPSEndpoint                  aws.FIPSEndpointState
	EnableEndpointDiscovery          aws.EndpointDiscoveryEnableState
}

// maxRequestMinCompressSizeBytes is smithy-go's bound on
// AWS_REQUEST_MIN_COMPRESSION_SIZE_BYTES.
const maxRequestMinCompressSizeBytes = 10485760

// readEnvConfig reads the environment as config.NewEnvConfig does, in
// the same order and with the same errors: a variable the SDK would
// refuse fails the cold start here too, including those (request
// compression, clock skew, IMDS, defaults mode, account-id endpoints,
// file permissions) whose values no function uses.
func readEnvConfig() (envConfig, error) {
	var cfg envConfig
	creds := aws.Credentials{Source: "EnvConfigCredentials"}
	setString(&creds.AccessKeyID, "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY")
	setString(&creds.SecretAccessKey, "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY")
	if creds.HasKeys() {
		creds.AccountID = os.Getenv("AWS_ACCOUNT_ID")
		creds.SessionToken = os.Getenv("AWS_SESSION_TOKEN")
		cfg.Credentials = creds
	}
	cfg.ContainerCredentialsEndpoint = os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
	cfg.ContainerCredentialsRelativePath = os.Getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
	cfg.ContainerAuthorizationToken = os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
	setString(&cfg.Region, "AWS_REGION", "AWS_DEFAULT_REGION")
	cfg.CustomCABundle = os.Getenv("AWS_CA_BUNDLE")
	cfg.AppID = os.Getenv("AWS_SDK_UA_APP_ID")

	var unused *bool
	if err := setBool(&unused, "AWS_DISABLE_REQUEST_COMPRESSION"); err != nil {
		return cfg, err
	}
	if v := os.Getenv("AWS_REQUEST_MIN_COMPRESSION_SIZE_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return cfg, fmt.Errorf("invalid value for env var, %s=%s, need int64", "AWS_REQUEST_MIN_COMPRESSION_SIZE_BYTES", v)
		} else if n < 0 || n > maxRequestMinCompressSizeBytes {
			return cfg, fmt.Errorf("invalid range for env var min request compression size bytes %d, must be within 0 and 10485760 inclusively", n)
		}
	}
	if err := setBool(&unused, "AWS_DISABLE_CLOCK_SKEW_CORRECTION"); err != nil {
		return cfg, err
	}
	if v := os.Getenv("AWS_ENABLE_ENDPOINT_DISCOVERY"); v != "" {
		switch {
		case strings.EqualFold(v, "false"):
			cfg.EnableEndpointDiscovery = aws.EndpointDiscoveryDisabled
		case strings.EqualFold(v, "true"):
			cfg.EnableEndpointDiscovery = aws.EndpointDiscoveryEnabled
		case strings.EqualFold(v, "auto"):
			cfg.EnableEndpointDiscovery = aws.EndpointDiscoveryAuto
		default:
			return cfg, fmt.Errorf("invalid value for environment variable, %s=%s, need true, false or auto", "AWS_ENABLE_ENDPOINT_DISCOVERY", v)
		}
	}
	if err := setBool(&cfg.S3UseARNRegion, "AWS_S3_USE_ARN_REGION"); err != nil {
		return cfg, err
	}
	if v := os.Getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"); v != "" {
		if t := strings.TrimSpace(v); t != "" && !strings.EqualFold(t, "IPv6") && !strings.EqualFold(t, "IPv4") {
			return cfg, fmt.Errorf("invalid value for environment variable, %s=%s, %v", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", v,
				"unknown EC2 IMDS endpoint mode, must be either IPv6 or IPv4")
		}
	}
	if err := setBool(&unused, "AWS_EC2_METADATA_V1_DISABLED"); err != nil {
		return cfg, err
	}
	if err := setBool(&cfg.S3DisableMultiRegionAccessPoints, "AWS_S3_DISABLE_MULTIREGION_ACCESS_POINTS"); err != nil {
		return cfg, err
	}
	if v := os.Getenv("AWS_USE_DUALSTACK_ENDPOINT"); v != "" {
		switch {
		case strings.EqualFold(v, "true"):
			cfg.UseDualStackEndpoint = aws.DualStackEndpointStateEnabled
		case strings.EqualFold(v, "false"):
			cfg.UseDualStackEndpoint = aws.DualStackEndpointStateDisabled
		default:
			return cfg, fmt.Errorf("invalid value for environment variable, %s=%s, need true, false", "AWS_USE_DUALSTACK_ENDPOINT", v)
		}
	}
	if v := os.Getenv("AWS_USE_FIPS_ENDPOINT"); v != "" {
		switch {
		case strings.EqualFold(v, "true"):
			cfg.UseFIPSEndpoint = aws.FIPSEndpointStateEnabled
		case strings.EqualFold(v, "false"):
			cfg.UseFIPSEndpoint = aws.FIPSEndpointStateDisabled
		default:
			return cfg, fmt.Errorf("invalid value for environment variable, %s=%s, need true, false", "AWS_USE_FIPS_ENDPOINT", v)
		}
	}
	if v := os.Getenv("AWS_DEFAULTS_MODE"); v != "" {
		var mode aws.DefaultsMode
		if !mode.SetFromString(v) {
			return cfg, fmt.Errorf("invalid %s value: %s", "AWS_DEFAULTS_MODE", v)
		}
	}
	if v := os.Getenv("AWS_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return cfg, fmt.Errorf("invalid value %s=%s, %w", "AWS_MAX_ATTEMPTS", v, err)
		}
		cfg.RetryMaxAttempts = int(n)
	}
	if v := os.Getenv("AWS_RETRY_MODE"); v != "" {
		mode, err := aws.ParseRetryMode(v)
		if err != nil {
			return cfg, fmt.Errorf("invalid %s value, %w", "AWS_RETRY_MODE", err)
		}
		cfg.RetryMode = mode
	}
	cfg.BaseEndpoint = os.Getenv("AWS_ENDPOINT_URL")
	if err := setBool(&cfg.IgnoreConfiguredEndpoints, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"); err != nil {
		return cfg, err
	}
	if err := setBool(&cfg.S3DisableExpressAuth, "AWS_S3_DISABLE_EXPRESS_SESSION_AUTH"); err != nil {
		return cfg, err
	}
	if v := os.Getenv("AWS_ACCOUNT_ID_ENDPOINT_MODE"); v != "" && v != "preferred" && v != "required" && v != "disabled" {
		return cfg, fmt.Errorf("invalid value for environment variable, %s=%s, must be preferred/required/disabled", "AWS_ACCOUNT_ID_ENDPOINT_MODE", v)
	}
	if v := os.Getenv("AWS_REQUEST_CHECKSUM_CALCULATION"); v != "" {
		switch strings.ToLower(v) {
		case "when_supported":
			cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported
		case "when_required":
			cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		default:
			return cfg, fmt.Errorf("invalid value for environment variable, %s=%s, must be when_supported/when_required", "AWS_REQUEST_CHECKSUM_CALCULATION", v)
		}
	}
	if v := os.Getenv("AWS_RESPONSE_CHECKSUM_VALIDATION"); v != "" {
		switch strings.ToLower(v) {
		case "when_supported":
			cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenSupported
		case "when_required":
			cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		default:
			return cfg, fmt.Errorf("invalid value for environment variable, %s=%s, must be when_supported/when_required", "AWS_RESPONSE_CHECKSUM_VALIDATION", v)
		}
	}
	if v := os.Getenv("AWS_RESTRICT_FILE_PERMISSIONS"); v != "" {
		if l := strings.ToLower(v); l != "user_read_write" && l != "unrestricted" {
			return cfg, fmt.Errorf("invalid value for environment variable, %s=%s, must be user_read_write/unrestricted", "AWS_RESTRICT_FILE_PERMISSIONS", v)
		}
	}
	return cfg, nil
}

// setString sets dst from the first of keys that is set and not empty.
func setString(dst *string, keys ...string) {
	for _, k := range keys {
		if v := os.Getenv(k); v != "" {
			*dst = v
			return
		}
	}
}

// setBool reads true or false, in any case, into dst; unset leaves dst.
func setBool(dst **bool, key string) error {
	v := os.Getenv(key)
	if v == "" {
		return nil
	}
	b := new(bool)
	switch {
	case strings.EqualFold(v, "false"):
	case strings.EqualFold(v, "true"):
		*b = true
	default:
		return fmt.Errorf("invalid value for environment variable, %s=%s, need true or false", key, v)
	}
	*dst = b
	return nil
}

func optionalBool(b *bool) (value, found bool) {
	if b == nil {
		return false, false
	}
	return *b, true
}

// GetIgnoreConfiguredEndpoints is AWS_IGNORE_CONFIGURED_ENDPOINT_URLS.
func (c envConfig) GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error) {
	v, ok := optionalBool(c.IgnoreConfiguredEndpoints)
	return v, ok, nil
}

// GetServiceBaseEndpoint is AWS_ENDPOINT_URL_<SERVICE>: the SDK ID upper-
// cased, spaces as underscores.
func (c envConfig) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	if v := os.Getenv("AWS_ENDPOINT_URL_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_")); v != "" {
		return v, true, nil
	}
	return "", false, nil
}

// GetS3UseARNRegion is AWS_S3_USE_ARN_REGION.
func (c envConfig) GetS3UseARNRegion(context.Context) (value, ok bool, err error) {
	value, ok = optionalBool(c.S3UseARNRegion)
	return value, ok, nil
}

// GetS3DisableMultiRegionAccessPoints is AWS_S3_DISABLE_MULTIREGION_ACCESS_POINTS.
func (c envConfig) GetS3DisableMultiRegionAccessPoints(context.Context) (value, ok bool, err error) {
	value, ok = optionalBool(c.S3DisableMultiRegionAccessPoints)
	return value, ok, nil
}

// GetS3DisableExpressAuth is AWS_S3_DISABLE_EXPRESS_SESSION_AUTH.
func (c envConfig) GetS3DisableExpressAuth() (value, ok bool) {
	return optionalBool(c.S3DisableExpressAuth)
}

// GetUseDualStackEndpoint is AWS_USE_DUALSTACK_ENDPOINT.
func (c envConfig) GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error) {
	return c.UseDualStackEndpoint, c.UseDualStackEndpoint != aws.DualStackEndpointStateUnset, nil
}

// GetUseFIPSEndpoint is AWS_USE_FIPS_ENDPOINT.
func (c envConfig) GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error) {
	return c.UseFIPSEndpoint, c.UseFIPSEndpoint != aws.FIPSEndpointStateUnset, nil
}

// GetEnableEndpointDiscovery is AWS_ENABLE_ENDPOINT_DISCOVERY (DynamoDB).
func (c envConfig) GetEnableEndpointDiscovery(context.Context) (aws.EndpointDiscoveryEnableState, bool, error) {
	return c.EnableEndpointDiscovery, c.EnableEndpointDiscovery != aws.EndpointDiscoveryUnset, nil
}

// GetRetryMaxAttempts is AWS_MAX_ATTEMPTS (0: unset).
func (c envConfig) GetRetryMaxAttempts(context.Context) (int, bool, error) {
	return c.RetryMaxAttempts, c.RetryMaxAttempts != 0, nil
}

// GetRetryMode is AWS_RETRY_MODE.
func (c envConfig) GetRetryMode(context.Context) (aws.RetryMode, bool, error) {
	return c.RetryMode, c.RetryMode != "", nil
}
