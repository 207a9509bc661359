package avepoint

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
)

// Backoff bounds the client's own retries of throttled and transient
// failures. Retries stop early rather than sleep past the invocation's
// deadline: the state machine's Retry takes over from there.
type Backoff struct {
	MaxAttempts int           // attempts in all, first included (default 4)
	BaseDelay   time.Duration // first backoff ceiling (default 500ms)
	MaxDelay    time.Duration // cap on one wait, Retry-After included (default 20s)
	// DeadlineMargin is left free before the context's deadline so the
	// function can still answer with a typed error (default 2s).
	DeadlineMargin time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.MaxAttempts <= 0 {
		b.MaxAttempts = 4
	}
	if b.BaseDelay <= 0 {
		b.BaseDelay = 500 * time.Millisecond
	}
	if b.MaxDelay <= 0 {
		b.MaxDelay = 20 * time.Second
	}
	if b.DeadlineMargin <= 0 {
		b.DeadlineMargin = 2 * time.Second
	}
	return b
}

// delay is the wait before attempt n+1 (n counts from 1): Retry-After when
// the server gave one, else exponential backoff with full jitter.
func (b Backoff) delay(n int, hint time.Duration) time.Duration {
	if hint > 0 {
		return min(hint, b.MaxDelay)
	}
	ceiling := b.BaseDelay << min(n-1, 16)
	if ceiling <= 0 || ceiling > b.MaxDelay {
		ceiling = b.MaxDelay
	}
	return time.Duration(rand.Int64N(int64(ceiling)) + 1)
}

// retry runs op until it succeeds, fails for good, or the attempts or the
// deadline run out. A 401 drops the cached token and is retried once at
// once: the token may have been revoked or the app's secret rotated.
func (c *Client) retry(ctx context.Context, op string, fn func(context.Context) error) error {
	refreshed := false
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		var authErr *failure.AuthError
		if errors.As(err, &authErr) && authErr.Status == http.StatusUnauthorized && !authErr.AtTokenEndpoint && !refreshed {
			refreshed = true
			c.tokens.invalidate()
			c.log.DebugContext(ctx, "token refused, refreshing", "op", op)
			attempt--
			continue
		}
		var hint time.Duration
		var throttled *failure.ThrottledError
		var transient *failure.TransientError
		switch {
		case errors.As(err, &throttled):
			// The hint is honoured up to MaxDelay; the error states the
			// wait used, not a server's "come back in 73 years".
			throttled.RetryAfter = min(throttled.RetryAfter, c.backoff.MaxDelay)
			hint = throttled.RetryAfter
		case errors.As(err, &transient):
		default:
			return err
		}
		if attempt >= c.backoff.MaxAttempts {
			return err
		}
		wait := c.backoff.delay(attempt, hint)
		if deadline, ok := ctx.Deadline(); ok && c.now().Add(wait+c.backoff.DeadlineMargin).After(deadline) {
			c.log.WarnContext(ctx, "not retrying past the invocation deadline", "op", op, "attempt", attempt, "error", err.Error())
			return err
		}
		c.log.InfoContext(ctx, "retrying avepoint call", "op", op, "attempt", attempt, "wait", wait.String(), "error", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// maxRetryAfter caps a parsed Retry-After, in either form, so that no
// header can make a duration overflow or a message absurd; the client's
// wait is capped further by Backoff.MaxDelay.
const maxRetryAfter = 24 * time.Hour

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date,
// at most maxRetryAfter. Anything else, or a date in the past, yields 0
// (no hint).
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		// Cap before converting so a huge value cannot overflow.
		return time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}
