package avepoint

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/insights-export/insights-export/internal/failure"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Scope is the Insights permission the app registration must hold.
const Scope = "insights.graph.readwrite.all"

const (
	assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// assertionLifetime is short on purpose: the assertion is a bearer
	// credential in its own right until it expires.
	assertionLifetime = 5 * time.Minute
	// tokenMargin renews a token this long before it expires, so a token is
	// never sent with seconds to live and rejected mid-invocation.
	tokenMargin = 2 * time.Minute
)

// CredentialSource yields the app's credentials. Invalidate asks for a
// fresh read on the next call: the token endpoint refused the cached ones,
// which is what a rotated secret looks like.
type CredentialSource interface {
	Credentials(ctx context.Context) (Credentials, error)
	Invalidate()
}

// StaticCredentials is a CredentialSource that never changes, for tests and
// local runs with credentials given on the command line.
type StaticCredentials Credentials

func (s StaticCredentials) Credentials(context.Context) (Credentials, error) {
	c := Credentials(s)
	return c, c.Validate()
}

func (StaticCredentials) Invalidate() {}

// tokenCache holds one access token per container and shares it across warm
// invocations until it nears expiry. Each fetch runs under the context of
// the call that needs it, so no token request outlives its invocation and
// no token source is tied to a finished invocation's context.
type tokenCache struct {
	creds      CredentialSource
	tokenURL   string
	httpClient *http.Client
	now        func() time.Time

	mu      sync.Mutex
	current *oauth2.Token
}

func (t *tokenCache) token(ctx context.Context) (*oauth2.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.current != nil && t.now().Add(tokenMargin).Before(t.current.Expiry) {
		return t.current, nil
	}
	tok, err := t.fetch(ctx)
	var authErr *failure.AuthError
	if errors.As(err, &authErr) && !isRedirect(authErr.Status) {
		// Refused credentials may have been rotated since we read them. (A
		// redirect is no verdict on the credentials: re-reading them would
		// only ask the same question again.)
		t.creds.Invalidate()
		tok, err = t.fetch(ctx)
	}
	if err != nil {
		return nil, err
	}
	t.current = tok
	return tok, nil
}

// invalidate drops the cached token after the API refused it (401).
func (t *tokenCache) invalidate() {
	t.mu.Lock()
	t.current = nil
	t.mu.Unlock()
}

func (t *tokenCache) fetch(ctx context.Context) (*oauth2.Token, error) {
	creds, err := t.creds.Credentials(ctx)
	if err != nil {
		return nil, err
	}
	if err := creds.Validate(); err != nil {
		return nil, err
	}
	cfg := clientcredentials.Config{
		ClientID:     creds.ClientID,
		ClientSecret: creds.ClientSecret,
		TokenURL:     t.tokenURL,
		Scopes:       []string{Scope},
		// AvePoint documents the credentials as form fields, not Basic auth.
		AuthStyle: oauth2.AuthStyleInParams,
	}
	if creds.Certificate != "" {
		assertion, err := signAssertion(creds, t.tokenURL, t.now())
		if err != nil {
			return nil, err
		}
		cfg.EndpointParams = url.Values{
			"client_assertion_type": {assertionType},
			"client_assertion":      {assertion},
		}
	}
	tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, t.httpClient))
	if err != nil {
		return nil, classifyTokenError(err, t.now())
	}
	if tok.Expiry.IsZero() {
		// No expires_in: assume AvePoint's documented hour rather than
		// caching forever.
		tok.Expiry = t.now().Add(time.Hour)
	}
	return tok, nil
}

// maxTokenErrorField bounds the identity service's error code in an
// AuthError: it is the service's text, of any length.
const maxTokenErrorField = 200

