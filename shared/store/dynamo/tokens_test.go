package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/store/dynamo"
	"github.com/keygate/keygate/shared/store/storetest"
)

// The access-token deny-list against DynamoDB Local through the real SDK client: per key,
// expired entries absent before TTL deletion, one Query lists a key's entries.
func TestTheDenyListIsPerKeyAndHonoursExpiry(t *testing.T) {
	ctx := context.Background()
	db := emulator(t)
	table := createTable(t, db, "TokensTable")
	now := storetest.Start
	clock := func() time.Time { return now }
	s := dynamo.NewTokens(db, table, "unused-keys-table", clock, nil)

	if err := s.DenyAccessToken(ctx, "key_a", "jti-1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.DenyAccessToken(ctx, "key_a", "jti-2", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.DenyAccessToken(ctx, "key_b", "jti-3", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key, jti string
		at       time.Duration
		want     bool
	}{
		{"key_a", "jti-1", 0, true},
		{"key_a", "jti-2", 0, true},
		{"key_a", "jti-3", 0, false}, // another key's entry
		{"key_b", "jti-3", 0, true},
		{"key_a", "jti-2", 2 * time.Minute, false}, // past its expiry, not yet deleted by TTL
		{"key_a", "jti-1", 2 * time.Minute, true},
	}
	for _, tt := range tests {
		now = storetest.Start.Add(tt.at)
		got, err := s.AccessTokenDenied(ctx, tt.key, tt.jti)
		if err != nil || got != tt.want {
			t.Errorf("AccessTokenDenied(%s, %s) at +%v = %v, %v; want %v", tt.key, tt.jti, tt.at, got, err, tt.want)
		}
	}

	now = storetest.Start
	list, err := s.DeniedTokens(ctx, "key_a")
	if err != nil || len(list) != 2 || !list["jti-1"].Equal(now.Add(time.Hour).Truncate(time.Second)) {
		t.Fatalf("DeniedTokens(key_a) = %v, %v", list, err)
	}
	now = storetest.Start.Add(2 * time.Minute)
	if list, err = s.DeniedTokens(ctx, "key_a"); err != nil || len(list) != 1 || list["jti-2"] != (time.Time{}) {
		t.Fatalf("after jti-2 expired: %v, %v", list, err)
	}
	if list, err = s.DeniedTokens(ctx, "key_none"); err != nil || len(list) != 0 {
		t.Fatalf("a key without revoked tokens: %v, %v", list, err)
	}
}
