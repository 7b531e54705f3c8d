package refresh_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/refresh"
)

func TestNewTokensAreWellFormedAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := refresh.New(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != refresh.Len || !strings.HasPrefix(tok, refresh.Prefix) {
			t.Fatalf("New() = %q: want %d characters starting %q", tok, refresh.Len, refresh.Prefix)
		}
		if err := refresh.Check(tok); err != nil {
			t.Fatalf("Check(New()) = %v", err)
		}
		if seen[tok] {
			t.Fatalf("New() repeated %q", tok)
		}
		seen[tok] = true
	}
}

func TestNewFailsClosedWithoutRandomness(t *testing.T) {
	broken := iotest.ErrReader(errors.New("no entropy"))
	short := bytes.NewReader(make([]byte, 8)) // fewer bytes than a token needs
	for name, r := range map[string]interface{ Read([]byte) (int, error) }{"a failing reader": broken, "a short reader": short} {
		if tok, err := refresh.New(r); err == nil || tok != "" {
			t.Errorf("New(%s) = %q, %v; want an error and no token", name, tok, err)
		}
	}
	if id, err := refresh.NewFamilyID(broken); err == nil || id != "" {
		t.Errorf("NewFamilyID(a failing reader) = %q, %v; want an error and no id", id, err)
	}
}

func TestFamilyIDsAreDistinct(t *testing.T) {
	a, errA := refresh.NewFamilyID(rand.Reader)
	b, errB := refresh.NewFamilyID(rand.Reader)
	if errA != nil || errB != nil || a == b || !strings.HasPrefix(a, "fam_") {
		t.Fatalf("NewFamilyID twice = %q, %q (%v, %v)", a, b, errA, errB)
	}
}

func TestCheckRefusesWhatIsNotShapedLikeARefreshToken(t *testing.T) {
	good, err := refresh.New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body := good[len(refresh.Prefix):]
	tests := []struct {
		name string
		tok  string
		ok   bool
	}{
		{"a fresh token passes", good, true},
		{"an empty string is malformed", "", false},
		{"the prefix alone is malformed", refresh.Prefix, false},
		{"another prefix is malformed", "kgx_" + body, false},
		{"an API key's prefix is malformed", "kg_live_" + body[:len(body)-4], false},
		{"one character short is malformed", good[:len(good)-1], false},
		{"one character long is malformed", good + "A", false},
		{"standard base64's + is malformed", refresh.Prefix + "+" + body[1:], false},
		{"standard base64's / is malformed", refresh.Prefix + "/" + body[1:], false},
		{"padding is malformed", refresh.Prefix + body[:len(body)-1] + "=", false},
		{"whitespace is malformed", refresh.Prefix + " " + body[1:], false},
		{"a non-ASCII character is malformed", refresh.Prefix + "é" + body[2:], false},
		{"a LF inside (which base64 decoding skips) is malformed", refresh.Prefix + body[:20] + "\n" + body[21:], false},
		{"a CR inside (which base64 decoding skips) is malformed", refresh.Prefix + body[:20] + "\r" + body[21:], false},
		{"a non-canonical last character is malformed", refresh.Prefix + body[:len(body)-1] + respellLast(body), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := refresh.Check(tt.tok)
			if tt.ok && err != nil {
				t.Errorf("Check(%q) = %v, want nil", tt.tok, err)
			}
			if !tt.ok && !errors.Is(err, refresh.ErrMalformed) {
				t.Errorf("Check(%q) = %v, want ErrMalformed", tt.tok, err)
			}
		})
	}
}

// respellLast is the last character of a 43-character base64url text with one of its two
// unused low bits flipped: the same 32 bytes, spelt differently.
func respellLast(body string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alphabet[strings.IndexByte(alphabet, body[len(body)-1])^1])
}

func TestHashIsStableAndDistinguishesTokens(t *testing.T) {
	a, _ := refresh.New(rand.Reader)
	b, _ := refresh.New(rand.Reader)
	if refresh.Hash(a) != refresh.Hash(a) {
		t.Error("Hash is not deterministic")
	}
	if refresh.Hash(a) == refresh.Hash(b) {
		t.Error("two tokens hash alike")
	}
	if h := refresh.Hash(a); strings.Contains(h, a) || strings.Contains(h, a[len(refresh.Prefix):]) || len(h) != 43 {
		t.Errorf("Hash(%q) = %q: want 43 base64url characters not containing the token", a, h)
	}
}

// The successor is what a retry inside the grace window gets again: it must be a valid token,
// the same for the same parent and pepper, and unguessable without the pepper.
func TestSuccessorIsDeterministicKeyedAndWellFormed(t *testing.T) {
	pepperA, pepperB := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	ha, err := apikey.NewHasher(pepperA)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := apikey.NewHasher(pepperB)
	if err != nil {
		t.Fatal(err)
	}
	parent, _ := refresh.New(rand.Reader)
	other, _ := refresh.New(rand.Reader)
	s := refresh.Successor(ha, parent)
	if err := refresh.Check(s); err != nil {
		t.Fatalf("Check(Successor) = %v for %q", err, s)
	}
	if refresh.Successor(ha, parent) != s {
		t.Error("a retry derives another successor")
	}
	if refresh.Successor(ha, other) == s {
		t.Error("two parents share a successor")
	}
	if refresh.Successor(hb, parent) == s {
		t.Error("the successor does not depend on the pepper")
	}
	if s == parent {
		t.Error("the successor is its parent")
	}
}

func FuzzCheck(f *testing.F) {
	good, _ := refresh.New(rand.Reader)
	for _, s := range []string{good, "", refresh.Prefix, good + "=", "kgr_" + strings.Repeat("-", 43), "kgr_" + strings.Repeat("_", 42) + "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		if refresh.Check(tok) != nil {
			return
		}
		// Whatever passes is exactly a prefixed base64url encoding of 32 bytes.
		if len(tok) != refresh.Len || !strings.HasPrefix(tok, refresh.Prefix) ||
			strings.ContainsAny(tok[len(refresh.Prefix):], "+/= \t\r\n") {
			t.Fatalf("Check accepted %q", tok)
		}
	})
}
