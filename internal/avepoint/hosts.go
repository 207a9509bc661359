package avepoint

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/insights-export/insights-export/internal/failure"
)

// Endpoints are the two hosts a tenant talks to: the Graph API base URL
// (per data center) and the OAuth2 token URL (per environment).
type Endpoints struct {
	APIURL   string
	TokenURL string
}

const (
	tokenCommercial = "https://identity.avepointonlineservices.com/connect/token"
	tokenGov        = "https://identity-gov.avepointonlineservices.com/connect/token"
	tokenAOS2       = "https://identity-aos2.avepointonlineservices.com/connect/token"
)

// regionCodes are AvePoint's data-center codes (Azure, then GCP). There is
// no "US West" host; FedRAMP has no code and is reached by explicit URLs.
var regionCodes = []string{
	"au", "sg", "ca", "ne", "we", "fr", "de", "jp", "kr", "ch", "uk", "us", "uae", "za", "qa", "gov", "aos2",
	"gcp-au", "gcp-jp", "gcp-us", "gcp-we", "gcp-kr",
}

// RegionCodes lists the accepted region codes.
func RegionCodes() []string { return append([]string(nil), regionCodes...) }

// ResolveEndpoints turns a region code and optional explicit URLs into the
// hosts to call. An explicit URL wins over the region's; the token URL
// follows the region's environment (commercial, gov, aos2).
func ResolveEndpoints(region, apiURL, tokenURL string) (Endpoints, error) {
	region = strings.ToLower(strings.TrimSpace(region))
	var e Endpoints
	if region != "" {
		known := false
		for _, c := range regionCodes {
			if c == region {
				known = true
				break
			}
		}
		if !known {
			return Endpoints{}, &failure.ValidationError{Field: "AVEPOINT_REGION", Reason: fmt.Sprintf("unknown region code %q (want one of %s)", region, strings.Join(regionCodes, " "))}
		}
		e.APIURL = "https://graph-" + region + ".avepointonlineservices.com"
		switch region {
		case "gov":
			e.TokenURL = tokenGov
		case "aos2":
			e.TokenURL = tokenAOS2
		default:
			e.TokenURL = tokenCommercial
		}
	}
	if apiURL != "" {
		e.APIURL = apiURL
	}
	if tokenURL != "" {
		e.TokenURL = tokenURL
	}
	if e.APIURL == "" || e.TokenURL == "" {
		return Endpoints{}, &failure.ValidationError{Field: "AVEPOINT_REGION", Reason: "give a region code or both AVEPOINT_API_URL and AVEPOINT_TOKEN_URL"}
	}
	api, err := checkURL("AVEPOINT_API_URL", e.APIURL)
	if err != nil {
		return Endpoints{}, err
	}
	if _, err := checkURL("AVEPOINT_TOKEN_URL", e.TokenURL); err != nil {
		return Endpoints{}, err
	}
	e.APIURL = strings.TrimRight(api.String(), "/")
	return e, nil
}

// checkURL accepts https URLs, and plain http only on loopback: tokens and
// activity data must never cross a network in clear, but local simulators
// and tests listen on 127.0.0.1 without TLS.
func checkURL(field, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, &failure.ValidationError{Field: field, Reason: fmt.Sprintf("%q is not an absolute http(s) URL without credentials, query or fragment", raw)}
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, &failure.ValidationError{Field: field, Reason: fmt.Sprintf("%q uses plain http to a non-loopback host; use https", raw)}
		}
	default:
		return nil, &failure.ValidationError{Field: field, Reason: fmt.Sprintf("%q: scheme must be https", raw)}
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
