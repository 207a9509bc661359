// Package secrets fetches the AvePoint client credentials from AWS Secrets
// Manager and caches them for the life of a warm Lambda container.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
)

const (
	// DefaultTTL bounds how long a rotated secret can go unnoticed when no
	// authentication failure prompts an Invalidate, while keeping Secrets
	// Manager calls (billed per call) to a few per hour per container.
	DefaultTTL = 15 * time.Minute

	// fetchTimeout bounds one GetSecretValue, retries included. The fetch
	// runs on a context detached from the caller that started it, because
	// other callers wait for the same fetch (see Credentials).
	fetchTimeout = 30 * time.Second
)

// SecretsAPI is the part of the Secrets Manager client the Provider uses.
type SecretsAPI interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Provider hands out the AvePoint credentials stored in one secret. It is
// safe for concurrent use.
type Provider struct {
	client   SecretsAPI
	secretID string
	ttl      time.Duration
	now      func() time.Time

	mu        sync.Mutex
	creds     avepoint.Credentials
	fetchedAt time.Time
	cached    bool
	inflight  *fetch // nil when no fetch runs
}

// fetch is one GetSecretValue shared by every caller that arrives while
// it runs.
type fetch struct {
	done  chan struct{} // closed when creds and err are set
	creds avepoint.Credentials
	err   error
}

// New returns a Provider for secretID (name or ARN). ttl 0 means
// DefaultTTL; now nil means time.Now (tests pass a fake clock).
func New(client SecretsAPI, secretID string, ttl time.Duration, now func() time.Time) (*Provider, error) {
	if client == nil {
		return nil, errors.New("secrets: nil Secrets Manager client")
	}
	if secretID == "" {
		return nil, errors.New("secrets: secret id is required")
	}
	if ttl < 0 {
		return nil, fmt.Errorf("secrets: negative ttl %s", ttl)
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Provider{client: client, secretID: secretID, ttl: ttl, now: now}, nil
}

// Credentials returns the credentials, from the cache while it is younger
// than the TTL. Concurrent callers that miss the cache share one fetch;
// each stops waiting when its own ctx ends. Failures are not cached: the
// next call fetches again.
//
// Errors are *failure.AuthError when the secret cannot yield usable
// credentials (missing, access denied, not the documented JSON) and
// *failure.TransientError when fetching it failed in a way worth retrying
// (throttling, Secrets Manager or network trouble, ctx ended). Neither
// ever contains secret material.
func (p *Provider) Credentials(ctx context.Context) (avepoint.Credentials, error) {
	p.mu.Lock()
	if p.cached && p.now().Sub(p.fetchedAt) < p.ttl {
		c := p.creds
		p.mu.Unlock()
		return c, nil
	}
	f := p.inflight
	if f == nil {
		f = &fetch{done: make(chan struct{})}
		p.inflight = f
		// Detached from ctx: if the first caller gives up, the others still
		// get their answer. WithoutCancel keeps ctx's values (trace ids).
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		go func() {
			defer cancel()
			p.run(fctx, f)
		}()
	}
	p.mu.Unlock()

	select {
	case <-f.done:
		return f.creds, f.err
	case <-ctx.Done():
		return avepoint.Credentials{}, &failure.TransientError{
			Reason: fmt.Sprintf("waiting for secret %s: %v", p.secretID, context.Cause(ctx)),
		}
	}
}

// run performs fetch f and publishes its result.
func (p *Provider) run(ctx context.Context, f *fetch) {
	f.creds, f.err = p.get(ctx)
	p.mu.Lock()
	// Only the current fetch may fill the cache: after an Invalidate a
	// fetch that started earlier may carry the very value that failed.
	if p.inflight == f {
		p.inflight = nil
		if f.err == nil {
			p.creds, p.fetchedAt, p.cached = f.creds, p.now(), true
		}
	}
	p.mu.Unlock()
	close(f.done)
}

// Invalidate drops the cached credentials, and disowns a fetch in flight,
// so that the next Credentials call reads the secret afresh. Call it after
// AvePoint refused the credentials: the secret may have been rotated.
func (p *Provider) Invalidate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cached = false
	p.creds = avepoint.Credentials{}
	p.inflight = nil
}

// get reads and parses the secret.
func (p *Provider) get(ctx context.Context) (avepoint.Credentials, error) {
	out, err := p.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(p.secretID)})
	if err != nil {
		return avepoint.Credentials{}, p.fetchError(err)
	}
	var raw []byte
	switch {
	case out.SecretString != nil:
		raw = []byte(*out.SecretString)
	case out.SecretBinary != nil:
		raw = out.SecretBinary
	default:
		return avepoint.Credentials{}, p.authError("has no value")
	}
	return p.parse(raw)
}

// parse decodes the secret JSON. Its error messages are written here, not
// taken from encoding/json: a syntax error's text quotes the offending
// character of the secret.
func (p *Provider) parse(raw []byte) (avepoint.Credentials, error) {
	var c avepoint.Credentials
	if err := json.Unmarshal(raw, &c); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return avepoint.Credentials{}, p.authError(fmt.Sprintf("is not valid JSON (syntax error at byte %d)", syn.Offset))
		case errors.As(err, &typ) && typ.Field != "":
			return avepoint.Credentials{}, p.authError(fmt.Sprintf("field %q is a JSON %s, want a string", typ.Field, typ.Value))
		default:
			return avepoint.Credentials{}, p.authError(`is not a JSON object like {"clientId":…,"clientSecret":…}`)
		}
	}
	if err := c.Validate(); err != nil {
		var ae *failure.AuthError
		if errors.As(err, &ae) {
			return avepoint.Credentials{}, p.authError(ae.Reason)
		}
		return avepoint.Credentials{}, err
	}
	return c, nil
}

// fetchError maps a GetSecretValue failure: errors no retry can fix are
// AuthError (the credentials cannot be had), the rest TransientError. The
// SDK's error text names the operation, code and request id; it carries no
// secret value.
func (p *Provider) fetchError(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure",
			"InvalidRequestException", "InvalidParameterException":
			return p.authError(fmt.Sprintf("cannot be read: %s: %s", api.ErrorCode(), api.ErrorMessage()))
		}
	}
	return &failure.TransientError{Reason: fmt.Sprintf("fetching secret %s: %v", p.secretID, err)}
}

func (p *Provider) authError(reason string) *failure.AuthError {
	return &failure.AuthError{Reason: fmt.Sprintf("secret %s %s", p.secretID, reason)}
}
