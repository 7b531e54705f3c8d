package apikey_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash/crc32"
	mrand "math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate/shared/apikey"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// keyShape is the documented format: <prefix>_<36 base62>_<6 base62>.
var keyShape = regexp.MustCompile(`^(kg_live|kg_test)_[0-9A-Za-z]{36}_[0-9A-Za-z]{6}$`)

// seeded returns a deterministic random reader so failures reproduce.
func seeded(seed uint64) *mrand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return mrand.NewChaCha8(s)
}

func mustGenerate(t testing.TB, prefix string) string {
	t.Helper()
	k, err := apikey.Generate(prefix, rand.Reader)
	if err != nil {
		t.Fatalf("Generate(%q): %v", prefix, err)
	}
	return k
}

// wantChecksum recomputes the checksum independently: CRC32 (IEEE) of prefix_secret, written as
// six big-endian base62 digits.
func wantChecksum(body string) string {
	v := crc32.ChecksumIEEE([]byte(body))
	out := make([]byte, apikey.ChecksumLen)
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return string(out)
}

func TestGenerateProducesTheDocumentedFormat(t *testing.T) {
	for _, prefix := range []string{"kg_live", "kg_test"} {
		t.Run(prefix, func(t *testing.T) {
			for i := 0; i < 200; i++ {
				k := mustGenerate(t, prefix)
				if !keyShape.MatchString(k) || !strings.HasPrefix(k, prefix+"_") {
					t.Fatalf("key %q does not match %v", k, keyShape)
				}
				if len(k) != len(prefix)+1+apikey.SecretLen+1+apikey.ChecksumLen || len(k) > apikey.MaxLen {
					t.Fatalf("len(%q) = %d", k, len(k))
				}
				body := k[:len(k)-apikey.ChecksumLen-1]
				if got := k[len(k)-apikey.ChecksumLen:]; got != wantChecksum(body) {
					t.Fatalf("checksum %q, want CRC32 %q", got, wantChecksum(body))
				}
				if err := apikey.Parse(k, prefix); err != nil {
					t.Fatalf("Parse(Generate()) = %v", err)
				}
				if !apikey.LooksLikeKey(k) {
					t.Fatalf("LooksLikeKey(%q) = false", k)
				}
			}
		})
	}
}

func TestGenerateRefusesUnknownPrefixes(t *testing.T) {
	for _, p := range []string{"", "kg", "kg_", "kg_prod", "KG_LIVE", "kg_live_", "sk_live"} {
		if k, err := apikey.Generate(p, rand.Reader); err == nil {
			t.Errorf("Generate(%q) = %q, want an error", p, k)
		}
	}
}

