package apikey

import (
	"math"
	mrand "math/rand/v2"
	"strings"
	"testing"
)

// The secret's entropy claim (36 chars ≈ 214 bits) holds only if every base62 character is
// equally likely. A plain byte%62 would favour the first 8 characters by 25%, which this
// chi-square bound catches by an order of magnitude.
func TestRandomBase62IsUniform(t *testing.T) {
	const perChar = 2000
	n := len(alphabet) * perChar
	var seed [32]byte
	copy(seed[:], "keygate uniformity test seed....")
	s, err := randomBase62(mrand.NewChaCha8(seed), n)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != n {
		t.Fatalf("len = %d, want %d", len(s), n)
	}
	counts := map[rune]int{}
	for _, c := range s {
		if !strings.ContainsRune(alphabet, c) {
			t.Fatalf("character %q is not base62", c)
		}
		counts[c]++
	}
	if len(counts) != len(alphabet) {
		t.Errorf("%d distinct characters, want %d", len(counts), len(alphabet))
	}
	chi2 := 0.0
	for _, c := range alphabet {
		d := float64(counts[c] - perChar)
		chi2 += d * d / perChar
	}
	// 61 degrees of freedom: mean 61, sd ≈ 11. 61 + 5 sd ≈ 116; a byte%62 bias gives ≈ 1000.
	if limit := 61 + 5*math.Sqrt(2*61); chi2 > limit {
		t.Errorf("chi-square = %.1f over %d characters, want ≤ %.1f", chi2, n, limit)
	}
}

// Bytes ≥ 248 must be dropped, never folded into a character.
func TestRandomBase62DropsBytesAbove247(t *testing.T) {
	r := &cycle{b: []byte{255, 250, 248, 0, 61, 247}}
	s, err := randomBase62(r, 6)
	if err != nil {
		t.Fatal(err)
	}
	// 0 → '0', 61 → 'z', 247 → 247%62 = 61 → 'z'; 248..255 skipped.
	if want := "0zz0zz"; s != want {
		t.Errorf("randomBase62 = %q, want %q", s, want)
	}
}

type cycle struct {
	b []byte
	i int
}

func (c *cycle) Read(p []byte) (int, error) {
	for j := range p {
		p[j] = c.b[c.i%len(c.b)]
		c.i++
	}
	return len(p), nil
}