func classifyTokenError(err error, now time.Time) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		code := re.Response.StatusCode
		reason := "token endpoint refused the credentials"
		// error_description is left out: it is free text that may echo what
		// was submitted (client id, secret), and no secret may reach an
		// error message. The code ("invalid_client") says enough.
		if c := clip(re.ErrorCode, maxTokenErrorField); c != "" {
			reason += ": " + c
		}
		switch {
		case isRedirect(code):
			// Not followed (see New): the credentials stay with the
			// configured host. A moved identity service is a configuration
			// matter (AVEPOINT_TOKEN_URL), not something to chase.
			return &failure.AuthError{Status: code, Reason: fmt.Sprintf("token endpoint answered HTTP %d (redirects are not followed)", code), AtTokenEndpoint: true}
		case code == http.StatusTooManyRequests:
			return &failure.ThrottledError{RetryAfter: retryAfter(re.Response.Header.Get("Retry-After"), now), Reason: "token endpoint throttled"}
		case code >= 500:
			return &failure.TransientError{Status: code, Reason: "token endpoint unavailable"}
		default:
			return &failure.AuthError{Status: code, Reason: reason, AtTokenEndpoint: true}
		}
	}
	// No answer at all (refused, reset, timed out, cancelled): a network
	// fault, worth another try.
	var ue *url.Error
	if errors.As(err, &ue) {
		return &failure.TransientError{Reason: "token endpoint unreachable: " + errorText(err)}
	}
	// A 2xx answer oauth2 could not use. Its errors here are plain text, so
	// they are told apart by it (pinned by TestUnusableTokenAnswerIsAProtocolError
	// and the oauth2 version in go.mod).
	msg := err.Error()
	switch {
	case strings.Contains(msg, "missing access_token"):
		// A ProtocolError, not an AuthError: the credentials were accepted
		// (2xx), the answer is what breaks the contract, and neither a new
		// secret nor a retry will mend it.
		return &failure.ProtocolError{Reason: "token endpoint answer has no access_token"}
	case strings.HasPrefix(msg, "oauth2: cannot fetch token"):
		// The answer's body was cut off while being read.
		return &failure.TransientError{Reason: "token endpoint answer cut short: " + errorText(err)}
	default:
		return &failure.ProtocolError{Reason: "token endpoint answer is not a token response: " + clip(msg, maxTokenErrorField)}
	}
}

func isRedirect(code int) bool { return code >= 300 && code <= 399 }

// signAssertion builds the RS256 client assertion AvePoint expects for
// certificate credentials: iss = sub = client id, aud = token URL, a unique
// jti and a lifetime of minutes.
func signAssertion(creds Credentials, tokenURL string, now time.Time) (string, error) {
	cert, key, err := parseCertificate(creds.Certificate, now)
	if err != nil {
		return "", err
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("client assertion id: %w", err)
	}
	claims := jwt.RegisteredClaims{
		Issuer:    creds.ClientID,
		Subject:   creds.ClientID,
		Audience:  jwt.ClaimStrings{tokenURL},
		ID:        hex.EncodeToString(jti),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(assertionLifetime)),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	// x5t lets the identity provider pick the right certificate when an app
	// has several registered (during rotation).
	thumb := sha1.Sum(cert.Raw)
	tok.Header["x5t"] = base64.RawURLEncoding.EncodeToString(thumb[:])
	signed, err := tok.SignedString(key)
	if err != nil {
		return "", &failure.AuthError{Reason: "credentials: cannot sign client assertion"}
	}
	return signed, nil
}

// parseCertificate reads the certificate and its RSA private key from one
// PEM bundle and checks they can sign an assertion AvePoint will accept.
// Reasons never quote the PEM content.
func parseCertificate(bundle string, now time.Time) (*x509.Certificate, *rsa.PrivateKey, error) {
	var cert *x509.Certificate
	var key crypto.PrivateKey
	rest := []byte(bundle)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			if cert != nil {
				continue // the first certificate is the leaf; the rest is its chain
			}
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, nil, &failure.AuthError{Reason: "credentials: certificate is not valid X.509"}
			}
			cert = c
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, nil, &failure.AuthError{Reason: "credentials: private key is not valid PKCS#8"}
			}
			key = k
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, nil, &failure.AuthError{Reason: "credentials: private key is not valid PKCS#1"}
			}
			key = k
		case "ENCRYPTED PRIVATE KEY":
			return nil, nil, &failure.AuthError{Reason: "credentials: encrypted private keys are not supported; store the key unencrypted in the secret"}
		}
	}
	if cert == nil {
		return nil, nil, &failure.AuthError{Reason: "credentials: certificate has no CERTIFICATE PEM block"}
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, &failure.AuthError{Reason: "credentials: certificate needs an RSA private key (PRIVATE KEY or RSA PRIVATE KEY block) for RS256"}
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&rsaKey.PublicKey) {
		return nil, nil, &failure.AuthError{Reason: "credentials: private key does not match the certificate"}
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, nil, &failure.AuthError{Reason: "credentials: certificate key usage does not allow digital signature"}
	}
	if now.After(cert.NotAfter) {
		return nil, nil, &failure.AuthError{Reason: "credentials: certificate expired on " + cert.NotAfter.UTC().Format(time.RFC3339)}
	}
	return cert, rsaKey, nil
}
