package authapi_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

// A refresh decides on the key snapshot its token carries, and the snapshot is never the last
// word: whatever changed in the key since the token was stored (a revocation, a rotation, an
// allowlist, a limit, a tier) decides the refresh as if the key had been read, and a snapshot
// that would refuse is confirmed with the key itself first.
func TestARefreshDecidesOnTheKeyAsItIsWhenItCommits(t *testing.T) {
	const outside = "198.51.100.9" // inside only the widened allowlist
	type step struct {
		at       time.Duration // clock advance before the refresh
		from     string        // source IP ("": the usual one)
		wantCode int
		wantErr  string
	}
	tests := []struct {
		name   string
		tweak  func(*store.Key)
		change func(k *store.Key) // applied to the key after the login, as a save
		steps  []step
		check  func(t *testing.T, c *counting, last response)
	}{
		{name: "the key was revoked", change: func(k *store.Key) { k.Status, k.KeyGen = store.StatusRevoked, k.KeyGen+1 },
			steps: []step{{wantCode: 400, wantErr: "invalid_grant"}},
			check: func(t *testing.T, c *counting, _ response) {
				c.wantAudited(t, "token.refresh.failed", "key_revoked_or_rotated")
			}},
		{name: "the key was rotated without a grace period", change: func(k *store.Key) { k.Hash, k.KeyGen = "h-new", k.KeyGen+1 },
			steps: []step{{wantCode: 400, wantErr: "invalid_grant"}}},
		{name: "the key was rotated with a grace period: the previous generation refreshes until it ends",
			change: func(k *store.Key) {
				k.PreviousHash, k.Hash, k.KeyGen, k.GraceUntil = k.Hash, "h-new", k.KeyGen+1, start.Add(time.Hour)
			},
			steps: []step{{wantCode: 200}, {at: time.Hour, wantCode: 400, wantErr: "invalid_grant"}}},
		{name: "the key expired (its item not yet deleted)", tweak: func(k *store.Key) { k.ExpiresAt = start.Add(2 * time.Hour) },
			steps: []step{{wantCode: 200}, {at: 2 * time.Hour, wantCode: 400, wantErr: "invalid_grant"}}},
		{name: "the allowlist was narrowed to exclude the caller", change: func(k *store.Key) { k.AllowedIPs = []string{"192.0.2.0/24"} },
			steps: []step{{wantCode: 403, wantErr: "ip_not_allowed"}}},
		{name: "the allowlist was widened: the snapshot would refuse, the key allows",
			tweak:  func(k *store.Key) { k.AllowedIPs = []string{"203.0.113.0/24"} },
			change: func(k *store.Key) { k.AllowedIPs = []string{"203.0.113.0/24", "198.51.100.0/24"} },
			steps:  []step{{from: outside, wantCode: 200}}},
		{name: "the allowlist is unchanged and excludes the caller: refused after reading the key",
			tweak: func(k *store.Key) { k.AllowedIPs = []string{"203.0.113.0/24"} },
			steps: []step{{from: outside, wantCode: 403, wantErr: "ip_not_allowed"}}},
		{name: "the limit was raised after the window was spent: the snapshot's limit would refuse, the key's allows",
			tweak:  func(k *store.Key) { k.RateLimit = 1 },
			change: func(k *store.Key) { k.RateLimit = 10 },
			steps:  []step{{wantCode: 200}},
			check: func(t *testing.T, c *counting, last response) {
				if last.Headers["X-RateLimit-Limit"] != "10" || last.Headers["X-RateLimit-Remaining"] != "8" {
					t.Errorf("headers %v, want the key's limit 10 with 8 remaining (the login and this refresh spent 2)", last.Headers)
				}
				c.wantCount(t, 2)
			}},
		{name: "the limit was lowered below the window's count: refused, and the refusal counts nothing",
			tweak:  func(k *store.Key) { k.RateLimit = 10 },
			change: func(k *store.Key) { k.RateLimit = 1 },
			steps:  []step{{wantCode: 429, wantErr: "rate_limit_exceeded"}},
			check: func(t *testing.T, c *counting, last response) {
				if last.Headers["X-RateLimit-Limit"] != "1" || last.Headers["Retry-After"] == "" {
					t.Errorf("headers %v, want the key's limit 1 and Retry-After", last.Headers)
				}
				c.wantCount(t, 2) // the login, and this refresh's early take under the old limit
			}},
		{name: "the tier and owner changed: the access token says what the key says now",
			change: func(k *store.Key) { k.Tier, k.OwnerID = "enterprise", "team-7" },
			steps:  []step{{wantCode: 200}},
			check: func(t *testing.T, c *counting, last response) {
				claims, err := c.e.verifier.Verify(ctx, last.Payload["access_token"].(string))
				if err != nil || claims.Tier != "enterprise" || claims.OwnerID != "team-7" {
					t.Errorf("claims %+v, %v; want tier enterprise, owner team-7", claims, err)
				}
			}},
		{name: "nothing changed", steps: []step{{wantCode: 200}, {at: time.Minute, wantCode: 200}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCounting(t, tt.tweak)
			rt := c.login(t)
			if tt.change != nil {
				c.saveKey(t, tt.change)
			}
			var last response
			for i, s := range tt.steps {
				c.e.clock.Advance(s.at)
				ev := refreshRequest(rt)
				if s.from != "" {
					ev.RequestContext.Identity.SourceIP = s.from
				}
				last = c.e.serve(t, c.rh.Router().Serve, ev)
				if last.StatusCode != s.wantCode || (s.wantErr != "" && last.Error["code"] != s.wantErr) {
					t.Fatalf("refresh %d: %d %s, want %d %s", i+1, last.StatusCode, last.Body, s.wantCode, s.wantErr)
				}
				if last.StatusCode == 200 {
					rt = last.Payload["refresh_token"].(string)
					c.wantSnapshotOfTheKey(t, rt)
				}
			}
			if tt.check != nil {
				tt.check(t, c, last)
			}
		})
	}
}

