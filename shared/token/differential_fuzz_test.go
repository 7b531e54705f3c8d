package token_test

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"

	"github.com/keygate/keygate/shared/signing"

	"github.com/keygate/keygate/shared/token"
)

// A second opinion on keygate's verifier: the same input goes to token.Verifier and to go-jose
// (github.com/go-jose/go-jose/v4, a maintained JOSE implementation with its own parser, JSON
// decoder and JWK reader; a test-only dependency, so it never reaches a bootstrap, which
// TestGoJoseNeverReachesABootstrap checks). go-jose is configured as strictly as it allows:
//
//   - allowed algorithms exactly RS256, ES256 and EdDSA (what keygate issues);
//   - the same keys, as the JWKS publishes them (signing.PublicJWK), read by go-jose's JWK parser;
//     the kid picks exactly one key and the header's alg must be that key's published alg;
//   - compact serialization only (jwt.ParseSigned → ParseSignedCompact: no whitespace stripping);
//
// and then the claims go-jose parsed are checked as keygate claims to check them, with the same
// clock and leeway: typ at+jwt or application/at+jwt (any case, RFC 9068 §4), iss equal, aud
// containing ours, exp present, go-jose's own ValidateWithLeeway (nbf, iat, exp), and RFC 7519
// §4.1.4's reading of exp (valid only before exp + leeway; go-jose alone still accepts at exactly
// exp + leeway).
//
// Property: keygate never accepts what go-jose so configured refuses, and when both accept they
// read the same claims. Every token go-jose accepts and keygate refuses must be explained by one
// of keygate's documented strictnesses (keygateOnly below; SECURITY.md, "A second opinion"):
//
//  1. size: a token over token.MaxBytes (8 KB) is refused before it is parsed.
//  2. base64url spelling: each segment must be canonical unpadded base64url. Go's decoder, which
//     go-jose uses, skips CR and LF and ignores the unused low bits of the last character, so
//     go-jose accepts other spellings of the same token.
//  3. header members: exactly alg, typ and kid, as strings. go-jose ignores unknown members.
//  4. claim set: only keygate's claim names, with the JSON types Issue writes: dates are
//     integers within 0..2^40 (go-jose takes floats, exponents and dates up to 2^62, truncating
//     fractions), key_gen an integer, rate_limit within 0..2^31−1, aud one string or 1..8
//     strings, no null for a string. go-jose ignores unknown claims (case variants included).
//  5. UTF-8: header and claim set must be valid UTF-8 (go-jose's decoder replaces invalid bytes
//     by U+FFFD).
//  6. key_id: the key_id claim is required and non-empty (go-jose has no notion of it).
//  7. low-S: an ES256 signature must have s ≤ n/2; go-jose (crypto/ecdsa) also accepts (r, n−s),
//     the second spelling of every ECDSA signature.
//
// Not differences (both refuse): a member name given twice in the header or the claim set
// (go-jose's JSON decoder refuses duplicates too), non-canonical Ed25519 S (S+L: both use
// crypto/ed25519), an RSA signature ≥ N, alg none or HMAC, an alg that is not the key's,
// unknown kids. The signature arithmetic is Go's crypto packages in both: the second opinion is
// on everything around it (parsing, algorithm and key selection, claims), not on the curves.

// diffNow is the fuzz target's clock: tokens are built for it, both verifiers read it.
var diffNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// diffAlgs are the algorithms go-jose may accept: exactly those keygate issues.
var diffAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// staticKeys is a fixed key set (what the keyring serves as CURRENT and PREVIOUS, without
// Secrets Manager), for keygate's verifier and, through the JWKS, for go-jose.
type staticKeys map[string]*signing.Key

func (k staticKeys) Verification(_ context.Context, kid string) (*signing.Key, error) {
	if key, ok := k[kid]; ok {
		return key, nil
	}
	return nil, signing.ErrUnknownKid
}

type signWith struct{ key *signing.Key }

func (s signWith) Signing(context.Context) (*signing.Key, error) { return s.key, nil }

