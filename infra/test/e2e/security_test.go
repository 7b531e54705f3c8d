package e2e_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/infra/local"
	"github.com/keygate/keygate/shared/signing"
)

// The token cases of ../shared/SECURITY-CASES.md (1–10, 13, 14), each a row named by its number,
// sent through the local API Gateway to a protected route (the authorizer) and to
// /v1/auth/validate, against the real bootstraps. Tokens with arbitrary claims are signed with the
// stack's real signing key read from the Secrets Manager emulator, so only the property under
// test is wrong. SECURITY.md maps every case to its tests.

var b64 = base64.RawURLEncoding

// forge builds header.payload.signature from JSON texts, signing with sign (nil: no signature).
func forge(header, payload string, sign func(input []byte) []byte) string {
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	if sign == nil {
		return in + "."
	}
	return in + "." + b64.EncodeToString(sign([]byte(in)))
}

// signingKey reads the e2e stack's current signing key from the emulator.
func signingKey(t *testing.T) *signing.Key {
	t.Helper()
	return signingKeyOf(t, stack)
}

// signingKeyOf reads st's current signing key from the emulator.
func signingKeyOf(t *testing.T, st *local.Stack) *signing.Key {
	t.Helper()
	out, err := st.Secrets.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(st.Env("TokenFunction")["KEYGATE_SIGNING_SECRET"]), VersionStage: aws.String("AWSCURRENT")})
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.Parse([]byte(aws.ToString(out.SecretString)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rs256(k crypto.Signer) func([]byte) []byte {
	return func(in []byte) []byte {
		d := sha256.Sum256(in)
		sig, err := k.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			panic(err)
		}
		return sig
	}
}

func hs256(secret []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

// claimsOf decodes an issued token's payload as an ordered list of members we can edit.
func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	p, err := b64.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(p))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestSecurityCasesForTokens(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	access, refreshTok := tokenFor(t, key, nil)
	sk := signingKey(t)
	pub := sk.Public.(*rsa.PublicKey)
	claims := claimsOf(t, access)
	hdr := func(alg string, extra ...any) string {
		h := map[string]any{"alg": alg, "typ": "at+jwt", "kid": sk.Kid}
		for i := 0; i < len(extra); i += 2 {
			if extra[i+1] == nil {
				delete(h, extra[i].(string))
				continue
			}
			h[extra[i].(string)] = extra[i+1]
		}
		return js(h)
	}
	good := hdr("RS256")
	now := time.Now().Unix()
	parts := strings.Split(access, ".")
	sig, _ := b64.DecodeString(parts[2])
	flipped := append([]byte{}, sig...)
	flipped[10] ^= 1
	pemKey, _ := x509.MarshalPKIXPublicKey(pub)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pemKey})
	jwkBytes, _ := json.Marshal(sk.PublicJWK())
	attacker, _ := rsa.GenerateKey(rand.Reader, 2048)
	attackerJWK := map[string]any{"kty": "RSA", "n": b64.EncodeToString(attacker.N.Bytes()), "e": "AQAB"}

	tests := []struct {
		name  string
		token string
		ok    bool // only the control rows are accepted
	}{
		{"control: the issued token", access, true},
		{"control: re-signed unchanged claims", forge(good, js(claims), rs256(sk.Private)), true},
		{"1: alg none", forge(hdr("none"), js(claims), nil), false},
		{"1: alg None", forge(hdr("None"), js(claims), nil), false},
		{"1: alg NONE", forge(hdr("NONE"), js(claims), nil), false},
		{"1: alg nOnE with the real signature", parts[0][:0] + b64.EncodeToString([]byte(hdr("nOnE"))) + "." + parts[1] + "." + parts[2], false},
		{"2: signature stripped", parts[0] + "." + parts[1] + ".", false},
		{"2: signature truncated", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-8], false},
		{"2: one signature bit flipped", parts[0] + "." + parts[1] + "." + b64.EncodeToString(flipped), false},
		{"2: payload changed, signature kept", parts[0] + "." + b64.EncodeToString([]byte(js(with(claims, "scope", "admin:full")))) + "." + parts[2], false},
		{"3: HS256 keyed with the PEM public key", forge(hdr("HS256"), js(claims), hs256(pemBytes)), false},
		{"3: HS256 keyed with the JWK", forge(hdr("HS256"), js(claims), hs256(jwkBytes)), false},
		{"3: HS256 keyed with the modulus", forge(hdr("HS256"), js(claims), hs256(pub.N.Bytes())), false},
		{"4: attacker key embedded as jwk", forge(hdr("RS256", "jwk", attackerJWK), js(claims), rs256(attacker)), false},
		{"4: attacker key embedded as jwk, no kid", forge(hdr("RS256", "jwk", attackerJWK, "kid", nil), js(claims), rs256(attacker)), false},
		{"4: jku to an attacker JWKS", forge(hdr("RS256", "jku", "https://attacker.example/jwks.json"), js(claims), rs256(attacker)), false},
		{"4: x5u", forge(hdr("RS256", "x5u", "https://attacker.example/cert.pem"), js(claims), rs256(attacker)), false},
		{"4: x5c", forge(hdr("RS256", "x5c", []string{"MIIB"}), js(claims), rs256(attacker)), false},
		{"4: a jwk header on a validly signed token", forge(hdr("RS256", "jwk", attackerJWK), js(claims), rs256(sk.Private)), false},
		{"5: kid path traversal", forge(hdr("RS256", "kid", "../../../../etc/passwd"), js(claims), rs256(sk.Private)), false},
		{"5: kid SQL", forge(hdr("RS256", "kid", "' OR '1'='1"), js(claims), rs256(sk.Private)), false},
		{"5: kid of 10 KB", forge(hdr("RS256", "kid", strings.Repeat("k", 10<<10)), js(claims), rs256(sk.Private)), false},
		{"5: unknown kid", forge(hdr("RS256", "kid", "unknown-kid"), js(claims), rs256(sk.Private)), false},
		{"6: ES256 psychic signature r=s=0", forge(hdr("ES256"), js(claims), func([]byte) []byte { return make([]byte, 64) }), false},
		{"7: expired beyond the leeway", forge(good, js(with(claims, "exp", now-120)), rs256(sk.Private)), false},
		{"7: expired inside the 30 s leeway is accepted", forge(good, js(with(claims, "exp", now-10)), rs256(sk.Private)), true},
		{"7: nbf in the future beyond the leeway", forge(good, js(with(claims, "nbf", now+300)), rs256(sk.Private)), false},
		{"7: iat in the future beyond the leeway", forge(good, js(with(claims, "iat", now+300)), rs256(sk.Private)), false},
		{"7: no exp", forge(good, js(with(claims, "exp", nil)), rs256(sk.Private)), false},
		{"7: exp as a string", forge(good, js(with(claims, "exp", fmt.Sprint(now+600))), rs256(sk.Private)), false},
		{"7: exp as a float overflowing", forge(good, js(with(claims, "exp", json.Number("1e400"))), rs256(sk.Private)), false},
		{"7: exp negative", forge(good, js(with(claims, "exp", -1)), rs256(sk.Private)), false},
		{"8: wrong iss", forge(good, js(with(claims, "iss", "https://evil.example")), rs256(sk.Private)), false},
		{"8: wrong aud", forge(good, js(with(claims, "aud", []string{"https://other.example"})), rs256(sk.Private)), false},
		{"8: no aud", forge(good, js(with(claims, "aud", nil)), rs256(sk.Private)), false},
		{"8: typ JWT (an ID-token-shaped JWT)", forge(hdr("RS256", "typ", "JWT"), js(claims), rs256(sk.Private)), false},
		{"8: no typ", forge(hdr("RS256", "typ", nil), js(claims), rs256(sk.Private)), false},
		{"8: a refresh token presented as an access token", refreshTok, false},
		{"9: case-variant Scope claim", forge(good, js(with(claims, "Scope", "admin:full")), rs256(sk.Private)), false},
		{"9: duplicate scope claim", forge(good, strings.TrimSuffix(js(claims), "}")+`,"scope":"admin:full"}`, rs256(sk.Private)), false},
		{"10: over 8 KB", forge(good, js(with(claims, "pad", strings.Repeat("x", 9<<10))), rs256(sk.Private)), false},
		{"10: thousands of dots", strings.Repeat(".", 4000), false},
		{"10: invalid base64 header", "!!!." + parts[1] + "." + parts[2], false},
		{"10: header not JSON", b64.EncodeToString([]byte("{not json")) + "." + parts[1] + "." + parts[2], false},
		{"10: payload not JSON", forge(good, "[1,2", rs256(sk.Private)), false},
		{"10: four segments", access + ".x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectVerdict(t, apiURL, tt.token, tt.ok) })
	}
	t.Run("6: on the ES256 stack", securityCase6OnES256)
}

