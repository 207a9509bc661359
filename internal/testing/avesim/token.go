package avesim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTBearerAssertionType is the client_assertion_type of the certificate flow.
const JWTBearerAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// MaxAssertionLifetime bounds exp minus iat (or now) of a client assertion;
// identity providers reject long-lived assertions because they are bearer
// credentials.
const MaxAssertionLifetime = 10 * time.Minute

const maxTokenBody = 64 << 10

// tokenErr is an RFC 6749 §5.2 error with the HTTP status to answer.
type tokenErr struct {
	status int
	code   string
	desc   string
}

func (e *tokenErr) Error() string { return e.code + ": " + e.desc }

func badRequest(code, desc string) *tokenErr {
	return &tokenErr{status: http.StatusBadRequest, code: code, desc: desc}
}

func invalidClient(desc string) *tokenErr {
	return &tokenErr{status: http.StatusUnauthorized, code: "invalid_client", desc: desc}
}

type tokenErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

type tokenBody struct {
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	AccessToken string `json:"access_token"`
}

func tokenErrorResponse(rec *Call, e *tokenErr, basic bool) response {
	rec.Message = e.Error()
	resp := jsonResponse(e.status, tokenErrorBody{Error: e.code, Description: e.desc})
	noStore(resp.header)
	if e.status == http.StatusUnauthorized && basic {
		// RFC 6749 §5.2: a failed Basic client authentication carries a challenge.
		resp.header.Set("WWW-Authenticate", `Basic realm="avesim"`)
	}
	return resp
}

func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

func (s *Server) handleToken(r *http.Request, rec *Call) response {
	_, _, basic := r.BasicAuth()
	form, err := readTokenForm(r)
	if err == nil {
		var jti string
		jti, err = s.authenticateClient(r, form)
		if err == nil {
			err = checkGrant(form)
		}
		if err == nil {
			var tok string
			if tok, err = s.issueToken(jti); err == nil {
				resp := jsonResponse(http.StatusOK, tokenBody{
					TokenType:   "Bearer",
					ExpiresIn:   max(1, int(s.ttl/time.Second)),
					AccessToken: tok,
				})
				noStore(resp.header)
				return resp
			}
		}
	}
	var te *tokenErr
	if !errors.As(err, &te) {
		te = &tokenErr{status: http.StatusInternalServerError, code: "server_error", desc: err.Error()}
	}
	return tokenErrorResponse(rec, te, basic)
}

// readTokenForm accepts only application/x-www-form-urlencoded bodies, as
// RFC 6749 §4.4.2 requires, and rejects repeated parameters (§3.2).
func readTokenForm(r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, badRequest("invalid_request", "body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTokenBody+1))
	if err != nil {
		return nil, badRequest("invalid_request", "reading body: "+err.Error())
	}
	if len(body) > maxTokenBody {
		return nil, badRequest("invalid_request", "body too large")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badRequest("invalid_request", "malformed form body")
	}
	for k, vs := range form {
		if len(vs) > 1 {
			return nil, badRequest("invalid_request", "parameter "+k+" repeated")
		}
	}
	return form, nil
}

func checkGrant(form url.Values) error {
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		return badRequest("invalid_request", "grant_type missing")
	default:
		return badRequest("unsupported_grant_type", "grant_type "+gt+" not supported")
	}
	scopes := strings.Fields(form.Get("scope"))
	if len(scopes) == 0 {
		return badRequest("invalid_scope", "scope missing; request "+Scope)
	}
	for _, sc := range scopes {
		if sc != Scope {
			return badRequest("invalid_scope", "scope "+sc+" not granted to this client")
		}
	}
	return nil
}

