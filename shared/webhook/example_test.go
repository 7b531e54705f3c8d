package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/keygate/keygate/shared/webhook"
)

// A receiver wraps its handler in Middleware: the handler only ever sees deliveries that were
// signed with one of the secrets within the last five minutes, each webhook-id once.
func ExampleMiddleware() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // from your secret store, never the code
	v, err := webhook.NewVerifier([]string{secret}, webhook.WithReplayGuard(webhook.NewMemoryGuard(0)))
	if err != nil {
		panic(err)
	}
	receiver := webhook.Middleware(v, 1<<20)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // exactly the verified bytes
		fmt.Printf("event: %s\n", body)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv := httptest.NewServer(receiver)
	defer srv.Close()

	// The sender's side: sign the raw body, send the three headers with it.
	body := `{"type":"key.revoked","key_id":"key_01234567890123456789"}`
	headers, err := webhook.Headers(secret, "msg_2Kx9", time.Now(), []byte(body))
	if err != nil {
		panic(err)
	}
	// The delivery, the same delivery replayed, and a tampered copy.
	for _, b := range []string{body, body, strings.Replace(body, "revoked", "created", 1)} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(b))
		req.Header = headers.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(strings.TrimSpace(fmt.Sprint(resp.StatusCode, " ", string(out))))
	}
	// Output:
	// event: {"type":"key.revoked","key_id":"key_01234567890123456789"}
	// 204
	// 401 {"error":{"code":"invalid_signature","message":"This webhook-id was already delivered; a replayed delivery is refused.","type":"authentication_error"}}
	// 401 {"error":{"code":"invalid_signature","message":"The webhook signature does not match. Check the signing secret.","type":"authentication_error"}}
}

// Verify checks one delivery by hand; during a secret rotation pass both secrets.
func ExampleVerify() {
	oldSecret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	newSecret, _ := webhook.NewSecret()
	body := []byte(`{"type":"ping"}`)
	h, _ := webhook.Headers(oldSecret, "msg_1", time.Now(), body)

	fmt.Println(webhook.Verify(h, body, newSecret, oldSecret))
	fmt.Println(webhook.Verify(h, body, newSecret))
	// Output:
	// <nil>
	// webhook: no matching signature
}

// Older senders put hex(HMAC-SHA-256(secret, body)) in one header; VerifyHex checks that form.
func ExampleVerifyHex() {
	const secret = "my-legacy-secret"
	body := []byte(`{"type":"ping"}`)
	sig := webhook.SignHex(secret, body) // what the sender put in X-Innoai-Signature
	fmt.Println(webhook.VerifyHex(sig, body, secret))
	// Output: <nil>
}
