package token_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/signing"

	"github.com/keygate/keygate/shared/token"
)

func TestIssueAndVerifyRoundTrip(t *testing.T) {
	rsaS, _, ec, ed := secrets(t)
	for _, s := range [][]byte{rsaS, ec, ed} {
		e := newEnv(t, s, nil)
		t.Run(e.cur.Alg, func(t *testing.T) {
			now := e.clock.Now()
			grant := token.Grant{
				KeyID: "key_ABCDEFGHIJKLMNOPQRST", KeyGen: 3, CustomerID: "cus_42", OwnerID: "team-7", FamilyID: "fam_1",
				Scopes: []string{"customers:read", "billing:read"}, Tier: "pro", RateLimit: 600, TTL: 15 * time.Minute,
			}
			raw, issued := e.issue(t, grant)

			hdr, payload, _ := segments(t, raw)
			if hdr["typ"] != token.Type || hdr["kid"] != e.cur.Kid || hdr["alg"] != e.cur.Alg {
				t.Errorf("header = %v, want typ %s, kid %s, alg %s", hdr, token.Type, e.cur.Kid, e.cur.Alg)
			}
			for _, forbidden := range []string{"jwk", "jku", "x5c", "x5u"} {
				if _, ok := hdr[forbidden]; ok {
					t.Errorf("header carries %q", forbidden)
				}
			}
			want := map[string]any{
				"iss": issuer, "sub": "key_ABCDEFGHIJKLMNOPQRST:cus_42", "scope": "customers:read billing:read",
				"key_id": "key_ABCDEFGHIJKLMNOPQRST", "customer_id": "cus_42", "tier": "pro",
				"owner_id": "team-7", "fid": "fam_1",
				"exp": float64(now.Add(15 * time.Minute).Unix()), "iat": float64(now.Unix()), "nbf": float64(now.Unix()),
				"key_gen": float64(3), "rate_limit": float64(600),
			}
			for k, v := range want {
				if payload[k] != v {
					t.Errorf("claim %s = %v, want %v", k, payload[k], v)
				}
			}
			if aud, _ := payload["aud"].([]any); len(aud) != 1 || aud[0] != audience {
				t.Errorf("aud = %v, want [%s]", payload["aud"], audience)
			}
			if jti, _ := payload["jti"].(string); len(jti) != 22 {
				t.Errorf("jti = %q, want 16 random bytes in base64url", payload["jti"])
			}

			got, err := e.verifier.Verify(ctx, raw)
			if err != nil {
				t.Fatalf("Verify(Issue()) = %v", err)
			}
			if got.Subject != "key_ABCDEFGHIJKLMNOPQRST:cus_42" || got.KeyID != grant.KeyID || got.KeyGen != 3 || got.CustomerID != "cus_42" ||
				got.OwnerID != "team-7" || got.FamilyID != "fam_1" || got.Tier != "pro" || got.RateLimit != 600 || !slices.Equal(got.Scopes(), grant.Scopes) || got.ID != issued.ID {
				t.Errorf("verified claims = %+v, want the issued ones %+v", got, issued)
			}
		})
	}
}

// customer_id is the caller's choice, so it never is the subject alone: key A must not mint
// tokens whose sub is key B's id or another tenant's customer id.
func TestTheSubjectIsTheKeyIDQualifiedByTheCustomer(t *testing.T) {
	e := defaultEnv(t)
	raw, c := e.issue(t, token.Grant{KeyID: "key_00000000000000000000"})
	if c.Subject != "key_00000000000000000000" || c.CustomerID != "" {
		t.Errorf("sub = %q, customer_id = %q; want the key id and no customer", c.Subject, c.CustomerID)
	}
	if _, payload, _ := segments(t, raw); payload["customer_id"] != nil {
		t.Errorf("an empty customer_id is still serialised: %v", payload["customer_id"])
	}
	for _, tt := range []struct{ customer, want string }{
		{"cus_1", "key_00000000000000000000:cus_1"},
		{"key_11111111111111111111", "key_00000000000000000000:key_11111111111111111111"}, // another key's id
		{"a:b", "key_00000000000000000000:a:b"},                                           // the first ':' still splits
	} {
		_, c = e.issue(t, token.Grant{KeyID: "key_00000000000000000000", CustomerID: tt.customer})
		if c.Subject != tt.want || token.Subject("key_00000000000000000000", tt.customer) != tt.want {
			t.Errorf("customer %q: sub = %q, want %q", tt.customer, c.Subject, tt.want)
		}
	}
}

func TestEveryTokenGetsAUniqueID(t *testing.T) {
	_, _, _, ed := secrets(t)
	e := newEnv(t, ed, nil)
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		_, c := e.issue(t, token.Grant{Scopes: []string{"customers:read"}})
		if seen[c.ID] {
			t.Fatalf("duplicate jti %q after %d tokens", c.ID, i)
		}
		seen[c.ID] = true
	}
}

func TestIssueFailsWhenTheKeyringIsUnavailable(t *testing.T) {
	e := defaultEnv(t)
	e.sm.Fail(errors.New("ServiceUnavailable"))
	raw, c, err := e.issuer.Issue(ctx, token.Grant{KeyID: "key_x", TTL: time.Minute})
	if !errors.Is(err, signing.ErrUnavailable) || raw != "" || c != nil {
		t.Errorf("Issue = %q, %v, %v; want a wrapped keyring.ErrUnavailable", raw, c, err)
	}
}