type differential struct {
	byAlg    map[string]*signing.Key // the fixed test-only keys, one per algorithm
	attacker *signing.Key            // a key keygate does not know
	verifier *token.Verifier
	jwks     jose.JSONWebKeySet
}

var (
	diffOnce sync.Once
	diff     *differential
	diffErr  error
)

// newDifferential loads the fixed test-only keys (fixed, because fuzzing runs in several
// processes and a seed signed in one must verify in all) and builds both verifiers over them.
func newDifferential(tb testing.TB) *differential {
	tb.Helper()
	diffOnce.Do(func() { diff, diffErr = loadDifferential() })
	if diffErr != nil {
		tb.Fatal(diffErr)
	}
	return diff
}

func loadDifferential() (*differential, error) {
	d := &differential{byAlg: map[string]*signing.Key{}}
	keys := staticKeys{}
	var published []signing.JWK
	for _, file := range []string{"test-only-rsa-2048.json", "test-only-p256.json", "test-only-ed25519.json"} {
		b, err := os.ReadFile("testdata/" + file)
		if err != nil {
			return nil, err
		}
		k, err := signing.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		d.byAlg[k.Alg], keys[k.Kid] = k, k
		published = append(published, k.PublicJWK())
	}
	attacker, err := signing.Generate(signing.EdDSA, rand.Reader, diffNow)
	if err != nil {
		return nil, err
	}
	if d.attacker, err = signing.Parse(attacker); err != nil {
		return nil, err
	}
	if d.verifier, err = token.NewVerifier(keys, issuer, audience, token.DefaultLeeway, func() time.Time { return diffNow }); err != nil {
		return nil, err
	}
	doc, err := json.Marshal(map[string]any{"keys": published})
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(doc, &d.jwks); err != nil {
		return nil, fmt.Errorf("go-jose cannot read the JWKS: %w", err)
	}
	if len(d.jwks.Keys) != 3 {
		return nil, fmt.Errorf("go-jose read %d keys from the JWKS, want 3", len(d.jwks.Keys))
	}
	return d, nil
}

// joseClaims is what go-jose's decoder reads from a payload: the registered claims into
// go-jose's own types, keygate's private claims alongside.
type joseClaims struct {
	josejwt.Claims
	Private struct {
		Scope      string `json:"scope"`
		KeyID      string `json:"key_id"`
		KeyGen     int64  `json:"key_gen"`
		CustomerID string `json:"customer_id"`
		Tier       string `json:"tier"`
		RateLimit  int    `json:"rate_limit"`
	}
}

// goJose verifies raw with go-jose as strictly as it is configurable, then checks the claims it
// parsed the way keygate claims to; the error says why it refuses.
func (d *differential) goJose(raw string) (*joseClaims, error) {
	tok, err := josejwt.ParseSigned(raw, diffAlgs)
	if err != nil {
		return nil, fmt.Errorf("parse or alg: %w", err)
	}
	if len(tok.Headers) != 1 {
		return nil, fmt.Errorf("%d signatures", len(tok.Headers))
	}
	h := tok.Headers[0]
	keys := d.jwks.Key(h.KeyID)
	if len(keys) != 1 {
		return nil, fmt.Errorf("kid: %d keys named %q", len(keys), h.KeyID)
	}
	if keys[0].Algorithm != h.Algorithm {
		return nil, fmt.Errorf("alg: %s, but the key is published for %s", h.Algorithm, keys[0].Algorithm)
	}
	c := &joseClaims{}
	if err := tok.Claims(keys[0], &c.Claims, &c.Private); err != nil {
		return nil, fmt.Errorf("signature or claims JSON: %w", err)
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, token.Type) && !strings.EqualFold(typ, "application/"+token.Type) {
		return nil, fmt.Errorf("typ %q", typ)
	}
	if c.Expiry == nil {
		return nil, errors.New("exp: missing")
	}
	want := josejwt.Expected{Issuer: issuer, AnyAudience: josejwt.Audience{audience}, Time: diffNow}
	if err := c.ValidateWithLeeway(want, token.DefaultLeeway); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	if !diffNow.Before(c.Expiry.Time().Add(token.DefaultLeeway)) {
		return nil, errors.New("exp: not before exp + leeway (RFC 7519 §4.1.4)")
	}
	return c, nil
}