// expectVerdict presents token to a protected route (the authorizer) and to /v1/auth/validate
// of the API at base: both accept it when ok, else both refuse it with a 401.
func expectVerdict(t *testing.T, base, token string, ok bool) {
	t.Helper()
	r := callAt(t, base, http.MethodGet, "/v1/customers/c1", token, nil)
	v := callAt(t, base, http.MethodGet, "/v1/auth/validate", token, nil)
	if ok {
		expect(t, r, http.StatusOK, "")
		expect(t, v, http.StatusOK, "")
		return
	}
	expect(t, r, http.StatusUnauthorized, "invalid_token")
	if v.Status != http.StatusUnauthorized {
		t.Fatalf("validate: %d %s", v.Status, v.Body)
	}
	if typ := v.json(t)["error"].(map[string]any)["type"]; typ != "authentication_error" {
		t.Fatalf("validate error type %v", typ)
	}
}

// securityCase6OnES256 is case 6 where it bites, on a stack that signs with ES256: the high-S
// twin of a signature keygate issued (s replaced by n−s, n the order of P-256) is as valid to
// ecdsa.Verify as the original, and r=s=0 names the stack's real P-256 key; both are refused
// while the original is accepted. Signing emits low-S only, so every issued token is the one
// spelling of its signature.
func securityCase6OnES256(t *testing.T) {
	st := stackFor(t, signing.ES256)
	t.Cleanup(stopAlgStacks)
	srv := httptest.NewServer(st.Gateway)
	t.Cleanup(srv.Close)
	key := mintKey(t, st, []string{"customers:read"})
	remember(key)
	sk := signingKeyOf(t, st)
	pub, isEC := sk.Public.(*ecdsa.PublicKey)
	if !isEC || pub.Curve != elliptic.P256() {
		t.Fatalf("the ES256 stack signs with %T", sk.Public)
	}
	n := elliptic.P256().Params().N
	halfN := new(big.Int).Rsh(n, 1)
	// Eight tokens: were s not normalised, all eight would be low-S one time in 256.
	var issued []string
	for i := range 8 {
		tok := issueVia(t, srv, key, nil)
		remember(tok)
		issued = append(issued, tok)
		if _, s := ecdsaRS(t, tok); s.Cmp(halfN) > 0 {
			t.Fatalf("issued ES256 token %d of 8 has a high-S signature; signing must emit low-S only", i+1)
		}
	}
	good := issued[0]
	parts := strings.Split(good, ".")
	r, s := ecdsaRS(t, good)
	highS := new(big.Int).Sub(n, s)
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], r, highS) {
		t.Fatal("the high-S twin does not verify with ecdsa.Verify: the row would prove nothing")
	}
	twin := parts[0] + "." + parts[1] + "." + b64.EncodeToString(append(r.FillBytes(make([]byte, 32)), highS.FillBytes(make([]byte, 32))...))
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"control: an issued ES256 token", good, true},
		{"the high-S twin of its signature (s replaced by n−s)", twin, false},
		{"psychic signature r=s=0 under the stack's P-256 kid", parts[0] + "." + parts[1] + "." + b64.EncodeToString(make([]byte, 64)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectVerdict(t, srv.URL, tt.token, tt.ok) })
	}
}