// authenticateClient accepts exactly one of: HTTP Basic, client_secret in
// the form, or a jwt-bearer client assertion. It returns the assertion's jti
// (empty for secrets) so that it is consumed only when a token is issued.
func (s *Server) authenticateClient(r *http.Request, form url.Values) (string, error) {
	basicID, basicSecret, hasBasic := r.BasicAuth()
	hasSecret := form.Has("client_secret")
	hasAssertion := form.Has("client_assertion") || form.Has("client_assertion_type")
	n := 0
	for _, b := range []bool{hasBasic, hasSecret, hasAssertion} {
		if b {
			n++
		}
	}
	if n > 1 {
		return "", badRequest("invalid_request", "more than one client authentication method")
	}
	switch {
	case hasBasic:
		// RFC 6749 §2.3.1: the id and secret are form-encoded before Basic.
		id, err1 := url.QueryUnescape(basicID)
		secret, err2 := url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return "", invalidClient("malformed Basic credentials")
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return "", badRequest("invalid_request", "client_id differs from Basic user")
		}
		return "", s.checkSecret(id, secret)
	case hasSecret:
		return "", s.checkSecret(form.Get("client_id"), form.Get("client_secret"))
	case hasAssertion:
		return s.checkAssertion(r, form)
	default:
		return "", invalidClient("no client authentication")
	}
}

func (s *Server) checkSecret(id, secret string) error {
	if s.opts.ClientSecret == "" {
		return invalidClient("client secret authentication is not enabled for this client")
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.opts.ClientID))
	secOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret))
	if idOK&secOK != 1 {
		return invalidClient("unknown client or wrong secret")
	}
	return nil
}

// checkAssertion verifies an RFC 7523 client assertion against the
// configured certificate.
func (s *Server) checkAssertion(r *http.Request, form url.Values) (string, error) {
	cert := s.opts.Certificate
	if cert == nil {
		return "", invalidClient("certificate authentication is not enabled for this client")
	}
	if got := form.Get("client_assertion_type"); got != JWTBearerAssertionType {
		return "", invalidClient("client_assertion_type must be " + JWTBearerAssertionType)
	}
	assertion := form.Get("client_assertion")
	if assertion == "" {
		return "", invalidClient("client_assertion missing")
	}
	id := s.opts.ClientID
	if fid := form.Get("client_id"); fid != "" && fid != id {
		return "", invalidClient("unknown client")
	}
	now := s.now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return "", invalidClient("registered certificate is not valid now")
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(assertion, &claims,
		func(*jwt.Token) (any, error) { return cert.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(id),
		jwt.WithSubject(id),
		jwt.WithAudience(requestTokenURL(r)),
		jwt.WithTimeFunc(s.now),
	)
	if err != nil {
		return "", invalidClient("client assertion rejected: " + err.Error())
	}
	start := now
	if claims.IssuedAt != nil && claims.IssuedAt.Before(start) {
		start = claims.IssuedAt.Time
	}
	if claims.NotBefore != nil && claims.NotBefore.Before(start) {
		start = claims.NotBefore.Time
	}
	if life := claims.ExpiresAt.Sub(start); life > MaxAssertionLifetime {
		return "", invalidClient(fmt.Sprintf("client assertion lifetime %s exceeds %s", life, MaxAssertionLifetime))
	}
	if claims.ID == "" {
		return "", invalidClient("client assertion has no jti")
	}
	return claims.ID, nil
}

// requestTokenURL is the token URL as this request reached the server; a
// client assertion's aud must name it.
func requestTokenURL(r *http.Request) string {
	return requestBase(r) + tokenPath
}

// issueToken consumes jti (if any) and records a new access token; both
// happen under one lock so that two concurrent replays cannot both win.
func (s *Server) issueToken(jti string) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if jti != "" {
		if _, used := s.jtis[jti]; used {
			return "", &tokenErr{status: http.StatusUnauthorized, code: "invalid_grant", desc: "client assertion jti already used"}
		}
		s.jtis[jti] = struct{}{}
	}
	s.tokens[tok] = s.now().Add(s.ttl)
	s.tokensIssued++
	s.faults.issued = append(s.faults.issued, tok)
	return tok, nil
}

func (s *Server) tokenValid(tok string) bool {
	if tok == "" {
		return false
	}
	s.mu.Lock()
	exp, ok := s.tokens[tok]
	s.mu.Unlock()
	return ok && s.now().Before(exp)
}

// checkCertificate refuses certificates AvePoint would not register for
// JWT client authentication.
func checkCertificate(c *x509.Certificate) error {
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
		return fmt.Errorf("avesim: certificate key is %T, want RSA", c.PublicKey)
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return errors.New("avesim: certificate key usage does not allow digital signature")
	}
	return nil
}
