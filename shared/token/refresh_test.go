package token_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/token"
)

func TestNewRefreshTokensAreWellFormedAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := token.NewRefresh(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != token.RefreshLen || !strings.HasPrefix(tok, token.RefreshPrefix) {
			t.Fatalf("New() = %q: want %d characters starting %q", tok, token.RefreshLen, token.RefreshPrefix)
		}
		if err := token.CheckRefresh(tok); err != nil {
			t.Fatalf("Check(New()) = %v", err)
		}
		if seen[tok] {
			t.Fatalf("New() repeated %q", tok)
		}
		seen[tok] = true
	}
}

func TestNewRefreshFailsClosedWithoutRandomness(t *testing.T) {
	broken := iotest.ErrReader(errors.New("no entropy"))
	short := bytes.NewReader(make([]byte, 8)) // fewer bytes than a token needs
	for name, r := range map[string]interface{ Read([]byte) (int, error) }{"a failing reader": broken, "a short reader": short} {
		if tok, err := token.NewRefresh(r); err == nil || tok != "" {
			t.Errorf("New(%s) = %q, %v; want an error and no token", name, tok, err)
		}
	}
	if id, err := token.NewFamilyID(broken); err == nil || id != "" {
		t.Errorf("NewFamilyID(a failing reader) = %q, %v; want an error and no id", id, err)
	}
}

func TestFamilyIDsAreDistinct(t *testing.T) {
	a, errA := token.NewFamilyID(rand.Reader)
	b, errB := token.NewFamilyID(rand.Reader)
	if errA != nil || errB != nil || a == b || !strings.HasPrefix(a, "fam_") {
		t.Fatalf("NewFamilyID twice = %q, %q (%v, %v)", a, b, errA, errB)
	}
}

func TestCheckRefreshRefusesWhatIsNotShapedLikeARefreshToken(t *testing.T) {
	good, err := token.NewRefresh(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body := good[len(token.RefreshPrefix):]
	tests := []struct {
		name string
		tok  string
		ok   bool
	}{
		{"a fresh token passes", good, true},
		{"an empty string is malformed", "", false},
		{"the prefix alone is malformed", token.RefreshPrefix, false},
		{"another prefix is malformed", "kgx_" + body, false},
		{"an API key's prefix is malformed", "kg_live_" + body[:len(body)-4], false},
		{"one character short is malformed", good[:len(good)-1], false},
		{"one character long is malformed", good + "A", false},
		{"standard base64's + is malformed", token.RefreshPrefix + "+" + body[1:], false},
		{"standard base64's / is malformed", token.RefreshPrefix + "/" + body[1:], false},
		{"padding is malformed", token.RefreshPrefix + body[:len(body)-1] + "=", false},
		{"whitespace is malformed", token.RefreshPrefix + " " + body[1:], false},
		{"a non-ASCII character is malformed", token.RefreshPrefix + "é" + body[2:], false},
		{"a LF inside (which base64 decoding skips) is malformed", token.RefreshPrefix + body[:20] + "\n" + body[21:], false},
		{"a CR inside (which base64 decoding skips) is malformed", token.RefreshPrefix + body[:20] + "\r" + body[21:], false},
		{"a non-canonical last character is malformed", token.RefreshPrefix + body[:len(body)-1] + respellLast(body), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := token.CheckRefresh(tt.tok)
			if tt.ok && err != nil {
				t.Errorf("Check(%q) = %v, want nil", tt.tok, err)
			}
			if !tt.ok && !errors.Is(err, token.ErrMalformedRefresh) {
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

func TestRefreshHashIsStableAndDistinguishesTokens(t *testing.T) {
	a, _ := token.NewRefresh(rand.Reader)
	b, _ := token.NewRefresh(rand.Reader)
	if token.RefreshHash(a) != token.RefreshHash(a) {
		t.Error("Hash is not deterministic")
	}
	if token.RefreshHash(a) == token.RefreshHash(b) {
		t.Error("two tokens hash alike")
	}
	if h := token.RefreshHash(a); strings.Contains(h, a) || strings.Contains(h, a[len(token.RefreshPrefix):]) || len(h) != 43 {
		t.Errorf("Hash(%q) = %q: want 43 base64url characters not containing the token", a, h)
	}
}

// The successor is what a retry inside the grace window gets again: it must be a valid token,
// the same for the same parent and pepper, and unguessable without the pepper.
func TestRefreshSuccessorIsDeterministicKeyedAndWellFormed(t *testing.T) {
	pepperA, pepperB := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	ha, err := apikey.NewHasher(pepperA)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := apikey.NewHasher(pepperB)
	if err != nil {
		t.Fatal(err)
	}
	parent, _ := token.NewRefresh(rand.Reader)
	other, _ := token.NewRefresh(rand.Reader)
	s := token.RefreshSuccessor(ha, parent)
	if err := token.CheckRefresh(s); err != nil {
		t.Fatalf("Check(Successor) = %v for %q", err, s)
	}
	if token.RefreshSuccessor(ha, parent) != s {
		t.Error("a retry derives another successor")
	}
	if token.RefreshSuccessor(ha, other) == s {
		t.Error("two parents share a successor")
	}
	if token.RefreshSuccessor(hb, parent) == s {
		t.Error("the successor does not depend on the pepper")
	}
	if s == parent {
		t.Error("the successor is its parent")
	}
}

func FuzzCheckRefresh(f *testing.F) {
	good, _ := token.NewRefresh(rand.Reader)
	for _, s := range []string{good, "", token.RefreshPrefix, good + "=", "kgr_" + strings.Repeat("-", 43), "kgr_" + strings.Repeat("_", 42) + "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		if token.CheckRefresh(tok) != nil {
			return
		}
		// Whatever passes is exactly a prefixed base64url encoding of 32 bytes.
		if len(tok) != token.RefreshLen || !strings.HasPrefix(tok, token.RefreshPrefix) ||
			strings.ContainsAny(tok[len(token.RefreshPrefix):], "+/= \t\r\n") {
			t.Fatalf("Check accepted %q", tok)
		}
	})
}
