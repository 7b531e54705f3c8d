package webhook_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/webhook"
)

// dualSigned is a delivery of a sender moving to the standard form: the standard headers and,
// for receivers not yet moved, the hex header over the same body with the same secret.
func dualSigned(t *testing.T, id string, ts time.Time, body string) http.Header {
	h := signed(t, specSecret, id, ts, body)
	h.Set("X-Sig", webhook.SignHex(specSecret, []byte(body)))
	return h
}

// stripped is what an attacker replays: the captured delivery without its webhook-* headers,
// so that only the hex header, which signs neither an id nor a time, is left.
func stripped(h http.Header) http.Header {
	out := h.Clone()
	out.Del(webhook.HeaderID)
	out.Del(webhook.HeaderTimestamp)
	out.Del(webhook.HeaderSignature)
	return out
}

func TestAHexOnlyDeliveryCannotBypassAReplayGuardOrATolerance(t *testing.T) {
	const body = `{"type":"key.revoked"}`
	tests := []struct {
		name string
		opts []webhook.Option
		// replayAt is when the stripped copy is replayed, after the original was accepted at t0.
		replayAt   time.Duration
		wantReplay error // nil: the stripped copy verifies; else ErrHexFormRefused, an ErrMissingHeaders
	}{
		{"with a replay guard, the stripped copy of a delivery is refused at once",
			[]webhook.Option{webhook.WithReplayGuard(webhook.NewMemoryGuard(0))}, time.Second, webhook.ErrMissingHeaders},
		{"with a replay guard, it is refused a day later too",
			[]webhook.Option{webhook.WithReplayGuard(webhook.NewMemoryGuard(0))}, 24 * time.Hour, webhook.ErrMissingHeaders},
		{"with a tolerance, the stripped copy is refused past it",
			[]webhook.Option{webhook.WithTolerance(5 * time.Minute)}, time.Hour, webhook.ErrMissingHeaders},
		{"with a tolerance, it is refused within it too (it carries no time to check)",
			[]webhook.Option{webhook.WithTolerance(5 * time.Minute)}, time.Second, webhook.ErrMissingHeaders},
		{"with both, refused",
			[]webhook.Option{webhook.WithTolerance(time.Minute), webhook.WithReplayGuard(webhook.NewMemoryGuard(0))}, time.Hour, webhook.ErrMissingHeaders},
		{"with neither, the hex form is the legacy form and verifies, replays included (documented)",
			nil, 24 * time.Hour, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clocktest.New(t0)
			v, err := webhook.NewVerifier([]string{specSecret},
				append([]webhook.Option{webhook.WithClock(c.Now), webhook.WithHexHeader("X-Sig")}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			original := dualSigned(t, "msg_1", t0, body)
			if err := v.Verify(original, []byte(body)); err != nil {
				t.Fatalf("the original dual-signed delivery: %v", err)
			}
			c.Set(t0.Add(tt.replayAt))
			err = v.Verify(stripped(original), []byte(body))
			if !errors.Is(err, tt.wantReplay) || (tt.wantReplay == nil && err != nil) {
				t.Fatalf("the stripped copy replayed after %v: Verify = %v, want %v", tt.replayAt, err, tt.wantReplay)
			}
			if tt.wantReplay != nil && !errors.Is(err, webhook.ErrHexFormRefused) {
				t.Fatalf("the stripped copy: Verify = %v, want ErrHexFormRefused", err)
			}
			// The standard form goes on working beside it.
			if err := v.Verify(dualSigned(t, "msg_2", c.Now(), body), []byte(body)); err != nil {
				t.Fatalf("a fresh dual-signed delivery: %v", err)
			}
		})
	}
}

// Through Middleware the refusal is a 401 telling the sender to send the standard headers.
func TestMiddlewareRefusesAHexOnlyDeliveryWhenGuarded(t *testing.T) {
	const body = `{"type":"ping"}`
	v, err := webhook.NewVerifier([]string{specSecret}, webhook.WithClock(func() time.Time { return t0 }),
		webhook.WithHexHeader("X-Sig"), webhook.WithReplayGuard(webhook.NewMemoryGuard(0)))
	if err != nil {
		t.Fatal(err)
	}
	reached := 0
	h := webhook.Middleware(v, 0)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		w.WriteHeader(http.StatusNoContent)
	}))
	req := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(body))
	req.Header = stripped(dualSigned(t, "msg_1", t0, body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || reached != 0 {
		t.Fatalf("status %d, handler reached %d times; want 401 and never", rec.Code, reached)
	}
	if !strings.Contains(rec.Body.String(), "invalid_signature") || !strings.Contains(rec.Body.String(), "webhook-signature") {
		t.Fatalf("body %s does not ask for the standard headers", rec.Body)
	}
}