// wantSnapshotOfTheKey fails unless the stored refresh token rt carries the key's current state.
func (c *counting) wantSnapshotOfTheKey(t *testing.T, rt string) {
	t.Helper()
	stored, err := c.e.tokens.RefreshToken(ctx, token.RefreshHash(rt))
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.e.keys.KeyByID(ctx, c.k.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	if s := stored.Key; s == nil || s.Version != k.Version || s.RateLimit != k.RateLimit || s.Tier != k.Tier || s.KeyGen != k.KeyGen {
		t.Errorf("the successor's key snapshot = %+v, want the key at version %d", s, k.Version)
	}
}

// wantCount fails unless the current window of c's key counted n requests.
func (c *counting) wantCount(t *testing.T, n int) {
	t.Helper()
	if got, _ := c.e.limiter.Count(c.k.KeyID, c.e.clock.Now().Truncate(store.RateWindow)); got != n {
		t.Errorf("the window counted %d requests, want %d", got, n)
	}
}

// wantAudited fails unless c's key's audit trail holds action with detail.
func (c *counting) wantAudited(t *testing.T, action, detail string) {
	t.Helper()
	page, err := c.e.keys.ListEvents(ctx, c.k.KeyID, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range page.Events {
		if ev.Action == action && ev.Detail == detail {
			return
		}
	}
	t.Errorf("no %s %s in the audit trail %+v", action, detail, page.Events)
}

// A token request with an API key the container has seen takes from the key's budget while it
// reads the key, with the limit it remembers; the key's own limit then decides, and the
// request counts once (a refusal under a lowered limit too: the early take counted, and the
// window is full under the new limit either way). Every row: two logins, a change of the key's
// limit, a third request.
func TestATokenRequestSettlesItsEarlyTakeWithTheKeysLimit(t *testing.T) {
	tests := []struct {
		name          string
		limit         int
		newLimit      int
		wantCode      int
		wantRemaining string
	}{
		{"the limit is unchanged", 10, 10, 200, "7"},
		{"the limit was raised", 3, 20, 200, "17"},
		{"the limit was raised after the window was spent: the early refusal counted nothing, the key's limit allows", 2, 5, 200, "2"},
		{"the limit was lowered to the count before this request", 10, 2, 429, "0"},
		{"the limit was lowered below that count", 10, 1, 429, "0"},
		{"the limit was lowered, still above the count", 10, 5, 200, "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCounting(t, func(k *store.Key) { k.RateLimit = tt.limit })
			c.login(t)
			c.login(t)
			c.saveKey(t, func(k *store.Key) { k.RateLimit = tt.newLimit })
			r := c.token(t, c.key)
			if r.StatusCode != tt.wantCode || r.Headers["X-RateLimit-Remaining"] != tt.wantRemaining ||
				r.Headers["X-RateLimit-Limit"] != strconv.Itoa(tt.newLimit) {
				t.Errorf("got %d with headers %v, want %d, limit %d, remaining %s", r.StatusCode, r.Headers, tt.wantCode, tt.newLimit, tt.wantRemaining)
			}
			c.wantCount(t, 3)
			if tt.wantCode != 200 && c.e.tokens.familyCount() != 2 {
				t.Errorf("the refused request stored a login: %d families", c.e.tokens.familyCount())
			}
		})
	}
}

// A token request from outside the key's allowlist with an API key the container has seen is
// refused and audited within the budget, spending it once.
func TestARefusedTokenRequestWithASeenAPIKeySpendsOnce(t *testing.T) {
	c := newCounting(t, func(k *store.Key) { k.AllowedIPs = []string{"192.0.2.0/24"}; k.RateLimit = 3 })
	codes := map[int]int{}
	for range 5 {
		codes[c.token(t, c.key).StatusCode]++
	}
	if codes[403] != 3 || codes[429] != 2 {
		t.Errorf("answers %v, want 3 refusals within the budget, then 429", codes)
	}
	c.wantCount(t, 3)
	c.wantAudited(t, "token.issue.failed", "ip_not_allowed")
}
