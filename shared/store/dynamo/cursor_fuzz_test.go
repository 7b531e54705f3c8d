package dynamo

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/shared/store"
)

// Cursors come from clients (GET /v1/keys?cursor=…): whatever decodes is exactly the named
// string attributes, bounded, and survives a round trip through encodeCursor.
func FuzzDecodeCursor(f *testing.F) {
	good := encodeCursor(map[string]types.AttributeValue{
		"pk":      &types.AttributeValueMemberS{Value: "id#key_a"},
		"list_pk": &types.AttributeValueMemberS{Value: listPK},
		"list_sk": &types.AttributeValueMemberS{Value: "2025-06-01T12:00:00Z#key_a"},
	})
	for _, s := range []string{good, "", "!!!", base64.RawURLEncoding.EncodeToString([]byte(`{"pk":"x","list_pk":"","list_sk":"y"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"pk":1,"list_pk":"key","list_sk":"y"}`)), good + "\n"} {
		f.Add(s)
	}
	names := []string{"pk", "list_pk", "list_sk"}
	f.Fuzz(func(t *testing.T, cursor string) {
		m, err := decodeCursor(cursor, names...)
		if err != nil {
			if !errors.Is(err, store.ErrBadCursor) || m != nil {
				t.Fatalf("decodeCursor(%q) = %v, %v; want nil, ErrBadCursor", cursor, m, err)
			}
			return
		}
		if len(m) != len(names) {
			t.Fatalf("decodeCursor(%q) = %v: want exactly %v", cursor, m, names)
		}
		for _, n := range names {
			s, ok := m[n].(*types.AttributeValueMemberS)
			if !ok || s.Value == "" || len(s.Value) > 256 {
				t.Fatalf("decodeCursor(%q)[%s] = %#v: want a non-empty string of at most 256 bytes", cursor, n, m[n])
			}
		}
		again, err := decodeCursor(encodeCursor(m), names...)
		if err != nil {
			t.Fatalf("re-encoded cursor does not decode: %v", err)
		}
		for _, n := range names {
			if again[n].(*types.AttributeValueMemberS).Value != m[n].(*types.AttributeValueMemberS).Value {
				t.Fatalf("round trip changed %s: %v → %v", n, m, again)
			}
		}
	})
}
