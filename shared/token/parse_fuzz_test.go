package token

import (
	"encoding/json"
	"testing"
)

// FuzzParseClaims: the claims parser sits behind the signature check, so FuzzVerify rarely
// reaches it; this target feeds it directly. Property: whatever it accepts is valid JSON that
// encoding/json decodes to the same claims (no parser differential), and it never panics.
func FuzzParseClaims(f *testing.F) {
	for _, s := range []string{
		`{"iss":"https://a","sub":"cus_1","aud":["https://b"],"exp":1750000000,"nbf":1749996400,"iat":1749996400,"jti":"abc","scope":"customers:read","key_id":"key_1","key_gen":2,"customer_id":"cus_1","tier":"pro","rate_limit":600}`,
		`{"aud":"x","exp":1}`, `{"scope":"a\u0020b\"c"}`, `{"iss":"\ud83d\ude00"}`, `{}`, ` { "exp" : 0 } `,
		`{"exp":1,"exp":2}`, `{"Exp":1}`, `{"exp":"1"}`, `{"exp":1.5}`, `{"exp":1e3}`, `{"exp":01}`, `{"aud":[]}`,
		`{"key_gen":-0}`, `{"key_gen":9223372036854775807}`, `{"key_gen":-9223372036854775808}`, `{"key_gen":9223372036854775808}`,
		`{"rate_limit":9223372036854775807}`, `{"iss":"a"}x`, `{"iss":"\x01"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ok := parseClaims(b)
		if !ok {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		var ref struct {
			Iss     string `json:"iss"`
			Sub     string `json:"sub"`
			Jti     string `json:"jti"`
			Scope   string `json:"scope"`
			KeyID   string `json:"key_id"`
			KeyGen  int64  `json:"key_gen"`
			Cust    string `json:"customer_id"`
			Tier    string `json:"tier"`
			Rate    int    `json:"rate_limit"`
			Exp     *int64 `json:"exp"`
			Aud     any    `json:"aud"`
			Unknown map[string]any
		}
		if err := json.Unmarshal(b, &ref); err != nil {
			t.Fatalf("accepted %q that encoding/json refuses: %v", b, err)
		}
		if ref.Iss != c.Issuer || ref.Sub != c.Subject || ref.Jti != c.ID || ref.Scope != c.Scope || ref.KeyID != c.KeyID ||
			ref.KeyGen != c.KeyGen || ref.Cust != c.CustomerID || ref.Tier != c.Tier || ref.Rate != c.RateLimit {
			t.Fatalf("parser differential on %q: %+v vs %+v", b, c, ref)
		}
		if (ref.Exp == nil) != (c.ExpiresAt == nil) || (ref.Exp != nil && *ref.Exp != c.ExpiresAt.Unix()) {
			t.Fatalf("exp differs on %q", b)
		}
	})
}

// FuzzParseHeader: the header parser never panics and accepts only valid JSON objects with
// exactly alg, typ and kid as strings.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte(`{"alg":"RS256","kid":"abc","typ":"at+jwt"}`))
	f.Add([]byte(`{"alg":"none","typ":"at+jwt"}`))
	f.Add([]byte(`{"alg":"RS256","kid":"a","typ":"at+jwt","crit":["x"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := parseHeader(b)
		if !ok {
			return
		}
		var ref map[string]string
		if err := json.Unmarshal(b, &ref); err != nil || len(ref) != 3 || ref["alg"] != h.alg || ref["typ"] != h.typ || ref["kid"] != h.kid {
			t.Fatalf("header %q: %+v vs %v (%v)", b, h, ref, err)
		}
	})
}
