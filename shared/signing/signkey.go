// The secret format: the format of keygate's JWT signing-key secret: how a key is generated,
// serialized into Secrets Manager, parsed back, identified (RFC 7638 thumbprint as kid) and
// published (public JWK).
//
// Private material leaves this package only inside Material (for Secrets Manager) and Key (for
// signing); neither has a String method that prints it, and JWK never carries it.

package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"time"
)

// Supported algorithms (JWS "alg").
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// MaxSecretBytes bounds a secret value before it is parsed.
const MaxSecretBytes = 16 << 10

// ErrMalformed means a secret value is not a usable signing key.
var ErrMalformed = errors.New("signing: malformed signing-key secret")

// Material is the JSON stored as the secret string.
type Material struct {
	Kid        string    `json:"kid"`
	Alg        string    `json:"alg"`
	PrivateKey string    `json:"private_key"` // PKCS#8 PEM
	CreatedAt  time.Time `json:"created_at"`
}

// Key is a parsed signing key.
type Key struct {
	Kid       string
	Alg       string
	Private   crypto.Signer
	Public    crypto.PublicKey
	CreatedAt time.Time
}

// ValidAlg reports whether alg is one keygate can sign with.
func ValidAlg(alg string) bool { return alg == RS256 || alg == ES256 || alg == EdDSA }

// Generate creates a new key for alg (RSA-2048 for RS256, P-256 for ES256, Ed25519 for EdDSA)
// and returns the secret JSON to store.
func Generate(alg string, random io.Reader, now time.Time) ([]byte, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(random, 2048)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), random)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(random)
	default:
		return nil, fmt.Errorf("signing: unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("signing: generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("signing: marshal private key: %w", err)
	}
	kid, err := Thumbprint(priv.Public())
	if err != nil {
		return nil, err
	}
	return json.Marshal(Material{
		Kid:        kid,
		Alg:        alg,
		PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		CreatedAt:  now.UTC().Truncate(time.Second),
	})
}

// Parse parses and checks a secret value: the algorithm matches the key type, the RSA modulus
// has at least 2048 bits, and kid is the key's thumbprint (so a kid can never point at another
// key).
func Parse(secret []byte) (*Key, error) {
	if len(secret) == 0 || len(secret) > MaxSecretBytes {
		return nil, ErrMalformed
	}
	var m Material
	if err := json.Unmarshal(secret, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	block, _ := pem.Decode([]byte(m.PrivateKey))
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: no PKCS#8 PEM block", ErrMalformed)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: key type %T cannot sign", ErrMalformed, parsed)
	}
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		if m.Alg != RS256 || k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: RSA key needs alg RS256 and ≥ 2048 bits", ErrMalformed)
		}
	case *ecdsa.PrivateKey:
		if m.Alg != ES256 || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: EC key needs alg ES256 on P-256", ErrMalformed)
		}
	case ed25519.PrivateKey:
		if m.Alg != EdDSA {
			return nil, fmt.Errorf("%w: Ed25519 key needs alg EdDSA", ErrMalformed)
		}
	default:
		return nil, fmt.Errorf("%w: unsupported key type %T", ErrMalformed, priv)
	}
	kid, err := Thumbprint(priv.Public())
	if err != nil {
		return nil, err
	}
	if m.Kid != kid {
		return nil, fmt.Errorf("%w: kid is not the key's RFC 7638 thumbprint", ErrMalformed)
	}
	return &Key{Kid: kid, Alg: m.Alg, Private: priv, Public: priv.Public(), CreatedAt: m.CreatedAt}, nil
}

// JWK is a public JSON Web Key (RFC 7517). It has no private members by construction.
type JWK struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Crv string `json:"crv,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// PublicJWK returns the public half of k as a JWK.
func (k *Key) PublicJWK() JWK {
	j := members(k.Public)
	j.Use, j.Alg, j.Kid = "sig", k.Alg, k.Kid
	return j
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of a public key, base64url without padding.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	j := members(pub)
	var canonical []byte
	var err error
	// RFC 7638: only the required members, in lexicographic order, no whitespace.
	switch j.Kty {
	case "RSA":
		canonical, err = json.Marshal(struct {
			E   string `json:"e"`
			Kty string `json:"kty"`
			N   string `json:"n"`
		}{j.E, j.Kty, j.N})
	case "EC":
		canonical, err = json.Marshal(struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
			Y   string `json:"y"`
		}{j.Crv, j.Kty, j.X, j.Y})
	case "OKP":
		canonical, err = json.Marshal(struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
		}{j.Crv, j.Kty, j.X})
	default:
		return "", fmt.Errorf("signing: unsupported public key %T", pub)
	}
	if err != nil {
		return "", fmt.Errorf("signing: thumbprint: %w", err)
	}
	sum := sha256.Sum256(canonical)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

func members(pub crypto.PublicKey) JWK {
	b64 := base64.RawURLEncoding.EncodeToString
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return JWK{Kty: "RSA", N: b64(p.N.Bytes()), E: b64(big.NewInt(int64(p.E)).Bytes())}
	case *ecdsa.PublicKey:
		raw, err := p.Bytes() // 0x04 || X || Y, fixed width
		if err != nil || len(raw) != 65 {
			return JWK{}
		}
		return JWK{Kty: "EC", Crv: "P-256", X: b64(raw[1:33]), Y: b64(raw[33:])}
	case ed25519.PublicKey:
		return JWK{Kty: "OKP", Crv: "Ed25519", X: b64(p)}
	default:
		return JWK{}
	}
}

// String, Format, GoString, MarshalJSON and LogValue redact the private key: printing or
// logging a Key by mistake shows only its public identity.
func (k Key) String() string {
	return fmt.Sprintf("signing.Key{Kid:%s Alg:%s CreatedAt:%s Private:[redacted]}", k.Kid, k.Alg, k.CreatedAt.Format(time.RFC3339))
}

// Format prints String for every verb.
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// GoString is String.
func (k Key) GoString() string { return k.String() }

// MarshalJSON emits only the public identity.
func (k Key) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Kid       string    `json:"kid"`
		Alg       string    `json:"alg"`
		CreatedAt time.Time `json:"created_at"`
	}{k.Kid, k.Alg, k.CreatedAt})
}

// LogValue emits only the public identity.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.Kid), slog.String("alg", k.Alg))
}