func TestNewVerifierRefusesAnUnsafeConfiguration(t *testing.T) {
	e := defaultEnv(t)
	tests := []struct {
		name     string
		iss, aud string
		leeway   time.Duration
		wantErr  bool
	}{
		{"empty issuer", "", audience, 0, true},
		{"empty audience", issuer, "", 0, true},
		{"both empty", "", "", 0, true},
		{"leeway above 60 s", issuer, audience, 61 * time.Second, true},
		{"a negative leeway", issuer, audience, -time.Second, true},
		{"an hour of leeway", issuer, audience, time.Hour, true},
		{"60 s of leeway", issuer, audience, time.Minute, false},
		{"no leeway", issuer, audience, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := token.NewVerifier(e.ring, tt.iss, tt.aud, tt.leeway, e.clock.Now)
			if (err != nil) != tt.wantErr || (v == nil) != tt.wantErr {
				t.Errorf("NewVerifier = %v, %v; wantErr %v", v, err, tt.wantErr)
			}
		})
	}
}

// errAny401 in a row means ErrInvalid or ErrExpired: both are 401s.
var errAny401 = errors.New("ErrInvalid or ErrExpired")

type forgery struct {
	name string
	make func(t *testing.T, e *env, now time.Time) string
	want error // nil: accepted
}

func withSig(tok, sig string) string { return tok[:strings.LastIndex(tok, ".")+1] + sig }
func sigOf(tok string) string        { return tok[strings.LastIndex(tok, ".")+1:] }

func flipBit(t *testing.T, sig string, byteIndex int) string {
	b, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	b[byteIndex] ^= 0x01
	return b64(b)
}

// realRS256 signs header and claims with the environment's real current RSA key.
func realRS256(t *testing.T, e *env, hdr, payload string) string {
	return craft(t, hdr, payload, "RS256", e.cur.Private)
}