func TestGenerateReportsAFailingRandomSource(t *testing.T) {
	failing := readerFunc(func([]byte) (int, error) { return 0, errors.New("entropy exhausted") })
	if k, err := apikey.Generate("kg_live", failing); err == nil || k != "" {
		t.Errorf("Generate with a failing reader = %q, %v", k, err)
	}
	if id, err := apikey.NewKeyID(failing); err == nil || id != "" {
		t.Errorf("NewKeyID with a failing reader = %q, %v", id, err)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestGeneratedKeysAreUnique(t *testing.T) {
	const n = 20000
	seen := make(map[string]struct{}, n)
	secrets := make(map[string]struct{}, n)
	for i := 0; i < n; i++ {
		k := mustGenerate(t, "kg_live")
		if _, dup := seen[k]; dup {
			t.Fatalf("duplicate key after %d keys", i)
		}
		seen[k] = struct{}{}
		secrets[k[len("kg_live_"):len("kg_live_")+apikey.SecretLen]] = struct{}{}
	}
	if len(secrets) != n {
		t.Errorf("%d distinct secrets among %d keys", len(secrets), n)
	}
}

func TestParse(t *testing.T) {
	live := mustGenerate(t, "kg_live")
	test := mustGenerate(t, "kg_test")
	secretAt := len("kg_live_")
	replaceAt := func(s string, i int, c string) string { return s[:i] + c + s[i+1:] }
	tests := []struct {
		name   string
		key    string
		prefix string
		want   error
	}{
		{"a live key in live", live, "kg_live", nil},
		{"a test key in test", test, "kg_test", nil},
		{"a test key in live", test, "kg_live", apikey.ErrWrongEnvironment},
		{"a live key in test", live, "kg_test", apikey.ErrWrongEnvironment},
		{"another kg_ environment", "kg_prod_" + live[secretAt:], "kg_live", apikey.ErrWrongEnvironment},
		{"a 1 MB key of another environment", "kg_test_" + strings.Repeat("A", 1<<20), "kg_live", apikey.ErrWrongEnvironment},
		{"empty", "", "kg_live", apikey.ErrMalformed},
		{"only the prefix", "kg_live_", "kg_live", apikey.ErrMalformed},
		{"one character short", live[:len(live)-1], "kg_live", apikey.ErrMalformed},
		{"one character long", live + "A", "kg_live", apikey.ErrMalformed},
		{"without the checksum", live[:len(live)-apikey.ChecksumLen-1], "kg_live", apikey.ErrMalformed},
		{"a 1 MB key", "kg_live_" + strings.Repeat("A", 1<<20), "kg_live", apikey.ErrMalformed},
		{"a 1 MB non-key", strings.Repeat("\x00", 1<<20), "kg_live", apikey.ErrMalformed},
		{"a dash in the secret", replaceAt(live, secretAt+5, "-"), "kg_live", apikey.ErrMalformed},
		{"an underscore in the secret", replaceAt(live, secretAt+5, "_"), "kg_live", apikey.ErrMalformed},
		{"a space in the secret", replaceAt(live, secretAt, " "), "kg_live", apikey.ErrMalformed},
		{"a NUL in the secret", replaceAt(live, secretAt+35, "\x00"), "kg_live", apikey.ErrMalformed},
		{"a non-ASCII byte in the secret", replaceAt(live, secretAt+1, "\xe9"), "kg_live", apikey.ErrMalformed},
		{"a non-base62 checksum", replaceAt(live, len(live)-1, "!"), "kg_live", apikey.ErrMalformed},
		{"a missing separator before the checksum", replaceAt(live, len(live)-apikey.ChecksumLen-1, "A"), "kg_live", apikey.ErrMalformed},
		{"a JWT", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "kg_live", apikey.ErrMalformed},
		{"an upper-case prefix", strings.ToUpper(live[:7]) + live[7:], "kg_live", apikey.ErrMalformed},
		{"the checksum of another key", live[:len(live)-apikey.ChecksumLen] + otherChecksum(live), "kg_live", apikey.ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := apikey.Parse(tt.key, tt.prefix)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Parse = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), tt.key[min(len(tt.key), secretAt):]) && len(tt.key) > secretAt {
				t.Errorf("error %q carries the key", err)
			}
		})
	}
}

func otherChecksum(key string) string {
	sum := key[len(key)-apikey.ChecksumLen:]
	if sum == "000000" {
		return "000001"
	}
	return "000000"
}

// CRC32 detects every single-character change, so a typo never reaches the database.
func TestEverySingleCharacterMutationOfTheSecretFailsTheChecksum(t *testing.T) {
	key := mustGenerate(t, "kg_live")
	start := len("kg_live_")
	mutations := 0
	for i := start; i < start+apikey.SecretLen; i++ {
		for j := 0; j < len(base62); j++ {
			if base62[j] == key[i] {
				continue
			}
			mutated := key[:i] + string(base62[j]) + key[i+1:]
			if err := apikey.Parse(mutated, "kg_live"); !errors.Is(err, apikey.ErrChecksum) {
				t.Fatalf("Parse(mutation at %d to %c) = %v, want ErrChecksum", i, base62[j], err)
			}
			mutations++
		}
	}
	if mutations != apikey.SecretLen*61 {
		t.Errorf("checked %d mutations, want %d", mutations, apikey.SecretLen*61)
	}
}

