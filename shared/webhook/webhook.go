// Package webhook signs and verifies webhook deliveries as the Standard Webhooks specification
// describes (https://www.standardwebhooks.com): HMAC-SHA-256 over "<id>.<timestamp>.<body>"
// with the raw body bytes, sent in the webhook-id, webhook-timestamp and webhook-signature
// headers, the signature as "v1,<base64>" and the secret as "whsec_<base64>".
//
// A receiver calls Verify (or wraps its handler in Middleware) before it parses the body. The
// timestamp must be within a tolerance of now (5 minutes by default) so a captured delivery
// cannot be replayed later; several secrets may be accepted at once while a secret is rotated;
// signatures are compared in constant time.
//
// Within the tolerance a captured delivery could still be replayed. WithReplayGuard closes that
// window as the specification asks: a verified delivery's webhook-id is remembered until its
// timestamp is too old to pass anyway, and a second delivery of that id is refused with
// ErrReplayed. MemoryGuard remembers a bounded number of ids in process memory and refuses new
// ones when full rather than forget one early. The id alone is the key, as in the
// specification: a sender's retry of one message, signed with a new timestamp or with the other
// secret during a rotation, is still the same message. This is replay protection, not
// idempotency: a retry arriving after the window is accepted again, so a handler that must act
// exactly once still records the ids it processed durably.
//
// VerifyHex and WithHexHeader accept the simpler "x-…-signature: hex(hmac(body))" form some
// senders use. It signs no id and no timestamp, so nothing stops a captured delivery from being
// replayed for ever, and a sender that sends both forms in one delivery lets anyone who strips
// the webhook-* headers from it turn a guarded standard delivery into an unguarded hex one.
// Hence the rule: a Verifier with WithReplayGuard or WithTolerance refuses a delivery that
// carries only the hex header (ErrHexFormRefused), whatever it signs; only a Verifier with
// neither accepts it. Migrating a receiver off the hex form:
//
//  1. While any sender sends only the hex header, verify with WithHexHeader and neither
//     WithReplayGuard nor WithTolerance: hex-only deliveries verify, and so do their replays,
//     stripped copies of dual-signed deliveries included, so keep this stage short. A delivery
//     carrying the standard headers is checked by them alone (its timestamp against
//     DefaultTolerance), whatever its hex header says.
//  2. Move every sender to the standard headers (keeping the hex header meanwhile is fine).
//  3. Once none sends the hex form alone, add WithReplayGuard (and WithTolerance, if another
//     window is wanted) and drop WithHexHeader. From the moment a guard or a tolerance is
//     configured, a hex-only delivery is refused, stripped replays included.
//
// Prefer the standard form from the start.
//
// This package must never log, or put in an error, a secret or a computed signature, and never
// import another keygate package: receivers build it into their own services, which must not
// inherit keygate's dependencies (aws-lambda-go among them).
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the Standard Webhooks specification.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// SecretPrefix starts every secret NewSecret returns.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a delivery's timestamp may be from now, in either direction.
const DefaultTolerance = 5 * time.Minute

// Limits that keep hostile headers cheap to refuse.
const (
	maxIDLen         = 256
	maxSignatureLen  = 8 << 10 // a header listing this many bytes of signatures is refused unread
	maxSignatures    = 32
	minSecretBytes   = 16
	maxSecretBytes   = 64
	newSecretBytes   = 32
	signatureVersion = "v1"
)

// Errors returned by Verify and friends; test with errors.Is. Each says what is wrong with the
// delivery, never what the expected signature was.
var (
	ErrMissingHeaders   = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrInvalidHeaders   = errors.New("webhook: malformed webhook headers")
	ErrTimestampTooOld  = errors.New("webhook: timestamp too old")
	ErrTimestampTooNew  = errors.New("webhook: timestamp too far in the future")
	ErrNoMatch          = errors.New("webhook: no matching signature")
	ErrInvalidSecret    = errors.New("webhook: invalid secret (want whsec_ followed by base64 of 16 to 64 bytes)")
	ErrNoSecrets        = errors.New("webhook: no secrets to verify with")
	ErrBodyTooLarge     = errors.New("webhook: body too large")
	ErrReplayed         = errors.New("webhook: webhook-id already delivered")
	ErrReplayCheck      = errors.New("webhook: could not check the webhook-id for a replay") // wraps the guard's error
	ErrGuardFull        = errors.New("webhook: replay guard full")
	errSignatureEncoded = errors.New("webhook: signature is not base64")
)

// ErrHexFormRefused is the ErrMissingHeaders of a delivery that carries only the hex header of
// WithHexHeader, refused because the Verifier has a replay guard or a tolerance that the hex
// form, signing no id and no time, could only bypass.
var ErrHexFormRefused = fmt.Errorf("%w (only the hex signature header: refused where a replay guard or tolerance is configured)", ErrMissingHeaders)