func securityCases() []forgery {
	valid := func(t *testing.T, e *env, now time.Time) string {
		return realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), claims(now, nil))
	}
	withHeader := func(hdr func(e *env) string) func(*testing.T, *env, time.Time) string {
		return func(t *testing.T, e *env, now time.Time) string { return realRS256(t, e, hdr(e), claims(now, nil)) }
	}
	withClaims := func(override map[string]any) func(*testing.T, *env, time.Time) string {
		return func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), claims(now, override))
		}
	}
	withRawClaims := func(override map[string]any, extra string) func(*testing.T, *env, time.Time) string {
		return func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), rawClaims(now, override, extra))
		}
	}
	at := func(now time.Time, d time.Duration) int64 { return now.Add(d).Unix() }

	cases := []forgery{
		// Baselines: prove the crafting itself is right, so each row below isolates one check.
		{"baseline: a crafted token with everything right is accepted", valid, nil},
		{"baseline: a token signed by AWSPREVIOUS (ES256) is accepted", func(t *testing.T, e *env, now time.Time) string {
			return craft(t, header("ES256", e.prev.Kid, "at+jwt"), claims(now, nil), "ES256", e.prev.Private)
		}, nil},
		{"baseline: typ application/at+jwt is accepted (RFC 9068)", withHeader(func(e *env) string { return header("RS256", e.cur.Kid, "application/at+jwt") }), nil},
		{"baseline: typ in upper case is accepted", withHeader(func(e *env) string { return header("RS256", e.cur.Kid, "AT+JWT") }), nil},
	}

	// 1. alg none in any casing, with and without a signature.
	for _, none := range []string{"none", "None", "NONE", "nOnE"} {
		cases = append(cases,
			forgery{"1: alg " + none + " without a signature", func(t *testing.T, e *env, now time.Time) string {
				return craft(t, header(none, e.cur.Kid, "at+jwt"), claims(now, nil), "", nil)
			}, token.ErrInvalid},
			forgery{"1: alg " + none + " with a real signature", func(t *testing.T, e *env, now time.Time) string {
				return withSig(craft(t, header(none, e.cur.Kid, "at+jwt"), claims(now, nil), "", nil), sigOf(valid(t, e, now)))
			}, token.ErrInvalid},
			forgery{"1: alg " + none + " without kid", func(t *testing.T, e *env, now time.Time) string {
				return craft(t, `{"alg":"`+none+`","typ":"at+jwt"}`, claims(now, nil), "", nil)
			}, token.ErrInvalid},
		)
	}

	// 2. Stripped, truncated or bit-flipped signatures.
	cases = append(cases,
		forgery{"2: signature stripped", func(t *testing.T, e *env, now time.Time) string { return withSig(valid(t, e, now), "") }, token.ErrInvalid},
		forgery{"2: signature truncated by one byte", func(t *testing.T, e *env, now time.Time) string {
			s, _ := base64.RawURLEncoding.DecodeString(sigOf(valid(t, e, now)))
			return withSig(valid(t, e, now), b64(s[:len(s)-1]))
		}, token.ErrInvalid},
		forgery{"2: signature truncated to half", func(t *testing.T, e *env, now time.Time) string {
			s := sigOf(valid(t, e, now))
			return withSig(valid(t, e, now), s[:len(s)/2])
		}, token.ErrInvalid},
		forgery{"2: one bit flipped in the first signature byte", func(t *testing.T, e *env, now time.Time) string {
			v := valid(t, e, now)
			return withSig(v, flipBit(t, sigOf(v), 0))
		}, token.ErrInvalid},
		forgery{"2: one bit flipped in the last signature byte", func(t *testing.T, e *env, now time.Time) string {
			v := valid(t, e, now)
			return withSig(v, flipBit(t, sigOf(v), 255))
		}, token.ErrInvalid},
		forgery{"2: one bit flipped in the payload", func(t *testing.T, e *env, now time.Time) string {
			v := valid(t, e, now)
			parts := strings.Split(v, ".")
			p, _ := base64.RawURLEncoding.DecodeString(parts[1])
			p[len(p)/2] ^= 0x01
			return parts[0] + "." + b64(p) + "." + parts[2]
		}, token.ErrInvalid},
		forgery{"2: the signature of another token", func(t *testing.T, e *env, now time.Time) string {
			other := realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), claims(now, map[string]any{"scope": "customers:read"}))
			return withSig(realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), claims(now, map[string]any{"scope": "admin:full"})), sigOf(other))
		}, token.ErrInvalid},
		forgery{"2: an all-zero signature", func(t *testing.T, e *env, now time.Time) string {
			return withSig(valid(t, e, now), b64(make([]byte, 256)))
		}, token.ErrInvalid},
	)

	// 3. Algorithm confusion: HMAC keyed with the public key, and algorithms we never issue.
	pubPEM := func(e *env, typ string) []byte {
		var der []byte
		if typ == "RSA PUBLIC KEY" {
			der = x509.MarshalPKCS1PublicKey(e.cur.Public.(*rsa.PublicKey))
		} else {
			der, _ = x509.MarshalPKIXPublicKey(e.cur.Public)
		}
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	}
	for _, hs := range []string{"HS256", "HS384", "HS512"} {
		cases = append(cases,
			forgery{"3: " + hs + " keyed with the public key PEM (PKIX)", func(t *testing.T, e *env, now time.Time) string {
				return craft(t, header(hs, e.cur.Kid, "at+jwt"), claims(now, nil), hs, pubPEM(e, "PUBLIC KEY"))
			}, token.ErrInvalid},
			forgery{"3: " + hs + " keyed with the public key PEM (PKCS#1)", func(t *testing.T, e *env, now time.Time) string {
				return craft(t, header(hs, e.cur.Kid, "at+jwt"), claims(now, nil), hs, pubPEM(e, "RSA PUBLIC KEY"))
			}, token.ErrInvalid},
			forgery{"3: " + hs + " keyed with the published JWK bytes", func(t *testing.T, e *env, now time.Time) string {
				return craft(t, header(hs, e.cur.Kid, "at+jwt"), claims(now, nil), hs, []byte(mustJSON(e.cur.PublicJWK())))
			}, token.ErrInvalid},
		)
	}
	cases = append(cases,
		forgery{"3: HS256 keyed with the JWKS document", func(t *testing.T, e *env, now time.Time) string {
			jwks := mustJSON(map[string]any{"keys": []signing.JWK{e.cur.PublicJWK(), e.prev.PublicJWK()}})
			return craft(t, header("HS256", e.cur.Kid, "at+jwt"), claims(now, nil), "HS256", []byte(jwks))
		}, token.ErrInvalid},
		forgery{"3: HS256 keyed with the DER public key", func(t *testing.T, e *env, now time.Time) string {
			der, _ := x509.MarshalPKIXPublicKey(e.cur.Public)
			return craft(t, header("HS256", e.cur.Kid, "at+jwt"), claims(now, nil), "HS256", der)
		}, token.ErrInvalid},
		forgery{"3: RS512 with our RSA key", func(t *testing.T, e *env, now time.Time) string {
			return craft(t, header("RS512", e.cur.Kid, "at+jwt"), claims(now, nil), "RS512", e.cur.Private)
		}, token.ErrInvalid},
		forgery{"3: PS256 with our RSA key", func(t *testing.T, e *env, now time.Time) string {
			return craft(t, header("PS256", e.cur.Kid, "at+jwt"), claims(now, nil), "PS256", e.cur.Private)
		}, token.ErrInvalid},
		forgery{"3: RS256 naming the ES256 key's kid (alg pinned to the key)", func(t *testing.T, e *env, now time.Time) string {
			return craft(t, header("RS256", e.prev.Kid, "at+jwt"), claims(now, nil), "RS256", e.cur.Private)
		}, token.ErrInvalid},
		forgery{"3: ES256 naming the RSA key's kid (alg pinned to the key)", func(t *testing.T, e *env, now time.Time) string {
			return craft(t, header("ES256", e.cur.Kid, "at+jwt"), claims(now, nil), "ES256", e.prev.Private)
		}, token.ErrInvalid},
		forgery{"3: alg rs256 in lower case", func(t *testing.T, e *env, now time.Time) string {
			return withSig(craft(t, header("rs256", e.cur.Kid, "at+jwt"), claims(now, nil), "", nil), sigOf(valid(t, e, now)))
		}, token.ErrInvalid},
	)

	// 4. Keys embedded in or referenced from the header are ignored.
	attackerKey := func(t *testing.T) *signing.Key {
		_, attacker, _, _ := secrets(t)
		return parseKey(t, attacker)
	}
	embedded := func(name string, extra func(t *testing.T, a *signing.Key) map[string]any, kidIsOurs bool) forgery {
		return forgery{"4: " + name, func(t *testing.T, e *env, now time.Time) string {
			a := attackerKey(t)
			h := map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": a.Kid}
			if kidIsOurs {
				h["kid"] = e.cur.Kid
			}
			for k, v := range extra(t, a) {
				h[k] = v
			}
			return craft(t, mustJSON(h), claims(now, map[string]any{"scope": "admin:full"}), "RS256", a.Private)
		}, token.ErrInvalid}
	}
	jwk := func(t *testing.T, a *signing.Key) map[string]any { return map[string]any{"jwk": a.PublicJWK()} }
	jku := func(t *testing.T, a *signing.Key) map[string]any {
		return map[string]any{"jku": "https://evil.example/.well-known/jwks.json"}
	}
	x5u := func(t *testing.T, a *signing.Key) map[string]any {
		return map[string]any{"x5u": "https://evil.example/cert.pem"}
	}
	x5c := func(t *testing.T, a *signing.Key) map[string]any {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "evil"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, a.Public, a.Private)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{"x5c": []string{base64.StdEncoding.EncodeToString(der)}}
	}
	cases = append(cases,
		embedded("an embedded jwk with the attacker's kid", jwk, false),
		embedded("an embedded jwk with our kid", jwk, true),
		embedded("a jku with the attacker's kid", jku, false),
		embedded("a jku with our kid", jku, true),
		embedded("an x5u with our kid", x5u, true),
		embedded("an x5c chain with the attacker's kid", x5c, false),
		embedded("an x5c chain with our kid", x5c, true),
	)

	// 5. Malicious kids, each on a token signed with the real key.
	for _, kid := range []struct{ name, json string }{
		{"path traversal", `"../../../../etc/passwd"`},
		{"a URL", `"https://evil.example/key.pem"`},
		{"SQL", `"' OR '1'='1' --"`},
		{"a secret ARN", `"arn:aws:secretsmanager:us-east-1:123456789012:secret:other"`},
		{"a version stage", `"AWSPENDING"`},
		{"a NUL byte", `"\u0000"`},
		{"empty", `""`},
		{"a number", `123`},
		{"null", `null`},
		{"an array", `["a","b"]`},
		{"an object", `{"$ne":null}`},
		{"10 KB", `"` + strings.Repeat("A", 10<<10) + `"`},
		{"65 characters", `"` + strings.Repeat("B", 65) + `"`},
	} {
		cases = append(cases, forgery{"5: kid is " + kid.name, func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, `{"alg":"RS256","typ":"at+jwt","kid":`+kid.json+`}`, claims(now, nil))
		}, token.ErrInvalid})
	}
	cases = append(cases, forgery{"5: no kid at all", withHeader(func(e *env) string { return `{"alg":"RS256","typ":"at+jwt"}` }), token.ErrInvalid})

	// 6. ECDSA psychic signatures.
	n := elliptic.P256().Params().N.FillBytes(make([]byte, 32))
	cases = append(cases,
		forgery{"6: ES256 with r = s = 0", func(t *testing.T, e *env, now time.Time) string {
			return withSig(craft(t, header("ES256", e.prev.Kid, "at+jwt"), claims(now, nil), "", nil), b64(make([]byte, 64)))
		}, token.ErrInvalid},
		forgery{"6: ES256 with r = s = n", func(t *testing.T, e *env, now time.Time) string {
			return withSig(craft(t, header("ES256", e.prev.Kid, "at+jwt"), claims(now, nil), "", nil), b64(append(append([]byte{}, n...), n...)))
		}, token.ErrInvalid},
		forgery{"6: ES256 with the high-S twin (r, n−s) of a valid signature", func(t *testing.T, e *env, now time.Time) string {
			tok := craft(t, header("ES256", e.prev.Kid, "at+jwt"), claims(now, nil), "ES256", e.prev.Private) // low-S
			sig, _ := base64.RawURLEncoding.DecodeString(sigOf(tok))
			return withSig(tok, b64(ecdsaTwin(sig)))
		}, token.ErrInvalid},
		forgery{"6: ES256 with an ASN.1 signature instead of r||s", func(t *testing.T, e *env, now time.Time) string {
			tok := craft(t, header("ES256", e.prev.Kid, "at+jwt"), claims(now, nil), "", nil)
			si := strings.TrimSuffix(tok, ".")
			digest := sha256Sum(si)
			asn1Sig, err := ecdsa.SignASN1(rand.Reader, e.prev.Private.(*ecdsa.PrivateKey), digest)
			if err != nil {
				t.Fatal(err)
			}
			return si + "." + b64(asn1Sig)
		}, token.ErrInvalid},
	)

	// 7. Time.
	cases = append(cases,
		forgery{"7: expired beyond the leeway", func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), claims(now, map[string]any{"exp": at(now, -31*time.Second), "iat": at(now, -time.Hour), "nbf": at(now, -time.Hour)}))
		}, token.ErrExpired},
		forgery{"7: expired within the leeway is accepted", func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), claims(now, map[string]any{"exp": at(now, -29*time.Second), "iat": at(now, -time.Hour), "nbf": at(now, -time.Hour)}))
		}, nil},
		forgery{"7: nbf beyond the leeway", func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), claims(now, map[string]any{"nbf": at(now, 31*time.Second)}))
		}, token.ErrInvalid},
		forgery{"7: nbf within the leeway is accepted", func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), claims(now, map[string]any{"nbf": at(now, 29*time.Second)}))
		}, nil},
		forgery{"7: iat beyond the leeway", func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), claims(now, map[string]any{"iat": at(now, 31*time.Second)}))
		}, token.ErrInvalid},
		forgery{"7: iat within the leeway is accepted", func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), claims(now, map[string]any{"iat": at(now, 29*time.Second)}))
		}, nil},
		forgery{"7: iat a year in the future", func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), claims(now, map[string]any{"iat": at(now, 365*24*time.Hour)}))
		}, token.ErrInvalid},
		forgery{"7: no exp", withClaims(map[string]any{"exp": nil}), token.ErrInvalid},
		forgery{"7: exp null", withRawClaims(map[string]any{"exp": nil}, `"exp":null`), token.ErrInvalid},
		forgery{"7: exp as a string", func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), claims(now, map[string]any{"exp": "9999999999"}))
		}, token.ErrInvalid},
		forgery{"7: exp as a float that overflows", withRawClaims(map[string]any{"exp": nil}, `"exp":1e400`), token.ErrInvalid},
		forgery{"7: exp as a huge finite float", withRawClaims(map[string]any{"exp": nil}, `"exp":1.5e300`), errAny401},
		forgery{"7: exp negative", withClaims(map[string]any{"exp": -1}), errAny401},
		forgery{"7: exp zero", withClaims(map[string]any{"exp": 0}), errAny401},
		forgery{"7: exp as a boolean", withClaims(map[string]any{"exp": true}), token.ErrInvalid},
		forgery{"7: exp as an object", withClaims(map[string]any{"exp": map[string]int{"$gt": 0}}), token.ErrInvalid},
		forgery{"7: exp as an array", withClaims(map[string]any{"exp": []int64{9999999999}}), token.ErrInvalid},
		forgery{"7: nbf as a string", withClaims(map[string]any{"nbf": "0"}), token.ErrInvalid},
	)

	// 8. Issuer, audience and type.
	cases = append(cases,
		forgery{"8: wrong iss", withClaims(map[string]any{"iss": "https://evil.example"}), token.ErrInvalid},
		forgery{"8: iss with a trailing slash", withClaims(map[string]any{"iss": issuer + "/"}), token.ErrInvalid},
		forgery{"8: iss in another case", withClaims(map[string]any{"iss": strings.ToUpper(issuer)}), token.ErrInvalid},
		forgery{"8: no iss", withClaims(map[string]any{"iss": nil}), token.ErrInvalid},
		forgery{"8: wrong aud", withClaims(map[string]any{"aud": []string{"https://other.example"}}), token.ErrInvalid},
		forgery{"8: aud as a wrong string", withClaims(map[string]any{"aud": "https://other.example"}), token.ErrInvalid},
		forgery{"8: empty aud array", withClaims(map[string]any{"aud": []string{}}), token.ErrInvalid},
		forgery{"8: no aud", withClaims(map[string]any{"aud": nil}), token.ErrInvalid},
		forgery{"8: typ JWT", withHeader(func(e *env) string { return header("RS256", e.cur.Kid, "JWT") }), token.ErrInvalid},
		forgery{"8: no typ", withHeader(func(e *env) string { return `{"alg":"RS256","kid":"` + e.cur.Kid + `"}` }), token.ErrInvalid},
		forgery{"8: typ of a refresh token", withHeader(func(e *env) string { return header("RS256", e.cur.Kid, "rt+jwt") }), token.ErrInvalid},
		forgery{"8: typ refresh+jwt", withHeader(func(e *env) string { return header("RS256", e.cur.Kid, "refresh+jwt") }), token.ErrInvalid},
		forgery{"8: typ with trailing space", withHeader(func(e *env) string { return header("RS256", e.cur.Kid, "at+jwt ") }), token.ErrInvalid},
		forgery{"8: typ as a number", withHeader(func(e *env) string { return `{"alg":"RS256","typ":1,"kid":"` + e.cur.Kid + `"}` }), token.ErrInvalid},
		forgery{"8: an ID-token-shaped JWT", func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, header("RS256", e.cur.Kid, "JWT"), claims(now, map[string]any{
				"nonce": "n-0S6_WzA2Mj", "auth_time": now.Unix(), "azp": "client", "scope": nil, "key_id": nil}))
		}, token.ErrInvalid},
		forgery{"8: an access token without key_id", withClaims(map[string]any{"key_id": nil}), token.ErrInvalid},
	)

	// 9. Duplicate or case-variant claim names never widen access.
	cases = append(cases,
		forgery{"9: a second scope member after the first", withRawClaims(nil, `"scope":"admin:full"`), token.ErrInvalid},
		forgery{"9: a case-variant Scope member", withRawClaims(nil, `"Scope":"admin:full"`), token.ErrInvalid},
		forgery{"9: an upper-case SCOPE member", withRawClaims(nil, `"SCOPE":"admin:full"`), token.ErrInvalid},
		forgery{"9: only a case-variant Scope member", withRawClaims(map[string]any{"scope": nil}, `"Scope":"admin:full"`), token.ErrInvalid},
		forgery{"9: a case-variant Key_ID member", withRawClaims(nil, `"Key_ID":"key_ADMINADMINADMINADMI"`), token.ErrInvalid},
		forgery{"9: a duplicate aud, wrong first", withRawClaims(map[string]any{"aud": "https://other.example"}, `"aud":"`+audience+`"`), token.ErrInvalid},
	)

	// 10. Size and encoding.
	cases = append(cases,
		forgery{"10: a token over 8 KB signed with the real key", withClaims(map[string]any{"pad": strings.Repeat("x", token.MaxBytes)}), token.ErrInvalid},
		forgery{"10: thousands of dots", func(*testing.T, *env, time.Time) string { return strings.Repeat(".", 5000) }, token.ErrInvalid},
		forgery{"10: a valid token followed by dots", func(t *testing.T, e *env, now time.Time) string { return valid(t, e, now) + "..." }, token.ErrInvalid},
		forgery{"10: two segments", func(t *testing.T, e *env, now time.Time) string {
			v := valid(t, e, now)
			return v[:strings.LastIndex(v, ".")]
		}, token.ErrInvalid},
		forgery{"10: four segments", func(t *testing.T, e *env, now time.Time) string { return valid(t, e, now) + ".e30" }, token.ErrInvalid},
		forgery{"10: only dots", func(*testing.T, *env, time.Time) string { return ".." }, token.ErrInvalid},
		forgery{"10: empty", func(*testing.T, *env, time.Time) string { return "" }, token.ErrInvalid},
		forgery{"10: invalid base64 in the header", func(t *testing.T, e *env, now time.Time) string { return "!!" + valid(t, e, now)[2:] }, token.ErrInvalid},
		forgery{"10: invalid base64 in the payload", func(t *testing.T, e *env, now time.Time) string {
			p := strings.Split(valid(t, e, now), ".")
			return p[0] + ".*" + p[1][1:] + "." + p[2]
		}, token.ErrInvalid},
		forgery{"10: invalid base64 in the signature", func(t *testing.T, e *env, now time.Time) string {
			v := valid(t, e, now)
			return withSig(v, "%%"+sigOf(v)[2:])
		}, token.ErrInvalid},
		forgery{"10: padded base64 signature", func(t *testing.T, e *env, now time.Time) string { return valid(t, e, now) + "==" }, token.ErrInvalid},
		forgery{"10: standard instead of URL base64", func(t *testing.T, e *env, now time.Time) string {
			v := valid(t, e, now)
			s, _ := base64.RawURLEncoding.DecodeString(sigOf(v))
			return withSig(v, base64.RawStdEncoding.EncodeToString(s))
		}, errAny401},
		forgery{"10: invalid JSON in the header", func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, `{"alg":"RS256","kid":"`+e.cur.Kid+`","typ":"at+jwt"`, claims(now, nil))
		}, token.ErrInvalid},
		forgery{"10: invalid JSON in the payload", func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), `{"exp":`)
		}, token.ErrInvalid},
		forgery{"10: a header that is an array", func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, `["RS256"]`, claims(now, nil))
		}, token.ErrInvalid},
		forgery{"10: a payload that is null", func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), `null`)
		}, token.ErrInvalid},
		forgery{"10: a payload that is a string", func(t *testing.T, e *env, now time.Time) string {
			return realRS256(t, e, header("RS256", e.cur.Kid, "at+jwt"), `"admin:full"`)
		}, token.ErrInvalid},
		forgery{"10: a deeply nested payload", withRawClaims(nil, `"deep":`+strings.Repeat("[", 2000)+strings.Repeat("]", 2000)), errAny401OrAccepted},
	)
	return cases
}