func TestEverySingleCharacterMutationOfTheChecksumFails(t *testing.T) {
	key := mustGenerate(t, "kg_test")
	for i := len(key) - apikey.ChecksumLen; i < len(key); i++ {
		for j := 0; j < len(base62); j++ {
			if base62[j] == key[i] {
				continue
			}
			mutated := key[:i] + string(base62[j]) + key[i+1:]
			if err := apikey.Parse(mutated, "kg_test"); !errors.Is(err, apikey.ErrChecksum) {
				t.Fatalf("Parse(checksum mutation at %d) = %v, want ErrChecksum", i, err)
			}
		}
	}
}

func TestLooksLikeKey(t *testing.T) {
	tests := map[string]bool{
		"kg_live_abc":            true,
		"kg_test_":               true,
		"kg_":                    true,
		"":                       false,
		"kg":                     false,
		"KG_live_abc":            false,
		"eyJhbGciOiJSUzI1NiJ9.x": false,
		" kg_live_abc":           false,
	}
	for in, want := range tests {
		if got := apikey.LooksLikeKey(in); got != want {
			t.Errorf("LooksLikeKey(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestValidPrefix(t *testing.T) {
	for p, want := range map[string]bool{"kg_live": true, "kg_test": true, "kg_prod": false, "": false, "kg_live_": false, "KG_LIVE": false} {
		if got := apikey.ValidPrefix(p); got != want {
			t.Errorf("ValidPrefix(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestNewHasherRefusesAShortPepper(t *testing.T) {
	tests := []struct {
		name    string
		pepper  []byte
		wantErr bool
	}{
		{"nil", nil, true},
		{"empty", []byte{}, true},
		{"31 bytes", make([]byte, 31), true},
		{"32 bytes", make([]byte, 32), false},
		{"64 bytes", make([]byte, 64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := apikey.NewHasher(tt.pepper)
			if (err != nil) != tt.wantErr || (h == nil) != tt.wantErr {
				t.Errorf("NewHasher = %v, %v; wantErr %v", h, err, tt.wantErr)
			}
		})
	}
}

var hashShape = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func TestHashIsTheBase64URLHMACSHA256OfTheKey(t *testing.T) {
	pepper := []byte(strings.Repeat("p", 32))
	h, err := apikey.NewHasher(pepper)
	if err != nil {
		t.Fatal(err)
	}
	key := mustGenerate(t, "kg_live")
	got := h.Hash(key)
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(key))
	if want := base64.RawURLEncoding.EncodeToString(m.Sum(nil)); got != want {
		t.Errorf("Hash = %q, want HMAC-SHA-256 %q", got, want)
	}
	if !hashShape.MatchString(got) {
		t.Errorf("Hash = %q, want 43 base64url characters", got)
	}
	if strings.Contains(got, key) {
		t.Errorf("hash contains the key")
	}
}

func TestHashIsDeterministicAndDependsOnThePepper(t *testing.T) {
	pepperA := []byte(strings.Repeat("a", 32))
	pepperB := []byte(strings.Repeat("a", 31) + "b")
	a1, _ := apikey.NewHasher(pepperA)
	a2, _ := apikey.NewHasher(append([]byte(nil), pepperA...))
	b, _ := apikey.NewHasher(pepperB)
	key := mustGenerate(t, "kg_live")
	if a1.Hash(key) != a1.Hash(key) || a1.Hash(key) != a2.Hash(key) {
		t.Errorf("the same pepper and key hash differently")
	}
	if a1.Hash(key) == b.Hash(key) {
		t.Errorf("different peppers give the same hash")
	}
	if a1.Hash(key) == a1.Hash(mustGenerate(t, "kg_live")) {
		t.Errorf("different keys give the same hash")
	}
	for _, in := range []string{"", "x", strings.Repeat("y", 10000)} {
		if !hashShape.MatchString(a1.Hash(in)) {
			t.Errorf("Hash(%d bytes) = %q, want 43 base64url characters", len(in), a1.Hash(in))
		}
	}
}

func TestTheHasherKeepsItsOwnCopyOfThePepper(t *testing.T) {
	pepper := []byte(strings.Repeat("z", 32))
	h, _ := apikey.NewHasher(pepper)
	before := h.Hash("kg_live_x")
	for i := range pepper {
		pepper[i] = 0
	}
	if h.Hash("kg_live_x") != before {
		t.Errorf("zeroing the caller's pepper changed the hash; NewHasher must copy it")
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"abc", "abc", true},
		{"", "", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"abc", "ABC", false},
	}
	for _, tt := range tests {
		if got := apikey.Equal(tt.a, tt.b); got != tt.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestNewKeyIDHasTheDocumentedShape(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id, err := apikey.NewKeyID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^key_[0-9A-Za-z]{20}$`).MatchString(id) || !apikey.ValidKeyID(id) {
			t.Fatalf("NewKeyID = %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate key id %q", id)
		}
		seen[id] = true
	}
}

func TestValidKeyID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"key_ABCDEFGHIJklmnopqrst", true},
		{"key_01234567890123456789", true},
		{"key_ABCDEFGHIJklmnopqrs", false},   // 19
		{"key_ABCDEFGHIJklmnopqrstu", false}, // 21
		{"KEY_ABCDEFGHIJklmnopqrst", false},
		{"kez_ABCDEFGHIJklmnopqrst", false},
		{"key_ABCDEFGHIJklmnopqr-t", false},
		{"key_ABCDEFGHIJklmnopqr/t", false},
		{"key_../../../etc/passwdx", false},
		{"key_ABCDEFGHIJklmnopq\x00t", false},
		{"", false},
		{"key_", false},
		{strings.Repeat("k", 1<<16), false},
	}
	for _, tt := range tests {
		if got := apikey.ValidKeyID(tt.id); got != tt.want {
			t.Errorf("ValidKeyID(%.30q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

// FuzzParse: Parse never panics, only returns its sentinels, and accepts a string only if the
// string is exactly <prefix>_<36 base62>_<CRC32 checksum>.
func FuzzParse(f *testing.F) {
	for i := uint64(0); i < 4; i++ {
		k, _ := apikey.Generate("kg_live", seeded(i))
		f.Add(k)
		k, _ = apikey.Generate("kg_test", seeded(i+100))
		f.Add(k)
	}
	f.Add("")
	f.Add("kg_live_")
	f.Add("kg_live_" + strings.Repeat("0", 36) + "_000000")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, key string) {
		for _, prefix := range []string{"kg_live", "kg_test"} {
			err := apikey.Parse(key, prefix)
			switch {
			case err == nil:
				if !keyShape.MatchString(key) || !strings.HasPrefix(key, prefix+"_") {
					t.Fatalf("Parse accepted %q, which is not a %s key", key, prefix)
				}
				body := key[:len(key)-apikey.ChecksumLen-1]
				if key[len(key)-apikey.ChecksumLen:] != wantChecksum(body) {
					t.Fatalf("Parse accepted %q whose checksum does not round-trip", key)
				}
			case errors.Is(err, apikey.ErrMalformed), errors.Is(err, apikey.ErrChecksum), errors.Is(err, apikey.ErrWrongEnvironment):
			default:
				t.Fatalf("Parse returned an unexpected error %v", err)
			}
		}
	})
}

var sink string

// BenchmarkParseChecksumHash is the CPU cost of the no-I/O part of a token request: parse,
// checksum and peppered hash. Target: ≤ 2 µs/op.
func BenchmarkParseChecksumHash(b *testing.B) {
	key := mustGenerate(b, "kg_live")
	h, err := apikey.NewHasher([]byte(strings.Repeat("p", 32)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := apikey.Parse(key, "kg_live"); err != nil {
			b.Fatal(err)
		}
		sink = h.Hash(key)
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		k, err := apikey.Generate("kg_live", rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		sink = k
	}
}
