// OnlyBase64URL checks the unpadded base64url text (RFC 4648 §5) that keygate's access and
// refresh tokens are made of, before encoding/base64 decodes it. The decoder skips CR and LF
// anywhere in its input, even in Strict mode, so without this check one token has many
// accepted spellings, and an issued token could be replayed under a string that no cache or
// denylist keyed by the raw token has seen.

package token

// OnlyBase64URL reports whether s holds nothing but base64url characters (A–Z, a–z, 0–9, '-'
// and '_'): no padding, whitespace, CR, LF or standard-alphabet '+' and '/'. It does not check
// the length or the final character's unused bits; encoding/base64's Strict decoding does.
func OnlyBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
