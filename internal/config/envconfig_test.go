package config

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// envConfigVars are every variable config.NewEnvConfig reads.
var envConfigVars = []string{
	"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN", "AWS_ACCOUNT_ID",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
	"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
	"AWS_CA_BUNDLE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_SDK_UA_APP_ID",
	"AWS_DISABLE_REQUEST_COMPRESSION", "AWS_REQUEST_MIN_COMPRESSION_SIZE_BYTES", "AWS_DISABLE_CLOCK_SKEW_CORRECTION",
	"AWS_ENABLE_ENDPOINT_DISCOVERY", "AWS_S3_USE_ARN_REGION", "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
	"AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_V1_DISABLED", "AWS_S3_DISABLE_MULTIREGION_ACCESS_POINTS",
	"AWS_USE_DUALSTACK_ENDPOINT", "AWS_USE_FIPS_ENDPOINT", "AWS_DEFAULTS_MODE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
	"AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_S3_DISABLE_EXPRESS_SESSION_AUTH", "AWS_ACCOUNT_ID_ENDPOINT_MODE",
	"AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION", "AWS_AUTH_SCHEME_PREFERENCE", "AWS_RESTRICT_FILE_PERMISSIONS",
	"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SFN",
}

// TestEnvConfigIsTheSDKs: readEnvConfig reads every variable as the SDK's
// config.NewEnvConfig does — the same values, the same provider answers to
// the service clients, the same refusals (same message, but for one the
// SDK garbles) — for valid, odd-case and invalid values of each. An SDK
// upgrade that changes a rule fails here.
func TestEnvConfigIsTheSDKs(t *testing.T) {
	base := map[string]string{"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET", "AWS_SESSION_TOKEN": "TOKEN", "AWS_REGION": "eu-west-1"}
	cases := []map[string]string{
		{}, base,
		{"AWS_ACCESS_KEY": "A2", "AWS_SECRET_KEY": "S2", "AWS_ACCOUNT_ID": "123456789012", "AWS_DEFAULT_REGION": "us-west-2"},
		{"AWS_ACCESS_KEY_ID": "A", "AWS_ACCESS_KEY": "B", "AWS_SECRET_KEY": "S", "AWS_SESSION_TOKEN": "T", "AWS_ACCOUNT_ID": "1"},
		{"AWS_ACCESS_KEY_ID": "only"}, {"AWS_SESSION_TOKEN": "T", "AWS_ACCOUNT_ID": "1"},
		{"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1/c", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/r", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "tok"},
		{"AWS_CA_BUNDLE": "/x/ca.pem", "AWS_SDK_UA_APP_ID": "app", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
			"AWS_ENDPOINT_URL_S3": "http://s3", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://sm", "AWS_ENDPOINT_URL_SFN": "http://sfn"},
	}
	values := map[string][]string{
		"AWS_DISABLE_REQUEST_COMPRESSION":          {"true", "FALSE", "yes"},
		"AWS_REQUEST_MIN_COMPRESSION_SIZE_BYTES":   {"0", "10485760", "10485761", "-1", "x"},
		"AWS_DISABLE_CLOCK_SKEW_CORRECTION":        {"True", "1"},
		"AWS_ENABLE_ENDPOINT_DISCOVERY":            {"true", "False", "AUTO", "sometimes"},
		"AWS_S3_USE_ARN_REGION":                    {"true", "false", "on"},
		"AWS_EC2_METADATA_DISABLED":                {"true", "x"},
		"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE":   {"IPv4", "ipv6", " IPv6 ", " ", "IPv5"},
		"AWS_EC2_METADATA_SERVICE_ENDPOINT":        {"http://169.254.169.254"},
		"AWS_EC2_METADATA_V1_DISABLED":             {"true", "2"},
		"AWS_S3_DISABLE_MULTIREGION_ACCESS_POINTS": {"TRUE", "false", "n"},
		"AWS_USE_DUALSTACK_ENDPOINT":               {"true", "FALSE", "auto"},
		"AWS_USE_FIPS_ENDPOINT":                    {"True", "false", "1"},
		"AWS_DEFAULTS_MODE":                        {"standard", "IN-REGION", "auto", "fast"},
		"AWS_MAX_ATTEMPTS":                         {"3", "-2", "0", "many", "99999999999999999999"},
		"AWS_RETRY_MODE":                           {"standard", "ADAPTIVE", "eager"},
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS":      {"true", "false", "maybe"},
		"AWS_S3_DISABLE_EXPRESS_SESSION_AUTH":      {"true", "False", "0"},
		"AWS_ACCOUNT_ID_ENDPOINT_MODE":             {"preferred", "required", "disabled", "Required", "x"},
		"AWS_REQUEST_CHECKSUM_CALCULATION":         {"when_supported", "WHEN_REQUIRED", "always"},
		"AWS_RESPONSE_CHECKSUM_VALIDATION":         {"When_Supported", "when_required", "never"},
		"AWS_AUTH_SCHEME_PREFERENCE":               {"sigv4, sigv4a"},
		"AWS_RESTRICT_FILE_PERMISSIONS":            {"user_read_write", "UNRESTRICTED", "open"},
		"AWS_PROFILE":                              {"dev"},
	}
	for k, vs := range values {
		for _, v := range vs {
			m := map[string]string{k: v}
			for bk, bv := range base {
				m[bk] = bv
			}
			cases = append(cases, m)
		}
	}
	// Two invalid at once: the first the SDK checks is the one named.
	cases = append(cases, map[string]string{"AWS_MAX_ATTEMPTS": "x", "AWS_USE_FIPS_ENDPOINT": "x", "AWS_RESTRICT_FILE_PERMISSIONS": "x"},
		map[string]string{"AWS_RETRY_MODE": "x", "AWS_REQUEST_CHECKSUM_CALCULATION": "x"})

	ctx := context.Background()
	for _, env := range cases {
		for _, k := range envConfigVars {
			t.Setenv(k, env[k])
		}
		want, wantErr := awsconfig.NewEnvConfig()
		got, gotErr := readEnvConfig()
		name := describeEnv(env)
		if (wantErr == nil) != (gotErr == nil) {
			t.Errorf("%s: error %v, the SDK's %v", name, gotErr, wantErr)
			continue
		}
		if wantErr != nil {
			// The SDK prints the compression-size bound's value with %q.
			if gotErr.Error() != wantErr.Error() && !strings.Contains(wantErr.Error(), "min request compression size") {
				t.Errorf("%s: error %q, the SDK's %q", name, gotErr, wantErr)
			}
			continue
		}
		type fields struct {
			Creds                                          aws.Credentials
			Full, Rel, Token, Region, CA, AppID, Base      string
			Attempts                                       int
			Mode                                           aws.RetryMode
			ReqSum                                         aws.RequestChecksumCalculation
			RespSum                                        aws.ResponseChecksumValidation
			Ignore, ARN, MRAP, Express, IgnoreOK, ARNOK    bool
			MRAPOK, ExpressOK, DualOK, FIPSOK, DiscoveryOK bool
			Dual                                           aws.DualStackEndpointState
			FIPS                                           aws.FIPSEndpointState
			Discovery                                      aws.EndpointDiscoveryEnableState
			Endpoints                                      [4]string
		}
		type source interface {
			GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error)
			GetServiceBaseEndpoint(context.Context, string) (string, bool, error)
			GetS3UseARNRegion(context.Context) (bool, bool, error)
			GetS3DisableMultiRegionAccessPoints(context.Context) (bool, bool, error)
			GetS3DisableExpressAuth() (bool, bool)
			GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error)
			GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error)
			GetEnableEndpointDiscovery(context.Context) (aws.EndpointDiscoveryEnableState, bool, error)
		}
		read := func(creds aws.Credentials, full, rel, token, region, ca, app, base string, attempts int, mode aws.RetryMode,
			req aws.RequestChecksumCalculation, resp aws.ResponseChecksumValidation, s source) fields {
			f := fields{Creds: creds, Full: full, Rel: rel, Token: token, Region: region, CA: ca, AppID: app, Base: base, Attempts: attempts, Mode: mode, ReqSum: req, RespSum: resp}
			f.Ignore, f.IgnoreOK, _ = s.GetIgnoreConfiguredEndpoints(ctx)
			f.ARN, f.ARNOK, _ = s.GetS3UseARNRegion(ctx)
			f.MRAP, f.MRAPOK, _ = s.GetS3DisableMultiRegionAccessPoints(ctx)
			f.Express, f.ExpressOK = s.GetS3DisableExpressAuth()
			f.Dual, f.DualOK, _ = s.GetUseDualStackEndpoint(ctx)
			f.FIPS, f.FIPSOK, _ = s.GetUseFIPSEndpoint(ctx)
			f.Discovery, f.DiscoveryOK, _ = s.GetEnableEndpointDiscovery(ctx)
			for i, id := range []string{"S3", "Secrets Manager", "DynamoDB", "SFN"} {
				f.Endpoints[i], _, _ = s.GetServiceBaseEndpoint(ctx, id)
			}
			return f
		}
		w := read(want.Credentials, want.ContainerCredentialsEndpoint, want.ContainerCredentialsRelativePath, want.ContainerAuthorizationToken,
			want.Region, want.CustomCABundle, want.AppID, want.BaseEndpoint, want.RetryMaxAttempts, want.RetryMode,
			want.RequestChecksumCalculation, want.ResponseChecksumValidation, want)
		g := read(got.Credentials, got.ContainerCredentialsEndpoint, got.ContainerCredentialsRelativePath, got.ContainerAuthorizationToken,
			got.Region, got.CustomCABundle, got.AppID, got.BaseEndpoint, got.RetryMaxAttempts, got.RetryMode,
			got.RequestChecksumCalculation, got.ResponseChecksumValidation, got)
		if g != w {
			t.Errorf("%s:\n got %+v\nwant %+v", name, g, w)
		}
	}
}

func describeEnv(env map[string]string) string {
	var parts []string
	for k, v := range env {
		if k != "AWS_SECRET_ACCESS_KEY" && k != "AWS_SESSION_TOKEN" {
			parts = append(parts, k+"="+v)
		}
	}
	return "{" + strings.Join(parts, " ") + "}"
}
