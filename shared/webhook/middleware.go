package webhook

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/keygate/keygate/shared/apierr"
)

// DefaultMaxBody bounds the body Middleware reads (1 MiB).
const DefaultMaxBody = 1 << 20

// Middleware returns an http.Handler wrapper that verifies every delivery with v before next
// sees it. It reads at most maxBody bytes (DefaultMaxBody when maxBody <= 0): a larger body is
// refused with 413 request_too_large, a delivery that does not verify with 401
// invalid_signature, both in keygate's error shape. next gets the request with its body
// restored, so it reads exactly the bytes that were verified.
func Middleware(v *Verifier, maxBody int64) func(http.Handler) http.Handler {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := readBounded(r.Body, maxBody)
			switch {
			case errors.Is(err, ErrBodyTooLarge):
				writeError(w, apierr.TooLarge(int(maxBody)))
				return
			case err != nil:
				writeError(w, apierr.InvalidRequest("The request body could not be read."))
				return
			}
			if err := v.Verify(r.Header, body); err != nil {
				writeError(w, InvalidSignature(err))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			next.ServeHTTP(w, r)
		})
	}
}

// InvalidSignature is the 401 a receiver answers for a delivery that does not verify. The
// message names the kind of problem (missing headers, stale timestamp, no matching signature),
// which a legitimate sender can act on and which tells a forger nothing about the secret.
func InvalidSignature(cause error) *apierr.Error {
	msg := "The webhook signature does not match. Check the signing secret."
	switch {
	case errors.Is(cause, ErrMissingHeaders):
		msg = "Missing webhook-id, webhook-timestamp or webhook-signature header."
	case errors.Is(cause, ErrInvalidHeaders):
		msg = "Malformed webhook-id, webhook-timestamp or webhook-signature header."
	case errors.Is(cause, ErrTimestampTooOld), errors.Is(cause, ErrTimestampTooNew):
		msg = "The webhook timestamp is outside the accepted window. Check the sender's clock; replays are refused."
	}
	return &apierr.Error{Status: http.StatusUnauthorized, Code: "invalid_signature", Message: msg,
		Type: apierr.TypeAuthentication, Cause: cause}
}

func readBounded(r io.Reader, limit int64) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, ErrBodyTooLarge
	}
	return b, nil
}

func writeError(w http.ResponseWriter, e *apierr.Error) {
	for k, v := range e.Headers() {
		if k == "WWW-Authenticate" {
			continue // a webhook sender does not authenticate with a bearer token
		}
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.Body())
}
