package api

// How POST /exports maps a request onto an execution name, so that a retry
// finds the execution the first request started.
//
// The one atomic operation the API has is Step Functions' own: an
// execution name is unique per state machine for 90 days, so a
// StartExecution of a taken name fails with ExecutionAlreadyExists (or,
// for a running execution with the very same input, returns that
// execution). The API may start and read executions and nothing else
// (template.yaml, ApiFunction), so every guarantee below rests on that
// uniqueness; where it cannot reach, the comments say so.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// ContentWindow is the unit of deduplication without an Idempotency-Key:
// an identical request replays the latest export of the same content while
// that export is younger than two of these (contentReplay), and starts a
// new export after that.
const ContentWindow = 15 * time.Minute

// contentReplay is how long an export replays identical requests without
// a key: 30 minutes, the longest the 15-minute slots used before replayed,
// so nothing that was replayed then starts anew now.
const contentReplay = 2 * ContentWindow

// contentEpoch is how long one chain of content names lasts (see
// startContent). It must be at least contentReplay, so that only the
// previous epoch's chain can hold a recent export, and short enough that
// nothing of the previous epoch's chain has expired (90 days).
const contentEpoch = 7 * 24 * time.Hour

// maxGallop bounds the search for a chain's end: 2^maxGallop generations,
// far more than an epoch can hold (one per contentReplay).
const maxGallop = 20

// The execution input of a keyed request says whether the server pinned
// a value the client left open (request.Request.PinnedNow, "pinnedNow").
// With it the input gives back the request as sent (asSent), which is what
// a retry is compared with: {"email":…} is not {"email":…,"finishTime":X}
// even when X is what "now" was pinned to, and it is itself whenever it is
// retried. A second name per key instead would be two starts that can both
// succeed. Inputs without the field were started before it and compare as
// they did then.

var otherKind = map[string]string{KindUser: KindBatch, KindBatch: KindUser}

// keyName is the execution name of a request with an Idempotency-Key: the
// kind and the key alone, so every request with the key, whatever its body,
// asks for one name in its kind's state machine, and only one can start.
func keyName(kind, key string) string { return executionName(kind, "key\x00"+key) }

// startKeyed runs a request with an Idempotency-Key.
//
// Within a kind this is atomic: of any number of requests with the key,
// at once or not, one starts the key's name and every other finds that
// execution and is compared with it as sent (sameRequest): a replay, or
// 409 IdempotencyConflict.
//
// Across the kinds it takes more: a single-user body runs on the export
// state machine and a batch body on the batch state machine, and names are
// unique per state machine only. With the claims table (IDEMPOTENCY_TABLE,
// as the template deploys it) the key is first claimed for its kind with
// one conditional write, so a request of the other kind is a 409 however
// close together they come. Without it (tests, or a stack without the
// table) the other kind is read just before the start and again after it:
// two requests that both read before either starts can still start one
// execution each, which is then logged as an error naming both.
func (h *Handler) startKeyed(ctx context.Context, w http.ResponseWriter, r *http.Request, req parsedRequest, key string) {
	name := keyName(req.kind, key)
	if h.claims != nil {
		owner, err := h.claims.Claim(ctx, keyID(key), req.kind)
		if err != nil {
			h.internal(ctx, w, "claim idempotency key", err)
			return
		}
		if owner != req.kind {
			writeError(w, http.StatusConflict, idempotencyConflict())
			return
		}
		h.startKeyedOwned(ctx, w, r, req, name, nil, nil)
		return
	}
	other := otherKind[req.kind]
	otherName := keyName(other, key)
	before := func() bool {
		if _, taken, err := h.find(ctx, other, otherName); err != nil {
			h.sfnFailure(ctx, w, "describe", err)
			return false
		} else if taken {
			writeError(w, http.StatusConflict, idempotencyConflict())
			return false
		}
		return true
	}
	after := func() {
		if _, taken, err := h.find(ctx, other, otherName); err != nil {
			h.log.WarnContext(ctx, "could not check the other state machine for this Idempotency-Key", "id", name, "error", err.Error())
		} else if taken {
			// Never the key itself in a log line: it is the client's text.
			h.log.ErrorContext(ctx, "one Idempotency-Key started two executions: a single-user and a batch request with it arrived together; stop the one not wanted",
				"id", name, "kind", req.kind, "otherId", otherName, "otherKind", other)
		}
	}
	h.startKeyedOwned(ctx, w, r, req, name, before, after)
}

