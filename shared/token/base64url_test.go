package token_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/keygate/keygate/shared/token"
)

func TestOnlyBase64URL(t *testing.T) {
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{"the empty string has no foreign character", "", true},
		{"the whole alphabet passes", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", true},
		{"a LF is refused", "abc\ndef", false},
		{"a CR is refused", "abc\rdef", false},
		{"a trailing CRLF is refused", "abcd\r\n", false},
		{"padding is refused", "abc=", false},
		{"standard base64's + is refused", "ab+c", false},
		{"standard base64's / is refused", "ab/c", false},
		{"a space is refused", "ab c", false},
		{"a tab is refused", "ab\tc", false},
		{"a dot is refused (split JWS segments first)", "ab.c", false},
		{"a NUL is refused", "ab\x00c", false},
		{"non-ASCII is refused", "abcé", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := token.OnlyBase64URL(tt.s); got != tt.want {
				t.Errorf("OnlyAlphabet(%q) = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}

// Why the package exists: encoding/base64 accepts these, even in Strict mode.
func TestTheStandardDecoderAcceptsWhatOnlyBase64URLRefuses(t *testing.T) {
	for _, s := range []string{"abcd\nefgh", "ab\rcd", "abcd\r\n"} {
		if _, err := base64.RawURLEncoding.Strict().DecodeString(s); err != nil {
			t.Skipf("encoding/base64 now refuses %q: OnlyAlphabet may no longer be needed", s)
		}
		if token.OnlyBase64URL(s) {
			t.Errorf("OnlyAlphabet(%q) = true", s)
		}
	}
}

func FuzzOnlyBase64URL(f *testing.F) {
	for _, s := range []string{"", "abc", "a\nb", "a=b", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !token.OnlyBase64URL(s) {
			return
		}
		// Whatever passes re-encodes to itself when its length can be base64.
		if len(s)%4 == 1 {
			return
		}
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("OnlyAlphabet(%q) but it does not decode: %v", s, err)
		}
		if got := base64.RawURLEncoding.EncodeToString(b); len(got) != len(s) || strings.ContainsAny(got, "\r\n=+/") {
			t.Fatalf("%q re-encodes to %q", s, got)
		}
	})
}

// The check runs on every first-seen access token (about 800 characters), next to a ~24 µs
// RSA verification.
func BenchmarkOnlyAlphabet800(b *testing.B) {
	s := strings.Repeat("eyJhbGciOiJSUzI1NiIsImtpZCI6-_", 27)[:800]
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if !token.OnlyBase64URL(s) {
			b.Fatal("refused")
		}
	}
}