// errAny401OrAccepted: a harmless but odd token; only a crash or an unavailable error is wrong.
var errAny401OrAccepted = errors.New("any outcome but a dependency error")

func TestVerifyRefusesForgedAndMalformedTokens(t *testing.T) {
	for _, tt := range securityCases() {
		t.Run(tt.name, func(t *testing.T) {
			e := defaultEnv(t)
			if _, err := e.ring.Signing(ctx); err != nil { // warm, as in a running container
				t.Fatal(err)
			}
			now := e.clock.Now()
			raw := tt.make(t, e, now)
			c, err := e.verifier.Verify(ctx, raw)
			switch tt.want {
			case nil:
				if err != nil || c == nil {
					t.Fatalf("Verify = %v, want the token accepted", err)
				}
			case errAny401:
				if !errors.Is(err, token.ErrInvalid) && !errors.Is(err, token.ErrExpired) {
					t.Fatalf("Verify = %v, want ErrInvalid or ErrExpired", err)
				}
			case errAny401OrAccepted:
				if err != nil && !errors.Is(err, token.ErrInvalid) && !errors.Is(err, token.ErrExpired) {
					t.Fatalf("Verify = %v, want a 401 or acceptance", err)
				}
			default:
				if !errors.Is(err, tt.want) {
					scope := ""
					if c != nil {
						scope = c.Scope
					}
					t.Fatalf("Verify = %v (scope %q), want %v", err, scope, tt.want)
				}
			}
			if tt.want != nil && tt.want != errAny401OrAccepted && c != nil {
				t.Errorf("Verify returned claims with an error")
			}
			// 5: no lookup is driven by the token: only our secret, only the keyring's fixed
			// stages (CURRENT/PREVIOUS; only the JWKS function reads KEYGATE_TESTED), and at most one
			// forced refresh on top of the warm-up load.
			calls := e.sm.Inputs()
			current := 0
			for _, in := range calls {
				if *in.SecretId != secretID || in.VersionId != nil {
					t.Errorf("a token drove a lookup of SecretId %q VersionId %v", *in.SecretId, in.VersionId)
				}
				if stage := *in.VersionStage; stage != secret.StageCurrent && stage != secret.StagePrevious {
					t.Errorf("a token drove a lookup of stage %q", stage)
				}
				if *in.VersionStage == secret.StageCurrent {
					current++
				}
			}
			if current > 2 {
				t.Errorf("%d AWSCURRENT reads for one token, want at most 2", current)
			}
		})
	}
}