// sameClaims compares what the two verifiers read from a token both accept.
func sameClaims(k *token.Claims, j *joseClaims) error {
	date := func(name string, a interface{ Unix() int64 }, aNil bool, b *josejwt.NumericDate) error {
		if aNil != (b == nil) || (!aNil && a.Unix() != b.Time().Unix()) {
			return fmt.Errorf("%s: keygate %v, go-jose %v", name, a, b)
		}
		return nil
	}
	switch {
	case k.Issuer != j.Issuer, k.Subject != j.Subject, k.ID != j.ID:
		return fmt.Errorf("iss/sub/jti: keygate %q %q %q, go-jose %q %q %q", k.Issuer, k.Subject, k.ID, j.Issuer, j.Subject, j.ID)
	case !slices.Equal([]string(k.Audience), []string(j.Audience)):
		return fmt.Errorf("aud: keygate %q, go-jose %q", k.Audience, j.Audience)
	case k.Scope != j.Private.Scope, k.KeyID != j.Private.KeyID, k.KeyGen != j.Private.KeyGen,
		k.CustomerID != j.Private.CustomerID, k.Tier != j.Private.Tier, k.RateLimit != j.Private.RateLimit:
		return fmt.Errorf("private claims: keygate %+v, go-jose %+v", k, j.Private)
	}
	if err := date("exp", k.ExpiresAt, k.ExpiresAt == nil, j.Expiry); err != nil {
		return err
	}
	if err := date("nbf", k.NotBefore, k.NotBefore == nil, j.NotBefore); err != nil {
		return err
	}
	return date("iat", k.IssuedAt, k.IssuedAt == nil, j.IssuedAt)
}

// The names keygateOnly gives the documented differences (the list at the top of this file).
const (
	diffSize      = "1 size"
	diffBase64    = "2 base64url spelling"
	diffHeader    = "3 header members"
	diffClaims    = "4 claim set"
	diffUTF8      = "5 UTF-8"
	diffKeyID     = "6 key_id"
	diffLowS      = "7 low-S"
	diffUndefined = ""
)

// keygateOnly names the documented strictness of keygate's that refuses raw, or "" if none
// does. It is written from the documentation, not from verify.go, so that a difference keygate's
// code has but its documentation lacks shows up as "".
func keygateOnly(raw string) string {
	if len(raw) > token.MaxBytes {
		return diffSize
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return diffUndefined
	}
	var seg [3][]byte
	for i, p := range parts {
		b, err := base64.RawURLEncoding.Strict().DecodeString(p)
		if err != nil || base64.RawURLEncoding.EncodeToString(b) != p {
			return diffBase64
		}
		seg[i] = b
	}
	if !utf8.Valid(seg[0]) || !utf8.Valid(seg[1]) {
		return diffUTF8
	}
	hdr, ok := members(seg[0], map[string]func(json.RawMessage) bool{"alg": isString, "typ": isString, "kid": isString})
	if !ok || len(hdr) != 3 {
		return diffHeader
	}
	if alg, _ := strconv.Unquote(string(hdr["alg"])); alg == signing.ES256 && len(seg[2]) == 64 && !isLowS(seg[2]) {
		return diffLowS
	}
	date := intWithin(0, 1<<40)
	claimSet, ok := members(seg[1], map[string]func(json.RawMessage) bool{
		"iss": isString, "sub": isString, "jti": isString, "scope": isString, "key_id": isString,
		"customer_id": isString, "tier": isString, "aud": isAudience, "exp": date, "nbf": date, "iat": date,
		"key_gen": intWithin(math.MinInt64, math.MaxInt64), "rate_limit": intWithin(0, math.MaxInt32),
	})
	if !ok {
		return diffClaims
	}
	if keyID, _ := strconv.Unquote(string(claimSet["key_id"])); keyID == "" {
		return diffKeyID
	}
	return diffUndefined
}