// startKeyedOwned runs a keyed request in its kind's state machine: a
// retry finds its execution (one read), else the key's name is started.
// before, when set, runs before the start and may answer instead (false);
// after runs once the start succeeded.
func (h *Handler) startKeyedOwned(ctx context.Context, w http.ResponseWriter, r *http.Request, req parsedRequest, name string, before func() bool, after func()) {
	if d, found, err := h.find(ctx, req.kind, name); err != nil {
		h.sfnFailure(ctx, w, "describe", err)
		return
	} else if found {
		h.replayKeyed(ctx, w, r, req, name, d)
		return
	}
	if before != nil && !before() {
		return
	}
	input, err := withPinned(req.input, req.pinned)
	if err != nil {
		h.internal(ctx, w, "encode input", err)
		return
	}
	req.input = input // what the answer shows, as a replay will
	out, taken, op, err := h.startNamed(ctx, req.kind, name, input)
	switch {
	case err != nil:
		h.sfnFailure(ctx, w, op, err)
		return
	case taken != nil:
		// Another request with the key started it first.
		h.replayKeyed(ctx, w, r, req, name, taken)
		return
	}
	if after != nil {
		after()
	}
	h.started(ctx, w, r, req, name, out)
}

// replayKeyed answers a keyed request whose name has an execution: a
// replay if it was started for the same request as sent, else a conflict.
func (h *Handler) replayKeyed(ctx context.Context, w http.ResponseWriter, r *http.Request, req parsedRequest, name string, d *sfn.DescribeExecutionOutput) {
	if !sameRequest(req, aws.ToString(d.Input)) {
		writeError(w, http.StatusConflict, idempotencyConflict())
		return
	}
	h.replay(ctx, w, r, req, name, d)
}

// sameRequest reports whether an execution input of req's kind (a keyed
// name's) was started for req as sent.
func sameRequest(req parsedRequest, input string) bool {
	pinned := req.pinned
	var stored struct {
		PinnedNow *bool `json:"pinnedNow"`
	}
	if json.Unmarshal([]byte(input), &stored) == nil && stored.PinnedNow != nil {
		pinned = *stored.PinnedNow
	} // else: started before the field, when what this request leaves open was blanked in both
	if pinned != req.pinned {
		return false
	}
	prev, err := asSent(req.kind, []byte(input), pinned)
	return err == nil && string(prev) == string(req.asSent)
}

// contentName is generation gen of a content's chain in the epoch that
// starts at epoch.
func contentName(kind string, content [sha256.Size]byte, epoch time.Time, gen int) string {
	return executionName(kind, fmt.Sprintf("content\x00%x\x00%d\x00%d", content, epoch.Unix(), gen))
}