func TestOversizeAndDottyTokensAreRefusedWithoutAllocating(t *testing.T) {
	e := defaultEnv(t)
	for name, raw := range map[string]string{
		"1 MB":              strings.Repeat("a", 1<<20),
		"8 KB + 1":          strings.Repeat("a", token.MaxBytes+1),
		"thousands of dots": strings.Repeat(".", token.MaxBytes),
	} {
		allocs := testing.AllocsPerRun(10, func() {
			if _, err := e.verifier.Verify(ctx, raw); !errors.Is(err, token.ErrInvalid) {
				t.Fatalf("Verify(%s) = %v", name, err)
			}
		})
		if allocs != 0 {
			t.Errorf("Verify(%s) allocated %.0f times before refusing", name, allocs)
		}
	}
}

// Go's base64 decoder ignores the unused low bits of the last character, and CR and LF
// anywhere (even in Strict mode), so the same signature has several spellings and an issued
// token could be replayed under a different string (which defeats any denylist or cache keyed
// by the raw token). The signature itself can have a second valid value too: ECDSA's (r, n−s)
// verifies wherever (r, s) does, and a lax Ed25519 verifier accepts S+L for S. Every re-spelling,
// for each algorithm keygate issues, must be refused.
func TestReSpellingsOfAnIssuedTokenAreRefused(t *testing.T) {
	rsaS, _, ec, ed := secrets(t)
	for _, s := range [][]byte{rsaS, ec, ed} {
		e := newEnv(t, s, nil)
		t.Run(e.cur.Alg, func(t *testing.T) {
			raw, _ := e.issue(t, token.Grant{Scopes: []string{"customers:read"}})
			if _, err := e.verifier.Verify(ctx, raw); err != nil {
				t.Fatalf("the issued token itself = %v", err)
			}
			dot := strings.LastIndexByte(raw, '.')
			sig, err := base64.RawURLEncoding.DecodeString(raw[dot+1:])
			if err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name    string
				variant string
			}{
				{"the signature's unused low bits changed", respell(raw)},
				{"a LF inside the signature", raw[:dot+5] + "\n" + raw[dot+5:]},
				{"a CR inside the signature", raw[:dot+5] + "\r" + raw[dot+5:]},
				{"a CRLF after the signature", raw + "\r\n"},
				{"a LF inside the header", raw[:3] + "\n" + raw[3:]},
			}
			switch e.cur.Alg {
			case signing.RS256:
				tests = append(tests, struct{ name, variant string }{"the signature plus the modulus", withSig(raw, b64(rsaPlusN(sig, e.cur.Public.(*rsa.PublicKey))))})
			case signing.ES256:
				if !isLowS(sig) {
					t.Errorf("BUG: Issue emitted a high-S ES256 signature (s > n/2)")
				}
				tests = append(tests, struct{ name, variant string }{"the high-S twin (r, n−s) of the signature", withSig(raw, b64(ecdsaTwin(sig)))})
			case signing.EdDSA:
				tests = append(tests, struct{ name, variant string }{"the signature with S+L for S", withSig(raw, b64(ed25519PlusL(sig)))})
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if tt.variant == raw {
						t.Fatal("could not build the re-spelling")
					}
					if _, err := e.verifier.Verify(ctx, tt.variant); !errors.Is(err, token.ErrInvalid) {
						t.Errorf("BUG: %q, a re-spelling of an issued token, verifies (err %v)", tt.variant, err)
					}
				})
			}
		})
	}
}

