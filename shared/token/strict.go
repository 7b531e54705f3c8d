package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// knownClaims are the claim names keygate reads; a case variant of one ("Scope") is refused so
// that Go's case-insensitive JSON matching can never let it stand in for the real claim.
var knownClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "key_id", "key_gen", "customer_id", "tier", "rate_limit"}

var knownHeaders = []string{"alg", "typ", "kid"}

// numericDates must be JSON numbers, not strings that golang-jwt would also accept.
var numericDates = map[string]bool{"exp": true, "nbf": true, "iat": true}

var errStrict = errors.New("token: claims not in canonical form")

// checkStrict refuses a token whose header or payload has duplicate member names, case variants
// of the names keygate reads, or dates that are not JSON numbers (SECURITY-CASES 7 and 9).
func checkStrict(raw string) error {
	parts := strings.SplitN(raw, ".", 3)
	if len(parts) != 3 {
		return errStrict
	}
	if err := checkSegment(parts[0], knownHeaders, nil); err != nil {
		return err
	}
	return checkSegment(parts[1], knownClaims, numericDates)
}

func checkSegment(seg string, known []string, numeric map[string]bool) error {
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return errStrict
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errStrict
	}
	seen := make(map[string]bool, 16)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return errStrict
		}
		name, ok := t.(string)
		if !ok || seen[name] {
			return errStrict
		}
		seen[name] = true
		for _, k := range known {
			if name != k && strings.EqualFold(name, k) {
				return errStrict
			}
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return errStrict
		}
		if numeric[name] {
			if _, ok := v.(json.Number); !ok {
				return errStrict
			}
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return errStrict
	}
	return nil
}