// NewSecret returns a fresh random secret, "whsec_" followed by the base64 of 32 bytes.
func NewSecret() (string, error) {
	b := make([]byte, newSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// DecodeSecret returns the key bytes of a secret: the base64 after an optional "whsec_" prefix
// (padded or not, standard alphabet), 16 to 64 bytes.
func DecodeSecret(secret string) ([]byte, error) {
	s := strings.TrimPrefix(secret, SecretPrefix)
	s = strings.TrimRight(s, "=")
	key, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil || len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, ErrInvalidSecret
	}
	return key, nil
}

// Sign returns the webhook-signature value ("v1,<base64>") of a delivery: HMAC-SHA-256 with the
// secret's key over id, the timestamp in Unix seconds and the raw body, joined by dots.
func Sign(secret, id string, timestamp time.Time, body []byte) (string, error) {
	key, err := DecodeSecret(secret)
	if err != nil {
		return "", err
	}
	if err := checkID(id); err != nil {
		return "", err
	}
	return signatureVersion + "," + base64.StdEncoding.EncodeToString(mac(key, id, timestamp.Unix(), body)), nil
}

// Headers returns the three headers of a signed delivery, ready to add to a request.
func Headers(secret, id string, timestamp time.Time, body []byte) (http.Header, error) {
	sig, err := Sign(secret, id, timestamp, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(timestamp.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h, nil
}

func mac(key []byte, id string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// checkID refuses ids that could not have been signed unambiguously or sent as a header.
func checkID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return ErrInvalidHeaders
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return ErrInvalidHeaders
		}
	}
	return nil
}

// Verify checks a delivery's standard headers against its raw body with any of secrets, using
// the default tolerance and the system clock. It returns nil or one of the package's errors.
func Verify(headers http.Header, body []byte, secrets ...string) error {
	v, err := NewVerifier(secrets)
	if err != nil {
		return err
	}
	return v.Verify(headers, body)
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithTolerance sets how far the timestamp may be from now (default 5 minutes). A tolerance of
// zero or less keeps the default: verification without a time bound is not offered. Like
// WithReplayGuard, it makes the Verifier refuse hex-only deliveries (see WithHexHeader).
func WithTolerance(d time.Duration) Option {
	return func(v *Verifier) {
		v.timeBound = true
		if d > 0 {
			v.tolerance = d
		}
	}
}

// WithClock sets the time source (default time.Now).
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// WithHexHeader also accepts deliveries that carry only header name with hex(HMAC-SHA-256(secret,
// body)) (optionally "sha256="-prefixed), the form of the older "x-…-signature" guides. The HMAC
// key is the secret string's bytes as written, as those guides use it. Such deliveries have no
// id and no timestamp, so no replay protection: a Verifier that also has WithReplayGuard or
// WithTolerance refuses them with ErrHexFormRefused, since accepting them would let a stripped
// copy of any delivery that carries both forms bypass the guard and the time window. Accept
// them only while senders move to the standard form (the package documentation gives the
// steps). A delivery carrying the standard headers is always checked by them alone.
func WithHexHeader(name string) Option { return func(v *Verifier) { v.hexHeader = name } }

// WithReplayGuard makes the Verifier refuse, with ErrReplayed, a delivery whose webhook-id
// verified before and is still inside its window; see ReplayGuard and MemoryGuard. The id is
// remembered only once the signature verifies. Give each Verifier its own guard: ids are the
// sender's, and two senders may use the same one. A nil guard turns the check off. A Verifier
// with a guard refuses hex-only deliveries (see WithHexHeader).
func WithReplayGuard(g ReplayGuard) Option { return func(v *Verifier) { v.replay = g } }

// Verifier verifies deliveries against a set of secrets. It is safe for concurrent use.
type Verifier struct {
	keys      [][]byte
	raw       []string // for the hex form only
	tolerance time.Duration
	now       func() time.Time
	hexHeader string
	replay    ReplayGuard
	timeBound bool // WithTolerance was given: the caller relies on the time window
}

// NewVerifier returns a Verifier accepting a signature by any of secrets (several during a
// rotation). Every secret must decode (see DecodeSecret).
func NewVerifier(secrets []string, opts ...Option) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, ErrNoSecrets
	}
	v := &Verifier{tolerance: DefaultTolerance, now: time.Now}
	for _, s := range secrets {
		k, err := DecodeSecret(s)
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, k)
		v.raw = append(v.raw, s)
	}
	for _, o := range opts {
		o(v)
	}
	return v, nil
}