// ed25519PlusL returns R || (S+L): S+L ≡ S modulo the group order L, so a verifier that does
// not insist on S < L (RFC 8032 §5.1.7) accepts it.
func ed25519PlusL(sig []byte) []byte {
	// L = 2^252 + 27742317777372353535851937790883648493, the order of Ed25519's base point.
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	le := func(b []byte) []byte { // little-endian ↔ big-endian
		out := make([]byte, len(b))
		for i := range b {
			out[len(b)-1-i] = b[i]
		}
		return out
	}
	s := new(big.Int).SetBytes(le(sig[32:]))
	s.Add(s, l) // < 2^253: still 32 bytes
	return append(append([]byte{}, sig[:32]...), le(s.FillBytes(make([]byte, 32)))...)
}

// rsaPlusN returns the RSA signature plus the modulus (≡ the signature modulo N), one byte longer
// if it no longer fits the modulus length.
func rsaPlusN(sig []byte, pub *rsa.PublicKey) []byte {
	return new(big.Int).Add(new(big.Int).SetBytes(sig), pub.N).Bytes()
}

// Issue makes ES256 signatures low-S only, so the one spelling the verifier accepts is the one
// it issues. Each signature is random: 200 in a row all low-S by chance has probability 2^-200.
func TestES256SignaturesAreAlwaysLowS(t *testing.T) {
	_, _, ec, _ := secrets(t)
	e := newEnv(t, ec, nil)
	for i := range 200 {
		raw, _ := e.issue(t, token.Grant{Scopes: []string{"customers:read"}})
		_, _, sig := segments(t, raw)
		if len(sig) != 64 {
			t.Fatalf("ES256 signature of %d bytes, want r||s of 64", len(sig))
		}
		if !isLowS(sig) {
			t.Fatalf("signature %d of 200 is high-S (s > n/2)", i+1)
		}
		if _, err := e.verifier.Verify(ctx, raw); err != nil {
			t.Fatalf("signature %d: Verify = %v", i+1, err)
		}
	}
}

