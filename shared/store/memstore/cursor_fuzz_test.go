package memstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate/shared/store"
)

// Cursors come from clients: a cursor decodes only inside its own scope, to a non-empty
// position, and encodeCursor's output always decodes back to the same position.
func FuzzDecodeCursor(f *testing.F) {
	for _, s := range []string{encodeCursor("keys", "0042"), encodeCursor("events#key_a", "7"), "", "!!!", "a2V5c3w", "fA"} {
		f.Add(s, "keys")
	}
	f.Fuzz(func(t *testing.T, cursor, scope string) {
		pos, err := decodeCursor(cursor, scope)
		switch {
		case err != nil:
			if !errors.Is(err, store.ErrBadCursor) || pos != "" {
				t.Fatalf("decodeCursor(%q, %q) = %q, %v; want \"\", ErrBadCursor", cursor, scope, pos, err)
			}
		case cursor == "":
			if pos != "" {
				t.Fatalf("the empty cursor decoded to %q", pos)
			}
		case pos == "":
			t.Fatalf("decodeCursor(%q, %q) = an empty position", cursor, scope)
		}
		if strings.Contains(scope, "|") || pos == "" {
			return
		}
		if got, err := decodeCursor(encodeCursor(scope, pos), scope); err != nil || got != pos {
			t.Fatalf("round trip of %q in scope %q = %q, %v", pos, scope, got, err)
		}
	})
}
