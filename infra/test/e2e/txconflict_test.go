package e2e_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/keygate/keygate/infra/local/awsproxy"
)

// Issue 15: real DynamoDB cancels a TransactWriteItems whose items another transaction holds
// (TransactionCanceledException, reason TransactionConflict); the emulator never does, so the
// proxy in front of it answers that way instead. A conflict is retried: one conflict is
// invisible to the caller; one that outlasts the retries is a 503 with Retry-After, never a
// lost race (400 invalid_grant, 409) or an authentication failure (401).

// conflictOnce makes the next TransactWriteItems the functions send conflict, then pass.
func conflictOnce(t *testing.T) {
	t.Helper()
	inject(t, ddbCalls, awsproxy.Fault{Kind: awsproxy.TransactionConflict, Op: "TransactWriteItems", Times: 1})
}

// expectConflictHit fails unless the injected conflict answered exactly n transactions
// (0: at least two, i.e. the function retried).
func expectConflictHit(t *testing.T, n int) {
	t.Helper()
	if got := ddbCalls.Injected(); n > 0 && got != n || n == 0 && got < 2 {
		t.Fatalf("the conflict answered %d transactions, want %d (0: at least 2)", got, n)
	}
}

func TestATokenRequestAndARefreshSurviveOneTransactionConflict(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})

	conflictOnce(t)
	r := call(t, http.MethodPost, "/v1/auth/token", "", map[string]any{"api_key": key})
	expect(t, r, http.StatusOK, "")
	expectConflictHit(t, 1)
	rt := r.json(t)["refresh_token"].(string)
	remember(r.json(t)["access_token"].(string), rt)

	conflictOnce(t)
	r = call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt})
	expect(t, r, http.StatusOK, "")
	expectConflictHit(t, 1)
	succ := r.json(t)["refresh_token"].(string)
	remember(r.json(t)["access_token"].(string), succ)
	// The retried rotation was applied once: the successor works.
	ddbCalls.Clear()
	expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": succ}), http.StatusOK, "")
}

func TestARefreshThatKeepsConflictingIs503AndTheTokenSurvives(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	_, rt := tokenFor(t, key, nil)

	inject(t, ddbCalls, awsproxy.Fault{Kind: awsproxy.TransactionConflict, Op: "TransactWriteItems"})
	r, took := timed(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt})
	expectUnavailable(t, "refresh under a persistent transaction conflict", r, took)
	expectConflictHit(t, 0)

	// Nothing was written and nothing was mistaken for reuse: once the conflict clears, the
	// same refresh token works.
	ddbCalls.Clear()
	r = call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt})
	expect(t, r, http.StatusOK, "")
	remember(r.json(t)["access_token"].(string), r.json(t)["refresh_token"].(string))
}

// On DynamoDB the losers of a refresh race often see TransactionConflict (the winner's
// transaction still holds the token) before they see its failed condition. After retrying they
// take the loser's path like any other loser: the grace successor (or invalid_grant), never a 503. Three injected
// conflicts can hit one request at most three times, so each still gets its fourth try.
func TestConcurrentRefreshesThatConflictStillYieldOneSuccessor(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	_, rt := tokenFor(t, key, nil)
	inject(t, ddbCalls, awsproxy.Fault{Kind: awsproxy.TransactionConflict, Op: "TransactWriteItems", Times: 3})
	results := make([]response, 8)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			results[i] = call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt})
		})
	}
	wg.Wait()
	expectConflictHit(t, 3)
	successors := map[string]bool{}
	for _, r := range results {
		if r.Status == http.StatusBadRequest && r.errorCode(t) == "invalid_grant" {
			continue // a loser that came after the 2 s grace window, as in the race without conflicts
		}
		expect(t, r, http.StatusOK, "")
		successors[r.json(t)["refresh_token"].(string)] = true
		remember(r.json(t)["access_token"].(string))
	}
	if len(successors) != 1 {
		t.Fatalf("%d distinct successors, want 1", len(successors))
	}
}

func TestAKeyRotationSurvivesOneTransactionConflict(t *testing.T) {
	need(t)
	oldKey, id := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	gen := call(t, http.MethodGet, "/v1/keys/"+id, adminKey, nil).json(t)["key_gen"].(float64)

	conflictOnce(t)
	r := call(t, http.MethodPost, "/v1/keys/"+id+"/rotate", adminKey, map[string]any{"grace_period_seconds": 0})
	expect(t, r, http.StatusOK, "")
	expectConflictHit(t, 1)
	newKey := r.json(t)["key"].(string)
	remember(newKey)

	ddbCalls.Clear()
	if got := call(t, http.MethodGet, "/v1/keys/"+id, adminKey, nil).json(t)["key_gen"].(float64); got != gen+1 {
		t.Fatalf("key_gen %v after one rotation from %v", got, gen)
	}
	tokenFor(t, newKey, nil)
	expect(t, call(t, http.MethodPost, "/v1/auth/token", oldKey, nil), http.StatusUnauthorized, "invalid_api_key")
}