// respell changes the unused low bits of the signature's last base64url character.
func respell(raw string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, raw[len(raw)-1])
	sigLen := len(raw) - strings.LastIndex(raw, ".") - 1
	unused := map[int]int{2: 4, 3: 2}[sigLen%4] // 2 chars → 4 spare bits, 3 chars → 2
	if unused == 0 || last < 0 {
		return raw
	}
	return raw[:len(raw)-1] + string(alphabet[last^1])
}

func TestVerifyReportsAnUnavailableKeyringAsADependencyFailure(t *testing.T) {
	healthy := defaultEnv(t)
	raw, _ := healthy.issue(t, token.Grant{Scopes: []string{"customers:read"}})

	t.Run("cold start", func(t *testing.T) {
		e := defaultEnv(t)
		e.sm.Fail(errors.New("dial tcp: i/o timeout"))
		_, err := e.verifier.Verify(ctx, raw)
		if !errors.Is(err, signing.ErrUnavailable) || errors.Is(err, token.ErrInvalid) || errors.Is(err, token.ErrExpired) {
			t.Errorf("Verify = %v, want a wrapped keyring.ErrUnavailable and not a 401", err)
		}
	})
	t.Run("warm beyond MaxStale", func(t *testing.T) {
		e := defaultEnv(t)
		if _, err := e.verifier.Verify(ctx, raw); err != nil {
			t.Fatal(err)
		}
		e.sm.Fail(errors.New("dial tcp: i/o timeout"))
		e.clock.Advance(59 * time.Minute)
		if _, err := e.verifier.Verify(ctx, raw); err != nil {
			t.Errorf("Verify within MaxStale during an outage = %v, want the cached key used", err)
		}
		e.clock.Advance(time.Minute)
		_, err := e.verifier.Verify(ctx, raw)
		if !errors.Is(err, signing.ErrUnavailable) || errors.Is(err, token.ErrInvalid) {
			t.Errorf("Verify beyond MaxStale = %v, want a wrapped keyring.ErrUnavailable", err)
		}
	})
}

