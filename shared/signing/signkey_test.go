package signing_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/signing"
)

var now = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

// RSA generation is slow: one key per test binary.
var (
	rsaOnce   sync.Once
	rsaSecret []byte
)

func secretFor(t testing.TB, alg string) []byte {
	t.Helper()
	if alg == signing.RS256 {
		rsaOnce.Do(func() {
			var err error
			if rsaSecret, err = signing.Generate(signing.RS256, rand.Reader, now); err != nil {
				panic(err)
			}
		})
		return rsaSecret
	}
	b, err := signing.Generate(alg, rand.Reader, now)
	if err != nil {
		t.Fatalf("Generate(%s): %v", alg, err)
	}
	return b
}

func material(t testing.TB, secret []byte) signing.Material {
	t.Helper()
	var m signing.Material
	if err := json.Unmarshal(secret, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func marshal(t testing.TB, m signing.Material) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// materialFor builds a secret by hand from any private key, with the correct thumbprint kid.
func materialFor(t testing.TB, priv crypto.Signer, alg string) signing.Material {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := signing.Thumbprint(priv.Public())
	if err != nil {
		kid = "no-thumbprint-for-this-key-type" // Parse must refuse the key before comparing kids
	}
	return signing.Material{Kid: kid, Alg: alg, CreatedAt: now,
		PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))}
}

func TestGenerateAndParseRoundTrip(t *testing.T) {
	for _, alg := range []string{signing.RS256, signing.ES256, signing.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			secret := secretFor(t, alg)
			k, err := signing.Parse(secret)
			if err != nil {
				t.Fatalf("Parse(Generate()): %v", err)
			}
			if k.Alg != alg {
				t.Errorf("Alg = %q, want %q", k.Alg, alg)
			}
			wantKid, err := signing.Thumbprint(k.Public)
			if err != nil || k.Kid != wantKid {
				t.Errorf("Kid = %q, want thumbprint %q (%v)", k.Kid, wantKid, err)
			}
			if want := now.UTC().Truncate(time.Second); !k.CreatedAt.Equal(want) {
				t.Errorf("CreatedAt = %v, want %v", k.CreatedAt, want)
			}
			if m := material(t, secret); m.Kid != k.Kid || m.Alg != alg || !strings.HasPrefix(m.PrivateKey, "-----BEGIN PRIVATE KEY-----") {
				t.Errorf("stored material = kid %q alg %q pem %.30q", m.Kid, m.Alg, m.PrivateKey)
			}
			assertSignsAndVerifies(t, k)
		})
	}
}

func assertSignsAndVerifies(t *testing.T, k *signing.Key) {
	t.Helper()
	msg := []byte("header.payload")
	digest := sha256.Sum256(msg)
	switch pub := k.Public.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			t.Errorf("RSA modulus %d bits", pub.N.BitLen())
		}
		sig, err := k.Private.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil || rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
			t.Errorf("RSA sign/verify failed: %v", err)
		}
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			t.Errorf("curve = %v", pub.Curve.Params().Name)
		}
		sig, err := k.Private.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil || !ecdsa.VerifyASN1(pub, digest[:], sig) {
			t.Errorf("ECDSA sign/verify failed: %v", err)
		}
	case ed25519.PublicKey:
		sig, err := k.Private.Sign(rand.Reader, msg, crypto.Hash(0))
		if err != nil || !ed25519.Verify(pub, msg, sig) {
			t.Errorf("Ed25519 sign/verify failed: %v", err)
		}
	default:
		t.Fatalf("unexpected public key %T", pub)
	}
}

func TestGenerateRefusesUnknownAlgorithms(t *testing.T) {
	for _, alg := range []string{"", "none", "HS256", "RS512", "es256", "PS256"} {
		if b, err := signing.Generate(alg, rand.Reader, now); err == nil {
			t.Errorf("Generate(%q) = %d bytes, want an error", alg, len(b))
		}
	}
}

func TestValidAlg(t *testing.T) {
	for alg, want := range map[string]bool{"RS256": true, "ES256": true, "EdDSA": true, "none": false, "HS256": false, "rs256": false, "": false, "EDDSA": false} {
		if got := signing.ValidAlg(alg); got != want {
			t.Errorf("ValidAlg(%q) = %v, want %v", alg, got, want)
		}
	}
}

