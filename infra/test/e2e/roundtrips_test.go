package e2e_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/infra/local/awsproxy"
)

// Issue 22, round trips: a token request with an API key its container has seen waits for two
// DynamoDB round trips (the key's read and the rate limit at once, then the transaction); a
// refresh makes three calls (its token, the rate limit, one transaction that also checks the
// family and that the key is still at the version of the snapshot the token carries). The
// proxies count the functions' real SDK requests; a delay on every DynamoDB request shows how
// many of them a request waits for one after the other.

// roundTripDelay is the delay added to every DynamoDB request below: far above the emulator's
// own latency and the rest of a request, and under the functions' 2 s per-attempt timeout.
const roundTripDelay = 600 * time.Millisecond

func TestAWarmTokenRequestWaitsForTwoDynamoDBRoundTrips(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	fastest := time.Hour
	for range 3 {
		ddbCalls.Clear()
		tokenFor(t, key, nil) // the (most recently used) token instance has now seen the API key
		inject(t, ddbCalls, awsproxy.Fault{Kind: awsproxy.Slow, Delay: roundTripDelay})
		before := ddbCalls.Snapshot()
		r, took := timed(t, http.MethodPost, "/v1/auth/token", "", map[string]any{"api_key": key})
		expect(t, r, http.StatusOK, "")
		remember(r.json(t)["access_token"].(string), r.json(t)["refresh_token"].(string))
		if ops, n := ddbCalls.Since(before); n != 3 || ops["GetItem"] != 1 || ops["UpdateItem"] != 1 || ops["TransactWriteItems"] != 1 {
			t.Fatalf("a warm token request made DynamoDB calls %v, want GetItem, UpdateItem, TransactWriteItems", ops)
		}
		fastest = min(fastest, took)
	}
	// Three requests one after the other take at least three delays; two at once and one after
	// them, two delays and the rest of the request.
	if fastest >= 3*roundTripDelay || fastest < 2*roundTripDelay {
		t.Fatalf("the fastest warm token request took %v with %v on every DynamoDB request: want two sequential round trips (%v to %v)",
			fastest, roundTripDelay, 2*roundTripDelay, 3*roundTripDelay)
	}
	t.Logf("fastest warm token request with %v per DynamoDB request: %v", roundTripDelay, fastest.Round(time.Millisecond))
}

func TestARefreshMakesThreeDynamoDBCalls(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	_, rt := tokenFor(t, key, nil)
	for i := range 3 {
		before, smBefore := ddbCalls.Snapshot(), smCalls.Snapshot()
		r := call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt})
		expect(t, r, http.StatusOK, "")
		m := r.json(t)
		rt = m["refresh_token"].(string)
		remember(m["access_token"].(string), rt)
		ops, n := ddbCalls.Since(before)
		if n != 3 || ops["GetItem"] != 1 || ops["UpdateItem"] != 1 || ops["TransactWriteItems"] != 1 {
			t.Fatalf("refresh %d made DynamoDB calls %v, want GetItem (the token), UpdateItem (the rate limit), TransactWriteItems", i+1, ops)
		}
		if sm, n := smCalls.Since(smBefore); i > 0 && n != 0 {
			t.Fatalf("a warm refresh made %d Secrets Manager calls: %v", n, sm)
		}
	}
}

// A refresh decides on the key as it is, not as the token's snapshot of it was: an allowlist
// narrowed after the token was issued refuses it, widened again lets it through, and a revoked
// key ends it.
func TestARefreshFollowsTheKeyAsEditedAfterItsTokenWasIssued(t *testing.T) {
	need(t)
	key, id := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "allowed_ips": []string{"127.0.0.0/8"}})
	_, rt := tokenFor(t, key, nil)
	refresh := func(want int, code string) {
		t.Helper()
		r := call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt})
		expect(t, r, want, code)
		if want == http.StatusOK {
			rt = r.json(t)["refresh_token"].(string)
			remember(r.json(t)["access_token"].(string), rt)
		}
	}
	edit := func(body map[string]any) {
		t.Helper()
		expect(t, call(t, http.MethodPatch, "/v1/keys/"+id, adminKey, body), http.StatusOK, "")
	}
	edit(map[string]any{"allowed_ips": []string{"203.0.113.0/24"}})
	refresh(http.StatusForbidden, "ip_not_allowed")
	edit(map[string]any{"allowed_ips": []string{"203.0.113.0/24", "127.0.0.1/32"}})
	refresh(http.StatusOK, "")
	edit(map[string]any{"name": "renamed"})
	refresh(http.StatusOK, "")
	expect(t, call(t, http.MethodDelete, "/v1/keys/"+id, adminKey, nil), http.StatusOK, "")
	refresh(http.StatusBadRequest, "invalid_grant")
}

// Refreshes racing edits of their key's allowlist: each request that starts and ends while the
// allowlist excludes the caller is refused, each that starts and ends while it includes the
// caller succeeds, none answers 5xx, and a chain refused meanwhile goes on once it is allowed.
func TestRefreshesFollowAnAllowlistEditedWhileTheyRun(t *testing.T) {
	need(t)
	key, id := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "rate_limit": 100_000, "allowed_ips": []string{"127.0.0.0/8"}})
	var chains []string
	for range 4 {
		_, rt := tokenFor(t, key, nil)
		chains = append(chains, rt)
	}
	var (
		mu     sync.Mutex
		epoch  int  // bumped before and after every edit
		narrow bool // the allowlist excludes the caller (valid while epoch is even)
		stop   = make(chan struct{})
		wg     sync.WaitGroup
		counts = map[string]int{}
	)
	phase := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		return epoch, narrow
	}
	for i := range chains {
		wg.Go(func() {
			rt := chains[i]
			for {
				select {
				case <-stop:
					return
				default:
				}
				startEpoch, startNarrow := phase()
				r := call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt})
				endEpoch, _ := phase()
				stable := startEpoch == endEpoch && startEpoch%2 == 0
				mu.Lock()
				counts[http.StatusText(r.Status)]++
				mu.Unlock()
				switch {
				case r.Status >= 500:
					t.Errorf("refresh answered %d: %s", r.Status, r.Body)
					return
				case r.Status == http.StatusOK && stable && startNarrow:
					t.Errorf("a refresh made while the allowlist excluded the caller succeeded")
					return
				case r.Status == http.StatusOK:
					rt = r.json(t)["refresh_token"].(string)
					remember(r.json(t)["access_token"].(string), rt)
				case r.Status == http.StatusForbidden && r.errorCode(t) == "ip_not_allowed":
					if stable && !startNarrow {
						t.Errorf("a refresh made while the allowlist included the caller was refused")
						return
					}
				default:
					t.Errorf("refresh answered %d: %s", r.Status, r.Body)
					return
				}
			}
		})
	}
	for i := range 6 {
		ips := []string{"127.0.0.0/8"}
		if i%2 == 0 {
			ips = []string{"203.0.113.0/24"}
		}
		mu.Lock()
		epoch++ // odd: an edit is under way
		mu.Unlock()
		expect(t, call(t, http.MethodPatch, "/v1/keys/"+id, adminKey, map[string]any{"allowed_ips": ips}), http.StatusOK, "")
		mu.Lock()
		epoch++
		narrow = i%2 == 0
		mu.Unlock()
		time.Sleep(150 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if counts["OK"] == 0 || counts["Forbidden"] == 0 {
		t.Fatalf("answers %v: the race had only one side", counts)
	}
	t.Logf("refresh answers while the allowlist changed 6 times: %v", counts)
}
