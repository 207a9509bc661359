package avepoint

import (
	"log/slog"
	"strings"

	"github.com/insights-export/insights-export/internal/failure"
)

// Credentials are the AvePoint app registration's client credentials, as
// stored in the Secrets Manager secret: a client id with either a client
// secret or a PEM certificate and private key.
type Credentials struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret,omitempty"`
	Certificate  string `json:"certificate,omitempty"`
}

// Validate reports credentials that can never authenticate.
func (c Credentials) Validate() error {
	switch {
	case strings.TrimSpace(c.ClientID) == "":
		return &failure.AuthError{Reason: "credentials: clientId is empty"}
	case c.ClientSecret == "" && c.Certificate == "":
		return &failure.AuthError{Reason: "credentials: need clientSecret or certificate"}
	case c.ClientSecret != "" && c.Certificate != "":
		return &failure.AuthError{Reason: "credentials: give clientSecret or certificate, not both"}
	}
	return nil
}

// Kind names the credential kind for logs: "secret" or "certificate".
func (c Credentials) Kind() string {
	if c.Certificate != "" {
		return "certificate"
	}
	return "secret"
}

// String and LogValue keep the secret material out of any log line or
// error message that formats the struct by accident.
func (c Credentials) String() string {
	return "avepoint.Credentials{clientId:" + c.ClientID + ", kind:" + c.Kind() + "}"
}

func (c Credentials) GoString() string { return c.String() }

func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("clientId", c.ClientID), slog.String("kind", c.Kind()))
}