// startContent runs a request without an Idempotency-Key: identical
// requests (equal as sent) share one export for contentReplay after it
// started, and a later one starts a new export.
//
// The names of one content's exports form a chain: generation 0, 1, 2, …,
// each named from the content's hash and its number. A request finds the
// chain's last generation; if that started less than contentReplay ago, it
// is replayed, otherwise the next generation is started. A generation is
// started only after the one before it was seen, so the chain has no gaps
// (lastGeneration finds its end in about 2·log2(n) reads), and requests
// that find the same end ask for the same next name: Step Functions lets
// one start and the others replay it. Unlike time slots, there is no
// boundary that two identical requests at the same moment can straddle.
//
// Except one: names are kept 90 days, so the first generations of a chain
// that lived longer would vanish and its end could no longer be found. A
// chain therefore lasts one contentEpoch (from Monday 00:00 UTC), and a
// request within contentReplay of an epoch's start also looks at the end of
// the previous epoch's chain. At that instant, two identical requests at
// the same moment, one just before it and one just after, can each start
// an export (the first adds to the old chain, the second starts the new
// one, neither seeing the other): once a week, for as long as one round
// trip. Which chain to use has to be decided by the clock somewhere, and
// Step Functions alone offers no way to make that decision atomic.
//
// "Started" is the execution's start date, Step Functions' clock, against
// the handler's clock.
func (h *Handler) startContent(ctx context.Context, w http.ResponseWriter, r *http.Request, req parsedRequest, now time.Time) {
	content := sha256.Sum256(req.asSent)
	epoch := now.Truncate(contentEpoch)
	last, d, err := h.lastGeneration(ctx, req.kind, content, epoch)
	if err != nil {
		h.sfnFailure(ctx, w, "describe", err)
		return
	}
	if last < 0 && now.Sub(epoch) < contentReplay {
		prevEpoch := epoch.Add(-contentEpoch)
		prev, pd, err := h.lastGeneration(ctx, req.kind, content, prevEpoch)
		if err != nil {
			h.sfnFailure(ctx, w, "describe", err)
			return
		}
		if pd != nil && recent(pd, now) {
			h.replay(ctx, w, r, req, contentName(req.kind, content, prevEpoch, prev), pd)
			return
		}
	}
	if d != nil && recent(d, now) {
		h.replay(ctx, w, r, req, contentName(req.kind, content, epoch, last), d)
		return
	}
	name := contentName(req.kind, content, epoch, last+1)
	out, taken, op, err := h.startNamed(ctx, req.kind, name, req.input)
	switch {
	case err != nil:
		h.sfnFailure(ctx, w, op, err)
		return
	case taken != nil:
		// An identical request added this generation first.
		h.replay(ctx, w, r, req, name, taken)
		return
	}
	h.started(ctx, w, r, req, name, out)
}

// recent reports whether an execution started less than contentReplay ago.
func recent(d *sfn.DescribeExecutionOutput, now time.Time) bool {
	return d.StartDate == nil || now.Sub(*d.StartDate) < contentReplay
}

// lastGeneration finds the end of a content's chain in one epoch: the
// number and description of its last generation, or -1 and nil for an
// empty chain. The chain has no gaps, so it gallops (0, 1, 3, 7, …) to the
// first missing generation and bisects back.
func (h *Handler) lastGeneration(ctx context.Context, kind string, content [sha256.Size]byte, epoch time.Time) (int, *sfn.DescribeExecutionOutput, error) {
	last, lastD := -1, (*sfn.DescribeExecutionOutput)(nil)
	missing := 0
	for i := 0; ; i++ {
		if i == maxGallop {
			return 0, nil, fmt.Errorf("content chain longer than %d generations", 1<<maxGallop)
		}
		d, found, err := h.find(ctx, kind, contentName(kind, content, epoch, missing))
		if err != nil {
			return 0, nil, err
		}
		if !found {
			break
		}
		last, lastD = missing, d
		missing = 2*missing + 1
	}
	for missing-last > 1 {
		mid := last + (missing-last)/2
		d, found, err := h.find(ctx, kind, contentName(kind, content, epoch, mid))
		if err != nil {
			return 0, nil, err
		}
		if found {
			last, lastD = mid, d
		} else {
			missing = mid
		}
	}
	return last, lastD, nil
}

// withPinned adds "pinnedNow" to an execution input.
func withPinned(input []byte, pinned bool) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(input, &m); err != nil {
		return nil, err
	}
	m["pinnedNow"] = json.RawMessage(strconv.FormatBool(pinned))
	return json.Marshal(m)
}

// startNamed starts the kind's state machine under name. When another
// request holds the name already, it returns that execution as taken
// instead; op names the call that failed, for sfnFailure.
func (h *Handler) startNamed(ctx context.Context, kind, name string, input []byte) (out *sfn.StartExecutionOutput, taken *sfn.DescribeExecutionOutput, op string, err error) {
	out, err = h.sfn.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(h.machines[kind]),
		Name:            aws.String(name),
		Input:           aws.String(string(input)),
	})
	var exists *types.ExecutionAlreadyExists
	if errors.As(err, &exists) {
		taken, err = h.describe(ctx, kind, name)
		if err != nil {
			return nil, nil, "describe", err
		}
		return nil, taken, "", nil
	}
	if err != nil {
		return nil, nil, "start", err
	}
	return out, nil, "", nil
}
