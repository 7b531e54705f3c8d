package webhook_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/webhook"
)

// The Standard Webhooks specification's own example (standard-webhooks/spec, the reference
// libraries' tests): secret, id, timestamp, body and the signature they must produce.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func specHeaders() http.Header {
	h := http.Header{}
	h.Set("webhook-id", specID)
	h.Set("webhook-timestamp", strconv.Itoa(specTimestamp))
	h.Set("webhook-signature", specSignature)
	return h
}

func at(unix int64) func() time.Time { return func() time.Time { return time.Unix(unix, 0) } }

func TestSignMatchesTheSpecificationsExample(t *testing.T) {
	got, err := webhook.Sign(specSecret, specID, time.Unix(specTimestamp, 0), []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != specSignature {
		t.Fatalf("Sign = %q, want %q", got, specSignature)
	}
}

func TestVerify(t *testing.T) {
	other, _ := webhook.NewSecret()
	body := []byte(specBody)
	with := func(k, v string) http.Header {
		h := specHeaders()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	tests := []struct {
		name    string
		headers http.Header
		body    []byte
		secrets []string
		now     int64
		opts    []webhook.Option
		want    error
	}{
		{"the spec's delivery verifies", specHeaders(), body, []string{specSecret}, specTimestamp, nil, nil},
		{"a secret without the whsec_ prefix works the same", specHeaders(), body, []string{strings.TrimPrefix(specSecret, "whsec_")}, specTimestamp, nil, nil},
		{"any of several secrets may match (rotation)", specHeaders(), body, []string{other, specSecret}, specTimestamp, nil, nil},
		{"a wrong secret does not match", specHeaders(), body, []string{other}, specTimestamp, nil, webhook.ErrNoMatch},
		{"a changed body does not match", specHeaders(), []byte(`{"test": 2432232315}`), []string{specSecret}, specTimestamp, nil, webhook.ErrNoMatch},
		{"a changed id does not match", with("webhook-id", "msg_other"), body, []string{specSecret}, specTimestamp, nil, webhook.ErrNoMatch},
		{"a changed timestamp does not match", with("webhook-timestamp", strconv.Itoa(specTimestamp+1)), body, []string{specSecret}, specTimestamp, nil, webhook.ErrNoMatch},
		{"one of several signatures may match", with("webhook-signature", "v1,Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMTI= v1a,abc "+specSignature), body, []string{specSecret}, specTimestamp, nil, nil},
		{"only v1 signatures count", with("webhook-signature", strings.Replace(specSignature, "v1,", "v2,", 1)), body, []string{specSecret}, specTimestamp, nil, webhook.ErrNoMatch},
		{"a missing id is refused", with("webhook-id", ""), body, []string{specSecret}, specTimestamp, nil, webhook.ErrMissingHeaders},
		{"a missing timestamp is refused", with("webhook-timestamp", ""), body, []string{specSecret}, specTimestamp, nil, webhook.ErrMissingHeaders},
		{"a missing signature is refused", with("webhook-signature", ""), body, []string{specSecret}, specTimestamp, nil, webhook.ErrMissingHeaders},
		{"a non-numeric timestamp is malformed", with("webhook-timestamp", "1614265330.5"), body, []string{specSecret}, specTimestamp, nil, webhook.ErrInvalidHeaders},
		{"a negative timestamp is malformed", with("webhook-timestamp", "-1"), body, []string{specSecret}, specTimestamp, nil, webhook.ErrInvalidHeaders},
		{"a signature that is not base64 is malformed", with("webhook-signature", "v1,***"), body, []string{specSecret}, specTimestamp, nil, webhook.ErrInvalidHeaders},
		{"a signature without a version is malformed", with("webhook-signature", "g0hM9SsE"), body, []string{specSecret}, specTimestamp, nil, webhook.ErrInvalidHeaders},
		{"a timestamp 5 minutes old still verifies", specHeaders(), body, []string{specSecret}, specTimestamp + 300, nil, nil},
		{"a timestamp older than 5 minutes is refused", specHeaders(), body, []string{specSecret}, specTimestamp + 301, nil, webhook.ErrTimestampTooOld},
		{"a timestamp more than 5 minutes ahead is refused", specHeaders(), body, []string{specSecret}, specTimestamp - 301, nil, webhook.ErrTimestampTooNew},
		{"the tolerance is configurable", specHeaders(), body, []string{specSecret}, specTimestamp + 301, []webhook.Option{webhook.WithTolerance(10 * time.Minute)}, nil},
		{"a shorter tolerance refuses sooner", specHeaders(), body, []string{specSecret}, specTimestamp + 31, []webhook.Option{webhook.WithTolerance(30 * time.Second)}, webhook.ErrTimestampTooOld},
		{"header names are case-insensitive", http.Header{"Webhook-Id": {specID}, "Webhook-Timestamp": {strconv.Itoa(specTimestamp)}, "Webhook-Signature": {specSignature}}, body, []string{specSecret}, specTimestamp, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := webhook.NewVerifier(tt.secrets, append([]webhook.Option{webhook.WithClock(at(tt.now))}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(tt.headers, tt.body); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyUsesTheSystemClock(t *testing.T) {
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"key.revoked"}`)
	h, err := webhook.Headers(secret, "msg_1", time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	if err := webhook.Verify(h, body, secret); err != nil {
		t.Fatalf("a fresh delivery: %v", err)
	}
	if err := webhook.Verify(specHeaders(), []byte(specBody), specSecret); !errors.Is(err, webhook.ErrTimestampTooOld) {
		t.Fatalf("a 2021 delivery: %v, want ErrTimestampTooOld", err)
	}
}

func TestSecrets(t *testing.T) {
	s, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("NewSecret = %q, want the whsec_ prefix", s)
	}
	if k, err := webhook.DecodeSecret(s); err != nil || len(k) != 32 {
		t.Fatalf("DecodeSecret(NewSecret()) = %d bytes, %v", len(k), err)
	}
	for _, bad := range []string{"", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ=", "whsec_" + strings.Repeat("QUFB", 30)} {
		if _, err := webhook.Sign(bad, "msg", time.Now(), nil); !errors.Is(err, webhook.ErrInvalidSecret) {
			t.Errorf("Sign with secret %q: %v, want ErrInvalidSecret", bad, err)
		}
		if _, err := webhook.NewVerifier([]string{bad}); !errors.Is(err, webhook.ErrInvalidSecret) {
			t.Errorf("NewVerifier with secret %q: %v, want ErrInvalidSecret", bad, err)
		}
	}
	if _, err := webhook.NewVerifier(nil); !errors.Is(err, webhook.ErrNoSecrets) {
		t.Errorf("NewVerifier(nil) = %v, want ErrNoSecrets", err)
	}
	for _, id := range []string{"", "has space", "new\nline", strings.Repeat("a", 257)} {
		if _, err := webhook.Sign(specSecret, id, time.Now(), nil); !errors.Is(err, webhook.ErrInvalidHeaders) {
			t.Errorf("Sign with id %q: %v, want ErrInvalidHeaders", id, err)
		}
	}
}

func TestVerifierNeverPrintsItsSecrets(t *testing.T) {
	v, err := webhook.NewVerifier([]string{specSecret})
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimPrefix(specSecret, "whsec_")
	for _, s := range []string{fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s", v, v, v, v)} {
		if strings.Contains(s, key) {
			t.Fatalf("printed verifier shows the secret: %s", s)
		}
	}
	// Errors carry no signature or secret either.
	err = v.Verify(specHeaders(), []byte("tampered"))
	if want, _ := webhook.Sign(specSecret, specID, time.Unix(specTimestamp, 0), []byte("tampered")); strings.Contains(err.Error(), want[3:]) {
		t.Fatalf("error reveals the expected signature: %v", err)
	}
}

func TestHexCompatibility(t *testing.T) {
	const legacy = "my-webhook-secret"
	body := []byte(`{"event":"ping"}`)
	sig := webhook.SignHex(legacy, body)
	if len(sig) != 64 || strings.ToLower(sig) != sig {
		t.Fatalf("SignHex = %q, want 64 lower-case hex digits", sig)
	}
	tests := []struct {
		name    string
		sig     string
		body    []byte
		secrets []string
		want    error
	}{
		{"the hex HMAC of the body verifies", sig, body, []string{legacy}, nil},
		{"a sha256= prefix is accepted", "sha256=" + sig, body, []string{legacy}, nil},
		{"upper-case hex is accepted", strings.ToUpper(sig), body, []string{legacy}, nil},
		{"any of several secrets may match", sig, body, []string{"old", legacy}, nil},
		{"a changed body does not match", sig, []byte(`{"event":"pong"}`), []string{legacy}, webhook.ErrNoMatch},
		{"a wrong secret does not match", sig, body, []string{"other"}, webhook.ErrNoMatch},
		{"a short signature is malformed", sig[:10], body, []string{legacy}, webhook.ErrInvalidHeaders},
		{"a non-hex signature is malformed", strings.Repeat("z", 64), body, []string{legacy}, webhook.ErrInvalidHeaders},
		{"no secrets is an error", sig, body, nil, webhook.ErrNoSecrets},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := webhook.VerifyHex(tt.sig, tt.body, tt.secrets...); !errors.Is(err, tt.want) {
				t.Fatalf("VerifyHex = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifierWithHexHeader(t *testing.T) {
	// The legacy secret must itself be a valid standard secret to build a Verifier; senders
	// moving over keep one secret string for both forms.
	body := []byte(`{"event":"ping"}`)
	v, err := webhook.NewVerifier([]string{specSecret}, webhook.WithHexHeader("X-Innoai-Signature"), webhook.WithClock(at(specTimestamp)))
	if err != nil {
		t.Fatal(err)
	}
	legacy := http.Header{"X-Innoai-Signature": {webhook.SignHex(specSecret, body)}}
	if err := v.Verify(legacy, body); err != nil {
		t.Fatalf("hex form: %v", err)
	}
	if err := v.Verify(legacy, []byte("other")); !errors.Is(err, webhook.ErrNoMatch) {
		t.Fatalf("hex form, other body: %v", err)
	}
	// With the standard headers present, the hex header is ignored.
	both := specHeaders()
	both.Set("X-Innoai-Signature", webhook.SignHex(specSecret, []byte(specBody)))
	both.Set("webhook-signature", "v1,Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMTI=")
	if err := v.Verify(both, []byte(specBody)); !errors.Is(err, webhook.ErrNoMatch) {
		t.Fatalf("standard headers present and wrong: %v, want ErrNoMatch", err)
	}
	// Without WithHexHeader the hex form is not accepted.
	strict, _ := webhook.NewVerifier([]string{specSecret})
	if err := strict.Verify(legacy, body); !errors.Is(err, webhook.ErrMissingHeaders) {
		t.Fatalf("strict verifier, hex form: %v", err)
	}
}

func TestMiddleware(t *testing.T) {
	v, err := webhook.NewVerifier([]string{specSecret}, webhook.WithClock(at(specTimestamp)))
	if err != nil {
		t.Fatal(err)
	}
	var seen []byte
	h := webhook.Middleware(v, 64)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	tests := []struct {
		name       string
		body       string
		headers    http.Header
		wantStatus int
		wantCode   string
	}{
		{"a signed delivery reaches the handler", specBody, specHeaders(), http.StatusNoContent, ""},
		{"a tampered delivery gets 401 invalid_signature", `{"test": 1}`, specHeaders(), http.StatusUnauthorized, "invalid_signature"},
		{"an unsigned delivery gets 401 invalid_signature", specBody, http.Header{}, http.StatusUnauthorized, "invalid_signature"},
		{"a body over the limit gets 413 before any verification", strings.Repeat("x", 65), specHeaders(), http.StatusRequestEntityTooLarge, "request_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			req := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(tt.body))
			req.Header = tt.headers
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantCode == "" {
				if string(seen) != tt.body {
					t.Fatalf("handler read %q, want the verified body %q", seen, tt.body)
				}
				return
			}
			if seen != nil {
				t.Fatal("the handler ran for a refused delivery")
			}
			var e struct {
				Error struct{ Code, Message, Type string } `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code != tt.wantCode || e.Error.Message == "" || e.Error.Type == "" {
				t.Fatalf("body %s is not the error shape with code %s", rec.Body, tt.wantCode)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type = %q", ct)
			}
		})
	}
}

func TestParseSignaturesBounds(t *testing.T) {
	many := strings.TrimSpace(strings.Repeat(specSignature+" ", 33))
	if _, err := webhook.ParseSignatures(many); !errors.Is(err, webhook.ErrInvalidHeaders) {
		t.Fatalf("33 signatures: %v, want ErrInvalidHeaders", err)
	}
	if _, err := webhook.ParseSignatures(strings.Repeat("a", 9000)); !errors.Is(err, webhook.ErrInvalidHeaders) {
		t.Fatalf("a 9000-byte header: %v, want ErrInvalidHeaders", err)
	}
	if sigs, err := webhook.ParseSignatures("  " + specSignature + "  "); err != nil || len(sigs) != 1 {
		t.Fatalf("padded header: %d, %v", len(sigs), err)
	}
}

func FuzzVerifyHeaders(f *testing.F) {
	f.Add(specID, strconv.Itoa(specTimestamp), specSignature, []byte(specBody))
	f.Add("", "", "", []byte(nil))
	f.Add("msg", "99999999999999999999", "v1,"+strings.Repeat("A", 44), []byte("x"))
	f.Add("msg", "1614265330", "v1a,xyz v1,=== v2,", []byte("x"))
	v, err := webhook.NewVerifier([]string{specSecret}, webhook.WithClock(at(specTimestamp)))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		err := v.Verify(h, body)
		if err == nil {
			// Whatever verifies must carry exactly what the secret signs, in the time window.
			n, terr := webhook.ParseTimestamp(ts)
			want, serr := webhook.Sign(specSecret, id, time.Unix(n, 0), body)
			sigs, perr := webhook.ParseSignatures(sig)
			if terr != nil || serr != nil || perr != nil || n < specTimestamp-300 || n > specTimestamp+300 {
				t.Fatalf("verified a malformed or stale delivery: id %q ts %q sig %q", id, ts, sig)
			}
			found := false
			for _, s := range sigs {
				found = found || "v1,"+base64.StdEncoding.EncodeToString(s) == want
			}
			if !found {
				t.Fatalf("verified a delivery without the secret's signature: id %q ts %q sig %q", id, ts, sig)
			}
		}
		_, _ = webhook.ParseSignatures(sig)
		_, _ = webhook.ParseTimestamp(ts)
	})
}
