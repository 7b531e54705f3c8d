package webhook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// DefaultMaxBody bounds the body Middleware reads (1 MiB).
const DefaultMaxBody = 1 << 20

// errUnreadableBody wraps the error of a body that could not be read.
var errUnreadableBody = errors.New("webhook: body could not be read")

// Middleware returns an http.Handler wrapper that verifies every delivery with v before next
// sees it. It reads at most maxBody bytes (DefaultMaxBody when maxBody <= 0): a larger body is
// refused with 413 request_too_large, a delivery that does not verify (or, with
// WithReplayGuard, repeats a webhook-id) with 401 invalid_signature, and one whose id the guard
// cannot check with 503 service_unavailable (the sender retries), all in keygate's error
// shape. next gets the request with its body restored, so it reads exactly the bytes that were
// verified.
//
// With a replay guard, an id is remembered before next runs, so a concurrent duplicate is
// refused while the first delivery is being handled; when next answers 5xx or panics the id is
// forgotten again, so the sender's retry of a delivery the receiver failed on is accepted.
func Middleware(v *Verifier, maxBody int64) func(http.Handler) http.Handler {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := readBounded(r.Body, maxBody)
			if err == nil {
				err = v.Verify(r.Header, body)
			}
			if err != nil {
				refusal(err, maxBody).ServeHTTP(w, r)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			// The hex form has no id and was not remembered.
			if id := r.Header.Get(HeaderID); v.replay != nil && id != "" {
				serveOrForget(v.replay, id, next, w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// refusal is the one place an error met by Middleware becomes a response.
func refusal(err error, maxBody int64) *Refusal {
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return &Refusal{Status: http.StatusRequestEntityTooLarge, Code: codeRequestTooLarge, Type: typeInvalidRequest,
			Message: "The request body is larger than " + strconv.FormatInt(maxBody, 10) + " bytes.", Cause: err}
	case errors.Is(err, errUnreadableBody):
		return &Refusal{Status: http.StatusBadRequest, Code: codeInvalidRequest, Type: typeInvalidRequest,
			Message: "The request body could not be read.", Cause: err}
	case errors.Is(err, ErrReplayCheck):
		// Not the sender's fault, and not proof of a replay: never a 401 for an outage.
		return &Refusal{Status: http.StatusServiceUnavailable, Code: codeServiceUnavailable, Type: typeAPI,
			Message:    "The service is temporarily unavailable. Retry after the number of seconds in retry_after.",
			RetryAfter: 5, Cause: err}
	default:
		return InvalidSignature(err)
	}
}

// serveOrForget runs next and forgets id unless next answered below 500 without panicking.
func serveOrForget(g ReplayGuard, id string, next http.Handler, w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	handled := false
	defer func() {
		if !handled || sw.Status >= http.StatusInternalServerError {
			g.Forget(id)
		}
	}()
	next.ServeHTTP(sw, r)
	handled = true
}

// InvalidSignature is the 401 a receiver answers for a delivery that does not verify. The
// message names the kind of problem (missing headers, stale timestamp, no matching signature),
// which a legitimate sender can act on and which tells a forger nothing about the secret.
func InvalidSignature(cause error) *Refusal {
	msg := "The webhook signature does not match. Check the signing secret."
	switch {
	case errors.Is(cause, ErrHexFormRefused):
		msg = "Only the hex signature header was sent; this receiver needs the webhook-id, webhook-timestamp and webhook-signature headers."
	case errors.Is(cause, ErrMissingHeaders):
		msg = "Missing webhook-id, webhook-timestamp or webhook-signature header."
	case errors.Is(cause, ErrInvalidHeaders):
		msg = "Malformed webhook-id, webhook-timestamp or webhook-signature header."
	case errors.Is(cause, ErrTimestampTooOld), errors.Is(cause, ErrTimestampTooNew):
		msg = "The webhook timestamp is outside the accepted window. Check the sender's clock; replays are refused."
	case errors.Is(cause, ErrReplayed):
		msg = "This webhook-id was already delivered; a replayed delivery is refused."
	}
	return &Refusal{Status: http.StatusUnauthorized, Code: codeInvalidSignature, Message: msg,
		Type: typeAuthentication, Cause: cause}
}

func readBounded(r io.Reader, limit int64) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUnreadableBody, err)
	}
	if int64(len(b)) > limit {
		return nil, ErrBodyTooLarge
	}
	return b, nil
}