// members reads a JSON object whose member names are all in rules, each once, each value
// passing its rule, with nothing after the object.
func members(b []byte, rules map[string]func(json.RawMessage) bool) (map[string]json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		name, isName := t.(string)
		if err != nil || !isName {
			return nil, false
		}
		var v json.RawMessage
		rule, known := rules[name]
		if _, twice := out[name]; twice || !known || dec.Decode(&v) != nil || !rule(v) {
			return nil, false
		}
		out[name] = v
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return out, true
}

func isString(v json.RawMessage) bool { return len(v) > 0 && v[0] == '"' }

var jsonInteger = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

func intWithin(lo, hi int64) func(json.RawMessage) bool {
	return func(v json.RawMessage) bool {
		if !jsonInteger.Match(v) {
			return false
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		return err == nil && n >= lo && n <= hi
	}
}

func isAudience(v json.RawMessage) bool {
	if isString(v) {
		return true
	}
	var list []json.RawMessage
	if json.Unmarshal(v, &list) != nil || len(list) == 0 || len(list) > 8 {
		return false
	}
	for _, a := range list {
		if !isString(a) {
			return false
		}
	}
	return true
}

// diffSeed is a seed input with what each verifier must answer for it: the table below proves
// the harness is not vacuous (go-jose accepts keygate's valid tokens of every algorithm) and
// pins each documented difference to an example.
type diffSeed struct {
	name        string
	raw         string
	keygate     bool   // keygate accepts
	goJose      bool   // go-jose, as configured above, accepts
	keygateOnly string // for keygate refusing what go-jose accepts: the documented reason
}

func diffSeeds(tb testing.TB, d *differential) []diffSeed {
	tb.Helper()
	now := diffNow
	at := func(dt time.Duration) int64 { return now.Add(dt).Unix() }
	var seeds []diffSeed
	add := func(name, raw string, keygate, goJose bool, only string) {
		seeds = append(seeds, diffSeed{name, raw, keygate, goJose, only})
	}
	rsaKey := d.byAlg[signing.RS256]
	for _, alg := range []string{signing.RS256, signing.ES256, signing.EdDSA} {
		k := d.byAlg[alg]
		mk := func(hdr, payload string) string { return craft(tb, hdr, payload, alg, k.Private) }
		hdr := header(alg, k.Kid, token.Type)
		withClaims := func(override map[string]any) string { return mk(hdr, claims(now, override)) }
		withRaw := func(override map[string]any, extra string) string { return mk(hdr, rawClaims(now, override, extra)) }

		iss := token.NewIssuer(signWith{k}, issuer, audience, func() time.Time { return now })
		issued, _, err := iss.Issue(context.Background(), token.Grant{KeyID: "key_ABCDEFGHIJKLMNOPQRST", CustomerID: "cus_42",
			Scopes: []string{"customers:read", "billing:read"}, Tier: "pro", RateLimit: 600, TTL: time.Hour})
		if err != nil {
			tb.Fatal(err)
		}
		dot := strings.LastIndexByte(issued, '.')
		sig, err := base64.RawURLEncoding.DecodeString(issued[dot+1:])
		if err != nil {
			tb.Fatal(err)
		}
		add(alg+": an issued token", issued, true, true, "")
		add(alg+": a crafted valid token", withClaims(nil), true, true, "")
		add(alg+": typ application/at+jwt", mk(header(alg, k.Kid, "application/at+jwt"), claims(now, nil)), true, true, "")
		add(alg+": typ in upper case", mk(header(alg, k.Kid, "AT+JWT"), claims(now, nil)), true, true, "")
		add(alg+": aud as one string", withClaims(map[string]any{"aud": audience}), true, true, "")
		add(alg+": aud among others", withClaims(map[string]any{"aud": []string{"https://other.example", audience}}), true, true, "")
		// key_gen is any int64: keygate's scanner once refused the eight values nearest ±2^63.
		add(alg+": key_gen 2^63 − 1", withRaw(map[string]any{"key_gen": nil}, `"key_gen":9223372036854775807`), true, true, "")
		add(alg+": key_gen −2^63", withRaw(map[string]any{"key_gen": nil}, `"key_gen":-9223372036854775808`), true, true, "")
		add(alg+": key_gen 2^63", withRaw(map[string]any{"key_gen": nil}, `"key_gen":9223372036854775808`), false, false, "")
		add(alg+": key_gen −2^63 − 1", withRaw(map[string]any{"key_gen": nil}, `"key_gen":-9223372036854775809`), false, false, "")
		add(alg+": expired within the leeway", withClaims(map[string]any{"exp": at(-29 * time.Second)}), true, true, "")
		add(alg+": nbf within the leeway", withClaims(map[string]any{"nbf": at(29 * time.Second)}), true, true, "")

		add(alg+": a payload bit flipped", issued[:dot/2+dot/4]+string(issued[dot/2+dot/4]^1)+issued[dot/2+dot/4+1:], false, false, "")
		add(alg+": a signature bit flipped", withSig(issued, b64(append([]byte{sig[0] ^ 1}, sig[1:]...))), false, false, "")
		add(alg+": the signature stripped", withSig(issued, ""), false, false, "")
		add(alg+": the signature of another token", withSig(withClaims(map[string]any{"scope": "admin:full"}), sigOf(issued)), false, false, "")
		add(alg+": an unknown kid", mk(header(alg, "nope", token.Type), claims(now, nil)), false, false, "")
		add(alg+": no kid", mk(`{"alg":"`+alg+`","typ":"at+jwt"}`, claims(now, nil)), false, false, "")
		add(alg+": signed by an unknown key naming our kid", craft(tb, header(signing.EdDSA, k.Kid, token.Type), claims(now, nil), signing.EdDSA, d.attacker.Private), false, false, "")
		add(alg+": alg none", craft(tb, header("none", k.Kid, token.Type), claims(now, nil), "", nil), false, false, "")
		add(alg+": alg none with a real signature", withSig(craft(tb, header("none", k.Kid, token.Type), claims(now, nil), "", nil), sigOf(issued)), false, false, "")
		add(alg+": HS256 keyed with the published JWK", craft(tb, header("HS256", k.Kid, token.Type), claims(now, nil), "HS256", []byte(mustJSON(k.PublicJWK()))), false, false, "")
		add(alg+": typ JWT", mk(header(alg, k.Kid, "JWT"), claims(now, nil)), false, false, "")
		add(alg+": no typ", mk(`{"alg":"`+alg+`","kid":"`+k.Kid+`"}`, claims(now, nil)), false, false, "")
		add(alg+": expired beyond the leeway", withClaims(map[string]any{"exp": at(-31 * time.Second)}), false, false, "")
		add(alg+": expired exactly at exp + leeway", withClaims(map[string]any{"exp": at(-token.DefaultLeeway)}), false, false, "")
		add(alg+": nbf beyond the leeway", withClaims(map[string]any{"nbf": at(31 * time.Second)}), false, false, "")
		add(alg+": iat beyond the leeway", withClaims(map[string]any{"iat": at(31 * time.Second)}), false, false, "")
		add(alg+": no exp", withClaims(map[string]any{"exp": nil}), false, false, "")
		add(alg+": wrong iss", withClaims(map[string]any{"iss": "https://evil.example"}), false, false, "")
		add(alg+": wrong aud", withClaims(map[string]any{"aud": []string{"https://other.example"}}), false, false, "")
		add(alg+": no aud", withClaims(map[string]any{"aud": nil}), false, false, "")
		add(alg+": a duplicate kid, ours last", mk(`{"alg":"`+alg+`","typ":"at+jwt","kid":"nope","kid":"`+k.Kid+`"}`, claims(now, nil)), false, false, "")
		add(alg+": a second scope member", withRaw(nil, `"scope":"admin:full"`), false, false, "")

		// Documented strictnesses: go-jose accepts, keygate refuses.
		add(alg+": the signature's unused low bits changed", respell(issued), false, true, diffBase64)
		add(alg+": a CRLF inside the signature", issued[:dot+5]+"\r\n"+issued[dot+5:], false, true, diffBase64)
		add(alg+": a LF inside the payload", issued[:dot-4]+"\n"+issued[dot-4:], false, true, diffBase64)
		add(alg+": over 8 KB", withClaims(map[string]any{"pad": strings.Repeat("x", token.MaxBytes)}), false, true, diffSize)
		add(alg+": an extra header member", mk(`{"alg":"`+alg+`","typ":"at+jwt","kid":"`+k.Kid+`","cty":"x"}`, claims(now, nil)), false, true, diffHeader)
		add(alg+": a claim keygate does not issue", withClaims(map[string]any{"admin": true}), false, true, diffClaims)
		add(alg+": a case-variant Scope member", withRaw(nil, `"Scope":"admin:full"`), false, true, diffClaims)
		add(alg+": exp as a float", withRaw(map[string]any{"exp": nil}, `"exp":1748782800.5`), false, true, diffClaims)
		add(alg+": exp with an exponent", withRaw(map[string]any{"exp": nil}, `"exp":1.7487828e9`), false, true, diffClaims)
		add(alg+": exp beyond 2^40", withClaims(map[string]any{"exp": int64(1) << 41}), false, true, diffClaims)
		add(alg+": ten audiences", withClaims(map[string]any{"aud": slices.Repeat([]string{audience}, 10)}), false, true, diffClaims)
		add(alg+": a null sub", withRaw(map[string]any{"sub": nil}, `"sub":null`), false, true, diffClaims)
		add(alg+": invalid UTF-8 in scope", mk(hdr, strings.Replace(claims(now, nil), "customers:read", "customers:read\xff", 1)), false, true, diffUTF8)
		add(alg+": no key_id", withClaims(map[string]any{"key_id": nil}), false, true, diffKeyID)

		switch alg {
		case signing.RS256:
			add(alg+": the signature plus the modulus", withSig(issued, b64(rsaPlusN(sig, k.Public.(*rsa.PublicKey)))), false, false, "")
			add(alg+": PS256 with our RSA key", craft(tb, header("PS256", k.Kid, token.Type), claims(now, nil), "PS256", k.Private), false, false, "")
		case signing.ES256:
			add(alg+": the high-S twin (r, n−s)", withSig(issued, b64(ecdsaTwin(sig))), false, true, diffLowS)
			add(alg+": r = s = 0", withSig(issued, b64(make([]byte, 64))), false, false, "")
			n := elliptic.P256().Params().N.FillBytes(make([]byte, 32))
			add(alg+": r = s = n", withSig(issued, b64(append(append([]byte{}, n...), n...))), false, false, "")
			add(alg+": s = n/2 + 1 with a real r", withSig(issued, b64(append(append([]byte{}, sig[:32]...),
				new(big.Int).Add(new(big.Int).Rsh(elliptic.P256().Params().N, 1), big.NewInt(1)).FillBytes(make([]byte, 32))...))), false, false, "")
			add(alg+": ES256 naming the RSA key's kid", craft(tb, header(alg, rsaKey.Kid, token.Type), claims(now, nil), alg, k.Private), false, false, "")
		case signing.EdDSA:
			add(alg+": S+L for S", withSig(issued, b64(ed25519PlusL(sig))), false, false, "")
			add(alg+": EdDSA naming the RSA key's kid", craft(tb, header(alg, rsaKey.Kid, token.Type), claims(now, nil), alg, k.Private), false, false, "")
		}
	}
	for _, junk := range []string{"", ".", "..", "a.b.c", "e30.e30.", strings.Repeat(".", 100), "eyJhbGciOiJub25lIn0.e30."} {
		add(fmt.Sprintf("junk %q", junk), junk, false, false, "")
	}
	return seeds
}

// TestTheDifferentialSeedsMeanWhatTheySay: go-jose, configured as FuzzVerifyAgainstGoJose
// configures it, accepts valid tokens of every algorithm keygate issues (so the property is not
// vacuous), refuses what keygate refuses for the reasons both check, and each documented
// strictness of keygate's has an example that keygateOnly explains.
func TestTheDifferentialSeedsMeanWhatTheySay(t *testing.T) {
	d := newDifferential(t)
	for _, s := range diffSeeds(t, d) {
		t.Run(s.name, func(t *testing.T) {
			kc, kerr := d.verifier.Verify(context.Background(), s.raw)
			jc, jerr := d.goJose(s.raw)
			if (kerr == nil) != s.keygate {
				t.Errorf("keygate: err %v, want accepted %v", kerr, s.keygate)
			}
			if (jerr == nil) != s.goJose {
				t.Errorf("go-jose: err %v, want accepted %v", jerr, s.goJose)
			}
			if kerr == nil && jerr == nil {
				if err := sameClaims(kc, jc); err != nil {
					t.Errorf("both accept but read different claims: %v", err)
				}
			}
			if got := keygateOnly(s.raw); kerr != nil && jerr == nil && got != s.keygateOnly {
				t.Errorf("keygateOnly = %q, want %q", got, s.keygateOnly)
			}
		})
	}
}

// resignAlgs: what FuzzVerifyAgainstGoJose's resign input selects (0: keep the signature).
// Not RS256: an RSA-2048 signature per execution costs about a millisecond, which starves the
// fuzzer (minimising a new input alone took a whole 60 s run), and everything behind the
// signature check is the same for every algorithm; RS256 tokens are fuzzed as given.
var resignAlgs = [3]string{"", signing.ES256, signing.EdDSA}

// resign replaces raw's signature by a valid one of the test key for resignAlgs[mode%3] over
// raw's signing input exactly as spelled (everything before the last dot), so that the fuzzer
// can change header and claims and still reach the checks behind the signature. It signs with
// golang-jwt (low-S for ES256), not with keygate's Issue.
func (d *differential) resign(tb testing.TB, raw string, mode uint8) string {
	alg := resignAlgs[int(mode)%len(resignAlgs)]
	if alg == "" {
		return raw
	}
	input := raw
	if i := strings.LastIndexByte(raw, '.'); i >= 0 {
		input = raw[:i]
	}
	sig, err := jwt.GetSigningMethod(alg).Sign(input, d.byAlg[alg].Private)
	if err != nil {
		tb.Fatalf("sign %s: %v", alg, err)
	}
	if alg == signing.ES256 && !isLowS(sig) {
		sig = ecdsaTwin(sig)
	}
	return input + "." + b64(sig)
}

// FuzzVerifyAgainstGoJose: keygate never accepts a token go-jose refuses, both read the same
// claims from a token both accept, and a token only go-jose accepts is one of keygate's
// documented strictnesses (see the top of this file). The token is raw, or raw re-signed with a
// test key (resign, above).
func FuzzVerifyAgainstGoJose(f *testing.F) {
	d := newDifferential(f)
	for _, s := range diffSeeds(f, d) {
		f.Add(s.raw, uint8(0))
		// Each seed also re-signed with the key of its own algorithm: tampered claims, typ,
		// iss, aud and dates then carry a valid signature.
		for mode, alg := range resignAlgs {
			if alg != "" && strings.HasPrefix(s.name, alg+": ") {
				f.Add(s.raw, uint8(mode))
			}
		}
	}
	f.Fuzz(func(t *testing.T, raw string, resign uint8) {
		raw = d.resign(t, raw, resign)
		kc, kerr := d.verifier.Verify(context.Background(), raw)
		if kerr != nil && !errors.Is(kerr, token.ErrInvalid) && !errors.Is(kerr, token.ErrExpired) {
			t.Fatalf("keygate: %v, want ErrInvalid or ErrExpired", kerr)
		}
		jc, jerr := d.goJose(raw)
		switch {
		case kerr == nil && jerr != nil:
			t.Fatalf("BUG: keygate accepts a token go-jose refuses (%v): %q", jerr, raw)
		case kerr == nil:
			if err := sameClaims(kc, jc); err != nil {
				t.Fatalf("BUG: keygate and go-jose read different claims (%v): %q", err, raw)
			}
		case jerr == nil:
			if keygateOnly(raw) == diffUndefined {
				t.Fatalf("keygate refuses (%v) a token go-jose accepts, for no documented reason: %q", kerr, raw)
			}
		}
	})
}