// String never shows the secrets.
func (v *Verifier) String() string {
	return fmt.Sprintf("webhook.Verifier{secrets: %d (redacted), tolerance: %s, replay guard: %t}", len(v.keys), v.tolerance, v.replay != nil)
}

// GoString never shows the secrets either (%#v).
func (v *Verifier) GoString() string { return v.String() }

// Verify checks a delivery. With WithHexHeader, a delivery without the standard headers is
// checked by the hex header instead, unless the Verifier has a replay guard or a tolerance
// (ErrHexFormRefused). With WithReplayGuard, a verified delivery's id is remembered and a
// second delivery of it is refused with ErrReplayed; a guard that cannot answer makes Verify
// refuse with ErrReplayCheck.
func (v *Verifier) Verify(headers http.Header, body []byte) error {
	id, ts, sig := headers.Get(HeaderID), headers.Get(HeaderTimestamp), headers.Get(HeaderSignature)
	if id == "" && ts == "" && sig == "" && v.hexHeader != "" {
		if hx := headers.Get(v.hexHeader); hx != "" {
			if v.replay != nil || v.timeBound {
				return ErrHexFormRefused
			}
			return VerifyHex(hx, body, v.raw...)
		}
	}
	if id == "" || ts == "" || sig == "" {
		return ErrMissingHeaders
	}
	if err := checkID(id); err != nil {
		return err
	}
	unix, err := ParseTimestamp(ts)
	if err != nil {
		return err
	}
	now := v.now()
	t := time.Unix(unix, 0)
	if t.Before(now.Add(-v.tolerance)) {
		return ErrTimestampTooOld
	}
	if t.After(now.Add(v.tolerance)) {
		return ErrTimestampTooNew
	}
	sigs, err := ParseSignatures(sig)
	if err != nil {
		return err
	}
	matched := 0
	for _, key := range v.keys {
		want := mac(key, id, unix, body)
		for _, s := range sigs {
			// Every pair is compared, so the time taken does not depend on which one matched.
			matched |= subtle.ConstantTimeCompare(want, s)
		}
	}
	if matched == 0 {
		return ErrNoMatch
	}
	if v.replay == nil {
		return nil
	}
	// Through t+tolerance, the last instant the timestamp check above accepts this delivery;
	// after that it refuses it without the guard's help.
	seen, err := v.replay.Remember(id, now, t.Add(v.tolerance))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrReplayCheck, err)
	}
	if seen {
		return ErrReplayed
	}
	return nil
}

// ParseTimestamp parses a webhook-timestamp value: Unix seconds, decimal digits only.
func ParseTimestamp(s string) (int64, error) {
	if len(s) == 0 || len(s) > 12 {
		return 0, ErrInvalidHeaders
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrInvalidHeaders
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, ErrInvalidHeaders
	}
	return n, nil
}

// ParseSignatures parses a webhook-signature value: space-separated "<version>,<base64>"
// entries. It returns the decoded v1 signatures (32 bytes each) and skips other versions (such
// as v1a, asymmetric signatures). A value without a well-formed v1 entry is an error.
func ParseSignatures(s string) ([][]byte, error) {
	if len(s) > maxSignatureLen {
		return nil, ErrInvalidHeaders
	}
	var out [][]byte
	n := 0
	for _, entry := range strings.Fields(s) {
		if n++; n > maxSignatures {
			return nil, ErrInvalidHeaders
		}
		version, value, ok := strings.Cut(entry, ",")
		if !ok || version == "" {
			return nil, ErrInvalidHeaders
		}
		if version != signatureVersion {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(value)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("%w: %w", ErrInvalidHeaders, errSignatureEncoded)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, ErrNoMatch
	}
	return out, nil
}

// SignHex returns hex(HMAC-SHA-256(secret, body)) with the secret string's bytes as the key: the
// "x-…-signature" form of the older guides.
func SignHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyHex checks an "x-…-signature" value, hex(HMAC-SHA-256(secret, body)) with an optional
// "sha256=" prefix, against any of secrets, in constant time. It offers no replay protection.
func VerifyHex(signature string, body []byte, secrets ...string) error {
	if len(secrets) == 0 {
		return ErrNoSecrets
	}
	signature = strings.TrimPrefix(strings.TrimSpace(signature), "sha256=")
	if len(signature) != 2*sha256.Size {
		return ErrInvalidHeaders
	}
	got, err := hex.DecodeString(signature)
	if err != nil {
		return ErrInvalidHeaders
	}
	matched := 0
	for _, s := range secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write(body)
		matched |= subtle.ConstantTimeCompare(m.Sum(nil), got)
	}
	if matched == 0 {
		return ErrNoMatch
	}
	return nil
}
