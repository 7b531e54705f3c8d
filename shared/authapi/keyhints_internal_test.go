package authapi

import (
	"strconv"
	"testing"
)

// The hints of one container stay bounded however many API keys it sees, an update replaces a
// hint without evicting another, and a dropped hint is gone.
func TestKeyHintsAreBoundedAndForgetOnDemand(t *testing.T) {
	var h keyHints
	if _, ok := h.get(hintID("kg_live_never")); ok {
		t.Fatal("an empty store remembers a key")
	}
	for i := range maxKeyHints + 5 {
		h.put(hintID("kg_live_"+strconv.Itoa(i)), keyHint{keyID: "key_" + strconv.Itoa(i), limit: i})
	}
	if n := h.len(); n != maxKeyHints {
		t.Fatalf("%d hints after %d keys, want the bound %d", n, maxKeyHints+5, maxKeyHints)
	}
	last, want := hintID("kg_live_"+strconv.Itoa(maxKeyHints+4)), keyHint{keyID: "key_" + strconv.Itoa(maxKeyHints+4), limit: maxKeyHints + 4}
	if got, ok := h.get(last); !ok || got != want {
		t.Fatalf("the latest key's hint = %+v, %v; want %+v", got, ok, want)
	}
	want.limit = 7
	h.put(last, want)
	if got, _ := h.get(last); got != want || h.len() != maxKeyHints {
		t.Fatalf("after an update: %+v and %d hints, want %+v and %d", got, h.len(), want, maxKeyHints)
	}
	h.drop(last)
	if _, ok := h.get(last); ok {
		t.Fatal("a dropped hint is still there")
	}
}
