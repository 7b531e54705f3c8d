package sdk_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/webhook"
)

// The webhook vectors shared with shared/webhook, both ways: deliveries signed (and tampered
// with) here, which each SDK's e2e suite must judge exactly as the Go package does, reason
// included; and deliveries each SDK signs (and tampers with), which the Go package must judge
// as the SDK says.

// vector is one delivery and how shared/webhook judges it.
type vector struct {
	Name    string            `json:"name"`
	Secrets []string          `json:"secrets"`
	Headers map[string]string `json:"headers"`
	BodyB64 string            `json:"body_b64"`
	Valid   bool              `json:"valid"`
	Reason  string            `json:"reason,omitempty"` // when not valid: missing_headers, invalid_headers, …
}

// reasons names shared/webhook's errors as the SDKs' errors do.
var reasons = []struct {
	err  error
	name string
}{
	{webhook.ErrMissingHeaders, "missing_headers"},
	{webhook.ErrInvalidHeaders, "invalid_headers"},
	{webhook.ErrTimestampTooOld, "timestamp_too_old"},
	{webhook.ErrTimestampTooNew, "timestamp_too_new"},
	{webhook.ErrNoMatch, "no_match"},
}

func reasonOf(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "other: " + err.Error()
}

// judge is shared/webhook's verdict on a delivery.
func judge(v vector) (bool, string, error) {
	body, err := base64.StdEncoding.DecodeString(v.BodyB64)
	if err != nil {
		return false, "", err
	}
	h := http.Header{}
	for k, val := range v.Headers {
		h.Set(k, val)
	}
	if err := webhook.Verify(h, body, v.Secrets...); err != nil {
		return false, reasonOf(err), nil
	}
	return true, "", nil
}

func flat(h http.Header) map[string]string {
	m := map[string]string{}
	for k := range h {
		m[strings.ToLower(k)] = h.Get(k)
	}
	return m
}

// writeVectors writes the Go-signed deliveries to path, each with shared/webhook's verdict,
// which must also be the one written next to it here (so the list says what it tests).
func writeVectors(t *testing.T, path string) {
	t.Helper()
	s1, _ := webhook.NewSecret()
	s2, _ := webhook.NewSecret()
	now := time.Now()
	signed := func(secret, id string, ts time.Time, body []byte) map[string]string {
		h, err := webhook.Headers(secret, id, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		return flat(h)
	}
	with := func(h map[string]string, k, v string) map[string]string {
		c := map[string]string{}
		for kk, vv := range h {
			c[kk] = vv
		}
		if v == "" {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	jsonBody := []byte(`{"type":"key.revoked","data":{"key_id":"key_01234567890123456789"}}`)
	utf8Body := []byte("{\"name\":\"Zoë – 東京 🚀\",\"n\":1.50}\n")
	binBody := []byte{0xff, 0xfe, 0x00, 'b', 'i', 'n', 0x80}
	bigBody := []byte(`{"b":"` + strings.Repeat("x", 4096) + `"}`)
	base := signed(s1, "msg_base", now, jsonBody)
	dual := signed(s1, "msg_dual", now, jsonBody)
	sig2, _ := webhook.Sign(s2, "msg_dual", now, jsonBody)
	dual["webhook-signature"] = sig2 + " " + dual["webhook-signature"]

	type c struct {
		name    string
		secrets []string
		headers map[string]string
		body    []byte
		valid   bool
		reason  string
	}
	cases := []c{
		{"a JSON body", []string{s1}, base, jsonBody, true, ""},
		{"multi-byte UTF-8, verified during a rotation", []string{s1, s2}, signed(s2, "msg_utf8", now.Add(-time.Minute), utf8Body), utf8Body, true, ""},
		{"an empty body", []string{s1}, signed(s1, "msg_empty", now, nil), nil, true, ""},
		{"a body that is not UTF-8", []string{s2}, signed(s2, "msg_bin", now, binBody), binBody, true, ""},
		{"a 4 KiB body", []string{s1}, signed(s1, "msg_big", now.Add(-4*time.Minute), bigBody), bigBody, true, ""},
		{"one signature per secret, verified with the new one", []string{s2}, dual, jsonBody, true, ""},
		{"other versions beside v1", []string{s1}, with(base, "webhook-signature", "v1a,c29tZXRoaW5n "+base["webhook-signature"]), jsonBody, true, ""},
		{"a tampered body", []string{s1}, base, append([]byte(`{"amount":9}`), jsonBody...), false, "no_match"},
		{"another secret", []string{s2}, base, jsonBody, false, "no_match"},
		{"another id", []string{s1}, with(base, "webhook-id", "msg_other"), jsonBody, false, "no_match"},
		{"a stale timestamp", []string{s1}, signed(s1, "msg_stale", now.Add(-6*time.Minute), jsonBody), jsonBody, false, "timestamp_too_old"},
		{"a future timestamp", []string{s1}, signed(s1, "msg_future", now.Add(6*time.Minute), jsonBody), jsonBody, false, "timestamp_too_new"},
		{"no signature header", []string{s1}, with(base, "webhook-signature", ""), jsonBody, false, "missing_headers"},
		{"a timestamp in exponent form", []string{s1}, with(base, "webhook-timestamp", strconv.FormatFloat(float64(now.Unix()), 'e', -1, 64)), jsonBody, false, "invalid_headers"},
		{"an id with a space", []string{s1}, with(base, "webhook-id", "msg base"), jsonBody, false, "invalid_headers"},
		{"a signature that is not base64", []string{s1}, with(base, "webhook-signature", "v1,@@not-base64@@"), jsonBody, false, "invalid_headers"},
		{"only v1a signatures", []string{s1}, with(base, "webhook-signature", "v1a,c29tZXRoaW5n"), jsonBody, false, "no_match"},
	}
	var out []vector
	for _, tc := range cases {
		v := vector{Name: tc.name, Secrets: tc.secrets, Headers: tc.headers, BodyB64: base64.StdEncoding.EncodeToString(tc.body)}
		valid, reason, err := judge(v)
		if err != nil {
			t.Fatal(err)
		}
		if valid != tc.valid || reason != tc.reason {
			t.Fatalf("vector %q: shared/webhook says valid=%v %q, the list says %v %q", tc.name, valid, reason, tc.valid, tc.reason)
		}
		v.Valid, v.Reason = valid, reason
		out = append(out, v)
	}
	b, err := json.MarshalIndent(map[string]any{"cases": out}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkSigned verifies with shared/webhook the deliveries an SDK signed (path) and fails
// unless each verdict is the one the SDK expects; sdk names the SDK in messages.
func checkSigned(t *testing.T, sdk, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s wrote no signed deliveries: %v", sdk, err)
	}
	var doc struct {
		Deliveries []vector `json:"deliveries"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s's signed deliveries: %v", sdk, err)
	}
	valid, invalid := 0, 0
	for _, d := range doc.Deliveries {
		ok, reason, err := judge(d)
		if err != nil {
			t.Fatalf("%s delivery %q: %v", sdk, d.Name, err)
		}
		if ok != d.Valid {
			t.Errorf("%s delivery %q: shared/webhook says valid=%v (%s), the SDK expects %v", sdk, d.Name, ok, reason, d.Valid)
		}
		if d.Valid {
			valid++
		} else {
			invalid++
		}
	}
	if valid < 3 || invalid < 3 {
		t.Fatalf("%s signed %d valid and %d tampered deliveries; want at least 3 of each", sdk, valid, invalid)
	}
	t.Logf("shared/webhook judged %d deliveries signed by %s as it expected (%d valid, %d tampered)", valid+invalid, sdk, valid, invalid)
}
