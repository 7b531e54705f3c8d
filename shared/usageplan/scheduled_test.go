package usageplan_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/memstore"
	"github.com/keygate/keygate/shared/usageplan"
	"github.com/keygate/keygate/shared/usageplan/usageplantest"
)

// The scheduled sync (PlansFunction) removes an expired key's API key, adds a missing one,
// logs what it did, and fails (for the Errors alarm) when a key could not be repaired.
func TestTheScheduledSyncRepairsAndReports(t *testing.T) {
	ctx := context.Background()
	f := usageplantest.New("local", usageplantest.DefaultTiers...)
	m, clk := newManager(t, f, 200)
	f.Now = clk.Now
	keys := memstore.NewKeys(clk.Now)
	expiring := key(keyA, "free", 60)
	expiring.ExpiresAt = start.Add(30 * time.Minute)
	missing := key("key_BBBBBBBBBBBBBBBBBBBB", "startup", 1000)
	for i, k := range []store.Key{expiring, missing} {
		k.Hash = "hash" + string(rune('a'+i))
		if err := keys.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Ensure(ctx, expiring); err != nil { // only the expiring key has its API key
		t.Fatal(err)
	}
	clk.Advance(time.Hour) // the key has expired; its record may linger until TTL deletes it
	var logs bytes.Buffer
	run := usageplan.Scheduled(m, keys, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err := run(ctx, events.CloudWatchEvent{DetailType: "Scheduled Event", Source: "aws.events"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"keygate-local-key_BBBBBBBBBBBBBBBBBBBB"}; !slices.Equal(f.APIKeyNames(), want) {
		t.Errorf("API keys after the run %v, want %v", f.APIKeyNames(), want)
	}
	if !strings.Contains(logs.String(), `"api_keys_removed":1`) || !strings.Contains(logs.String(), `"in_plans":1`) {
		t.Errorf("log does not report the run: %s", logs.String())
	}

	f.Fail = map[string][]error{"CreateUsagePlanKey": {errors.New("boom")}}
	third := key("key_CCCCCCCCCCCCCCCCCCCC", "growth", 10000)
	third.Hash = "hashc"
	if err := keys.CreateKey(ctx, third); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, events.CloudWatchEvent{}); err == nil || !strings.Contains(err.Error(), "1 repairs failed") {
		t.Errorf("a run that could not repair a key: %v, want an error for the alarm", err)
	}
}
