package client

import (
	"fmt"
	"log/slog"
	"strings"
)

// Secret is a credential the service returned (the plain key of a created or rotated API key).
// Every way of printing it — String, any fmt verb, slog, JSON — shows a redacted form; Reveal
// returns the value for the one place that must store it.
type Secret string

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// String returns a redacted form that keeps the key's environment prefix (kg_live_…).
func (s Secret) String() string { return redact(string(s)) }

// GoString redacts too (%#v).
func (s Secret) GoString() string { return redact(string(s)) }

// Format redacts for every verb, including %x and %q.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redact(string(s)))) }

// LogValue redacts in slog records.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redact(string(s))) }

// MarshalJSON redacts, so a Secret inside a logged or encoded struct does not leak.
func (s Secret) MarshalJSON() ([]byte, error) {
	return []byte(`"` + redact(string(s)) + `"`), nil
}

// redact keeps what identifies the kind of credential, never any of its secret part: the
// environment prefix of an API key (kg_live_, kg_test_), "eyJ…" for a JWT.
func redact(s string) string {
	switch {
	case s == "":
		return ""
	case strings.HasPrefix(s, "kg_live_"), strings.HasPrefix(s, "kg_test_"):
		return s[:len("kg_live_")] + "…[redacted]"
	case strings.HasPrefix(s, "eyJ"):
		return "eyJ…[redacted]"
	default:
		return "[redacted]"
	}
}

// String shows the created key without its secret.
func (k CreatedKey) String() string {
	return fmt.Sprintf("client.CreatedKey{KeyID: %s, Name: %q, Scopes: %v, Secret: %s}", k.KeyID, k.Name, k.Scopes, k.Secret.String())
}

// Format prints String for every verb: the service's raw answer, which holds the plain key,
// must not come out through a struct dump.
func (k CreatedKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue redacts in slog records.
func (k CreatedKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("key_id", k.KeyID), slog.String("name", k.Name), slog.String("secret", k.Secret.String()))
}