// ecdsaRS splits a JWS ES256 signature (r‖s, 32 bytes each) into its two numbers.
func ecdsaRS(t *testing.T, tok string) (r, s *big.Int) {
	t.Helper()
	sig, err := b64.DecodeString(tok[strings.LastIndex(tok, ".")+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("ES256 signature of %d bytes (%v)", len(sig), err)
	}
	return new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
}

// 5: a burst of 1,000 unknown kids causes at most one forced keyring refresh (three
// GetSecretValue reads: AWSCURRENT, AWSPREVIOUS, the tested pending key) per refresh interval,
// whichever function instance answers.
func TestSecurityCase5ABurstOfUnknownKidsCostsAtMostOneRefresh(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	access, _ := tokenFor(t, key, nil)
	call(t, http.MethodGet, "/v1/customers/c1", access, nil) // warm an authorizer instance
	sk := signingKey(t)
	claims := claimsOf(t, access)
	before := smCalls.Snapshot()
	for i := 0; i < 1000; i++ {
		h := js(map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": fmt.Sprintf("unknown-%d", i)})
		r := call(t, http.MethodGet, "/v1/customers/c1", forge(h, js(claims), rs256(sk.Private)), nil)
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("kid %d: %d %s", i, r.Status, r.Body)
		}
	}
	ops, n := smCalls.Since(before)
	if n > 3*authorizerInstances() {
		t.Fatalf("1,000 unknown kids made %d Secrets Manager reads %v", n, ops)
	}
	t.Logf("1,000 unknown kids: %d Secrets Manager reads", n)
}

// authorizerInstances is how many authorizer processes may have answered (each refreshes at
// most once per interval); requests here are sequential, so normally one.
func authorizerInstances() int { return 2 }

// 13: only a keyed hash of an API key is stored: no item of the keys table holds the plain key
// or its secret part.
func TestSecurityCase13KeysAreStoredOnlyHashed(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	secretPart := strings.Split(key, "_")[2]
	env := stack.Env("KeysFunction")
	for _, table := range []string{env["KEYGATE_KEYS_TABLE"], env["KEYGATE_TOKENS_TABLE"]} {
		{
			p := dynamodb.NewScanPaginator(stack.DynamoDB, &dynamodb.ScanInput{TableName: aws.String(table)})
			for p.HasMorePages() {
				page, err := p.NextPage(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				for _, item := range page.Items {
					dump := fmt.Sprintf("%v", item)
					if strings.Contains(dump, secretPart) {
						t.Fatalf("table %s holds the key's secret: %s", table, dump)
					}
				}
			}
		}
	}
}

// 14: an expired key whose item DynamoDB has not deleted yet is refused at once.
func TestSecurityCase14AnExpiredKeyIsRefusedBeforeTTLDeletesIt(t *testing.T) {
	need(t)
	exp := time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "expires_at": exp})
	expect(t, call(t, http.MethodGet, "/v1/auth/validate", key, nil), http.StatusOK, "")
	time.Sleep(time.Until(mustParse(t, exp)) + time.Duration(revocationMaxAge+authorizerCacheTTL)*time.Second)
	expect(t, call(t, http.MethodPost, "/v1/auth/token", "", map[string]any{"api_key": key}), http.StatusUnauthorized, "invalid_api_key")
	expect(t, call(t, http.MethodGet, "/v1/customers/c1", key, nil), http.StatusUnauthorized, "invalid_token")
}

func mustParse(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