func TestAnIssuedTokenExpiresByTheClock(t *testing.T) {
	e := defaultEnv(t)
	raw, _ := e.issue(t, token.Grant{Scopes: []string{"customers:read"}, TTL: 10 * time.Minute})
	e.clock.Advance(10*time.Minute + token.DefaultLeeway - time.Second)
	if _, err := e.verifier.Verify(ctx, raw); err != nil {
		t.Errorf("Verify just inside the leeway = %v", err)
	}
	e.clock.Advance(2 * time.Second)
	if _, err := e.verifier.Verify(ctx, raw); !errors.Is(err, token.ErrExpired) {
		t.Errorf("Verify after exp + leeway = %v, want ErrExpired", err)
	}
}

// 21: tokens signed by AWSCURRENT and AWSPREVIOUS verify; older ones do not.
func TestTokensSurviveOneRotationButNotTwo(t *testing.T) {
	rsaS, _, ec, ed := secrets(t)
	e := newEnv(t, rsaS, nil)
	raw, _ := e.issue(t, token.Grant{Scopes: []string{"customers:read"}, TTL: time.Hour})

	e.sm.Rotate(ec)
	e.clock.Advance(6 * time.Minute) // past RefreshEvery
	if _, err := e.verifier.Verify(ctx, raw); err != nil {
		t.Errorf("a token of the previous key after one rotation = %v", err)
	}
	next, _ := e.issue(t, token.Grant{Scopes: []string{"customers:read"}})
	if hdr, _, _ := segments(t, next); hdr["alg"] != signing.ES256 {
		t.Errorf("after rotation Issue signs with %v, want the new ES256 key", hdr["alg"])
	}

	e.sm.Rotate(ed)
	e.clock.Advance(6 * time.Minute)
	if _, err := e.verifier.Verify(ctx, raw); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("a token two rotations old = %v, want ErrInvalid", err)
	}
	if _, err := e.verifier.Verify(ctx, next); err != nil {
		t.Errorf("a token of the now-previous key = %v", err)
	}
}

func TestScopesSplitsTheScopeClaim(t *testing.T) {
	for in, want := range map[string][]string{
		"":                               nil,
		"customers:read":                 {"customers:read"},
		"customers:read billing:read":    {"customers:read", "billing:read"},
		"  customers:read   admin:full ": {"customers:read", "admin:full"},
	} {
		c := token.Claims{Scope: in}
		if got := c.Scopes(); !slices.Equal(got, want) {
			t.Errorf("Scopes(%q) = %q, want %q", in, got, want)
		}
	}
}

func sha256Sum(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}