func TestParseRefusesUnusableSecrets(t *testing.T) {
	rsaM := material(t, secretFor(t, signing.RS256))
	ecM := material(t, secretFor(t, signing.ES256))
	edM := material(t, secretFor(t, signing.EdDSA))
	with := func(m signing.Material, f func(*signing.Material)) []byte {
		f(&m)
		return marshal(t, m)
	}

	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaPriv := mustParse(t, secretFor(t, signing.RS256)).Private.(*rsa.PrivateKey)
	ecPriv := mustParse(t, marshal(t, ecM)).Private.(*ecdsa.PrivateKey)
	sec1, _ := x509.MarshalECPrivateKey(ecPriv)
	pkix, _ := x509.MarshalPKIXPublicKey(rsaPriv.Public())

	tests := []struct {
		name   string
		secret []byte
	}{
		{"an RSA key labelled ES256", with(rsaM, func(m *signing.Material) { m.Alg = signing.ES256 })},
		{"an RSA key labelled EdDSA", with(rsaM, func(m *signing.Material) { m.Alg = signing.EdDSA })},
		{"an RSA key labelled HS256", with(rsaM, func(m *signing.Material) { m.Alg = "HS256" })},
		{"an RSA key labelled none", with(rsaM, func(m *signing.Material) { m.Alg = "none" })},
		{"an RSA key without alg", with(rsaM, func(m *signing.Material) { m.Alg = "" })},
		{"an EC key labelled RS256", with(ecM, func(m *signing.Material) { m.Alg = signing.RS256 })},
		{"an EC key labelled EdDSA", with(ecM, func(m *signing.Material) { m.Alg = signing.EdDSA })},
		{"an Ed25519 key labelled ES256", with(edM, func(m *signing.Material) { m.Alg = signing.ES256 })},
		{"an Ed25519 key labelled RS256", with(edM, func(m *signing.Material) { m.Alg = signing.RS256 })},
		{"a 1024-bit RSA key", marshal(t, materialFor(t, rsa1024, signing.RS256))},
		{"a P-384 key labelled ES256", marshal(t, materialFor(t, p384, signing.ES256))},
		{"a kid of another key", with(rsaM, func(m *signing.Material) { m.Kid = ecM.Kid })},
		{"an empty kid", with(edM, func(m *signing.Material) { m.Kid = "" })},
		{"a path-traversal kid", with(edM, func(m *signing.Material) { m.Kid = "../../etc/passwd" })},
		{"a kid off by one character", with(edM, func(m *signing.Material) { m.Kid = edM.Kid[:len(edM.Kid)-1] + flip(edM.Kid[len(edM.Kid)-1]) })},
		{"a PKCS#1 RSA PEM", with(rsaM, func(m *signing.Material) {
			m.PrivateKey = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaPriv)}))
		})},
		{"a SEC 1 EC PEM", with(ecM, func(m *signing.Material) {
			m.PrivateKey = string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
		})},
		{"PKCS#1 bytes under a PRIVATE KEY label", with(rsaM, func(m *signing.Material) {
			m.PrivateKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaPriv)}))
		})},
		{"a public key PEM", with(rsaM, func(m *signing.Material) {
			m.PrivateKey = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}))
		})},
		{"base64 DER without PEM armour", with(edM, func(m *signing.Material) {
			blk, _ := pem.Decode([]byte(edM.PrivateKey))
			m.PrivateKey = base64.StdEncoding.EncodeToString(blk.Bytes)
		})},
		{"an empty private key", with(edM, func(m *signing.Material) { m.PrivateKey = "" })},
		{"a truncated PEM", with(edM, func(m *signing.Material) { m.PrivateKey = edM.PrivateKey[:len(edM.PrivateKey)/2] })},
		{"an oversize secret", append(marshal(t, edM), bytes.Repeat([]byte(" "), signing.MaxSecretBytes)...)},
		{"an empty secret", nil},
		{"garbage", []byte("not json at all")},
		{"truncated JSON", marshal(t, edM)[:20]},
		{"a JSON array", []byte(`[1,2,3]`)},
		{"JSON null", []byte(`null`)},
		{"a private key of the wrong JSON type", []byte(`{"kid":"x","alg":"EdDSA","private_key":5}`)},
		{"an empty object", []byte(`{}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := signing.Parse(tt.secret)
			if err == nil {
				t.Fatalf("Parse accepted it (kid %s, alg %s)", k.Kid, k.Alg)
			}
			if !errors.Is(err, signing.ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "MII") {
				t.Errorf("error carries key material: %v", err)
			}
		})
	}
}

func TestParseAcceptsASecretAtTheSizeLimit(t *testing.T) {
	s := secretFor(t, signing.EdDSA)
	padded := append(bytes.Repeat([]byte(" "), signing.MaxSecretBytes-len(s)), s...)
	if _, err := signing.Parse(padded); err != nil {
		t.Errorf("Parse of a %d-byte secret: %v", len(padded), err)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func mustParse(t testing.TB, secret []byte) *signing.Key {
	t.Helper()
	k, err := signing.Parse(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func b64(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestThumbprintMatchesTheRFCTestVectors(t *testing.T) {
	// RFC 7638 §3.1.
	n := "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPeb" +
		"WKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQM" +
		"icAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2Nc" +
		"Rwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	rsaPub := &rsa.PublicKey{N: new(big.Int).SetBytes(b64(n)), E: 65537}
	// RFC 8037 Appendix A.3.
	edPub := ed25519.PublicKey(b64("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"))

	tests := []struct {
		name string
		pub  crypto.PublicKey
		want string
	}{
		{"RFC 7638 RSA key", rsaPub, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"},
		{"RFC 8037 Ed25519 key", edPub, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := signing.Thumbprint(tt.pub)
			if err != nil || got != tt.want {
				t.Errorf("Thumbprint = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// For EC keys the canonical JSON is {"crv","kty","x","y"} with fixed-width 32-byte coordinates.
func TestThumbprintOfAnECKeyUsesTheRFC7638Members(t *testing.T) {
	k := mustParse(t, secretFor(t, signing.ES256))
	pub := k.Public.(*ecdsa.PublicKey)
	raw, err := pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	canonical := fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, enc(raw[1:33]), enc(raw[33:]))
	sum := sha256.Sum256([]byte(canonical))
	if got, want := k.Kid, enc(sum[:]); got != want {
		t.Errorf("EC thumbprint = %q, want %q", got, want)
	}
}

func TestThumbprintRefusesUnsupportedKeys(t *testing.T) {
	for _, pub := range []crypto.PublicKey{nil, "a string", []byte("bytes"), &ecdsa.PublicKey{}} {
		if got, err := signing.Thumbprint(pub); err == nil {
			t.Errorf("Thumbprint(%T) = %q, want an error", pub, got)
		}
	}
}

func TestPublicJWKHasNoPrivateMembers(t *testing.T) {
	wantMembers := map[string][]string{
		signing.RS256: {"alg", "e", "kid", "kty", "n", "use"},
		signing.ES256: {"alg", "crv", "kid", "kty", "use", "x", "y"},
		signing.EdDSA: {"alg", "crv", "kid", "kty", "use", "x"},
	}
	for _, alg := range []string{signing.RS256, signing.ES256, signing.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			k := mustParse(t, secretFor(t, alg))
			b, err := json.Marshal(k.PublicJWK())
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
				if _, ok := m[private]; ok {
					t.Errorf("JWK has private member %q: %s", private, b)
				}
			}
			var got []string
			for k := range m {
				got = append(got, k)
			}
			if fmt.Sprint(sorted(got)) != fmt.Sprint(wantMembers[alg]) {
				t.Errorf("JWK members = %v, want %v", sorted(got), wantMembers[alg])
			}
			if m["kid"] != k.Kid || m["alg"] != alg || m["use"] != "sig" {
				t.Errorf("JWK = %s", b)
			}
		})
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// The package doc promises private material leaves only inside Material and Key and is never
// printed. A Key that reaches a log line through %v or slog.Any must not spill the private key.
func TestAKeyInALogLineDoesNotRevealThePrivateKey(t *testing.T) {
	k := mustParse(t, secretFor(t, signing.RS256))
	d := k.Private.(*rsa.PrivateKey).D
	secretDigits := d.String()[:40]
	secretB64 := base64.RawURLEncoding.EncodeToString(d.Bytes())[:40]

	var jsonLog, textLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("loaded", slog.Any("key", k))
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("loaded", slog.Any("key", k))
	asJSON, _ := json.Marshal(k)
	outputs := map[string]string{
		"%v":                  fmt.Sprintf("%v", k),
		"%+v":                 fmt.Sprintf("%+v", k),
		"%v of the value":     fmt.Sprintf("%v", *k),
		"%+v of the value":    fmt.Sprintf("%+v", *k),
		"json.Marshal":        string(asJSON),
		"slog.Any (JSON log)": jsonLog.String(),
		"slog.Any (text log)": textLog.String(),
	}
	for how, out := range outputs {
		if strings.Contains(out, secretDigits) || strings.Contains(out, secretB64) {
			t.Errorf("BUG: %s of a *signkey.Key prints the RSA private exponent; give Key a redacting MarshalJSON/LogValue/String (or keep Private unexported)", how)
		}
	}
}

// FuzzParse: Parse never panics, and anything it accepts is a consistent key: the alg matches
// the key type, kid is the public key's thumbprint, RSA keys have ≥ 2048 bits.
func FuzzParse(f *testing.F) {
	f.Add(secretFor(f, signing.ES256))
	f.Add(secretFor(f, signing.EdDSA))
	f.Add([]byte(`{"kid":"","alg":"EdDSA","private_key":"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"private_key":"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----"}`))
	f.Fuzz(func(t *testing.T, secret []byte) {
		k, err := signing.Parse(secret)
		if err != nil {
			if k != nil {
				t.Fatalf("Parse returned a key and an error")
			}
			if !errors.Is(err, signing.ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		kid, terr := signing.Thumbprint(k.Public)
		if terr != nil || kid != k.Kid {
			t.Fatalf("accepted kid %q is not the thumbprint %q", k.Kid, kid)
		}
		switch pub := k.Public.(type) {
		case *rsa.PublicKey:
			if k.Alg != signing.RS256 || pub.N.BitLen() < 2048 {
				t.Fatalf("accepted RSA key with alg %s and %d bits", k.Alg, pub.N.BitLen())
			}
		case *ecdsa.PublicKey:
			if k.Alg != signing.ES256 || pub.Curve != elliptic.P256() {
				t.Fatalf("accepted EC key with alg %s", k.Alg)
			}
		case ed25519.PublicKey:
			if k.Alg != signing.EdDSA {
				t.Fatalf("accepted Ed25519 key with alg %s", k.Alg)
			}
		default:
			t.Fatalf("accepted a %T", pub)
		}
	})
}
