package e2e_test

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 8 point 5: a bounded load test through the local gateway (loopback only; it stops by
// itself after loadRequests): mixed valid and invalid credentials, zero wrong answers, zero 5xx,
// and no goroutine or memory growth in the long-lived processes (the gateway in this process,
// the function processes it started).
const loadRequests = 10_000

func TestLoadMixedCredentialsThroughTheGateway(t *testing.T) {
	need(t)
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "rate_limit": 1_000_000})
	revokedKey, revokedID := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	access, _ := tokenFor(t, key, nil)
	expect(t, call(t, http.MethodDelete, "/v1/keys/"+revokedID, adminKey, nil), http.StatusOK, "")
	forged := access[:len(access)-4] + "AAAA"
	type kind struct {
		name, method, path, cred string
		want                     int
	}
	kinds := []kind{
		{"token, allowed route", "GET", "/v1/customers/c1", access, 200},
		{"token, list route", "GET", "/v1/customers", access, 200},
		{"token, route it lacks the scope for", "GET", "/v1/billing", access, 403},
		{"API key, allowed route", "GET", "/v1/customers/c2", key, 200},
		{"forged token", "GET", "/v1/customers/c1", forged, 401},
		{"no credential", "GET", "/v1/customers/c1", "", 401},
		{"revoked key", "GET", "/v1/customers/c1", revokedKey, 401},
		{"garbage", "GET", "/v1/customers/c1", "not-a-credential", 401},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	do := func(k kind) (int, error) {
		req, err := http.NewRequest(k.method, apiURL+k.path, nil)
		if err != nil {
			return 0, err
		}
		if k.cred != "" {
			req.Header.Set("Authorization", "Bearer "+k.cred)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var buf [512]byte
		for {
			if _, err := resp.Body.Read(buf[:]); err != nil {
				break
			}
		}
		return resp.StatusCode, nil
	}
	for _, k := range kinds { // warm every path once; the revoked key must already be refused
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, err := do(k)
			if err == nil && st == k.want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d %v before the load", k.name, st, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	var wrong, fivexx, errs atomic.Int64
	var firstWrong sync.Once
	run := func(n int64) time.Duration {
		var next atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= n {
						return
					}
					k := kinds[i%int64(len(kinds))]
					st, err := do(k)
					switch {
					case err != nil:
						errs.Add(1)
					case st >= 500:
						fivexx.Add(1)
					case st != k.want:
						wrong.Add(1)
						firstWrong.Do(func() { t.Errorf("%s: %d, want %d", k.name, st, k.want) })
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	// A first round at the same concurrency lets Lambda-style scale-out happen (one function
	// process per concurrent invocation); growth is measured across the second, bounded round.
	procs, _ := children()
	for round := 0; round < 5; round++ {
		run(2_000)
		n, _ := children()
		if n == procs {
			break
		}
		procs = n
	}
	time.Sleep(200 * time.Millisecond)
	g0, heap0 := runtime.NumGoroutine(), heapInUse()
	procs0, rss0 := children()
	took := run(loadRequests)
	time.Sleep(200 * time.Millisecond)
	g1, heap1 := runtime.NumGoroutine(), heapInUse()
	procs1, rss1 := children()
	t.Logf("%d requests in %v (%.0f req/s), wrong %d, 5xx %d, errors %d; goroutines %d → %d; gateway heap %.1f → %.1f MB; %d → %d function processes, RSS %.1f → %.1f MB",
		loadRequests, took.Round(time.Millisecond), float64(loadRequests)/took.Seconds(), wrong.Load(), fivexx.Load(), errs.Load(),
		g0, g1, heap0, heap1, procs0, procs1, rss0, rss1)
	if wrong.Load() != 0 || fivexx.Load() != 0 || errs.Load() != 0 {
		t.Fatalf("wrong answers %d, 5xx %d, transport errors %d", wrong.Load(), fivexx.Load(), errs.Load())
	}
	if procs1 != procs0 {
		t.Logf("function processes went from %d to %d (scale-out); comparing per process", procs0, procs1)
	}
	perProc := func(n, p int) float64 { return float64(n) / float64(max(p, 1)) }
	if g1 > g0+10 && perProc(g1, procs1) > perProc(g0, procs0)+2 {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
	if heap1 > heap0+32 {
		t.Errorf("gateway heap grew from %.1f to %.1f MB", heap0, heap1)
	}
	if rss0 > 0 && rss1/float64(max(procs1, 1)) > rss0/float64(max(procs0, 1))*1.2+4 {
		t.Errorf("function processes grew from %.1f to %.1f MB RSS", rss0, rss1)
	}
}

// heapInUse is this process's live heap in MB after a GC.
func heapInUse() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse) / (1 << 20)
}

// children counts this process's child processes (the function bootstraps) and sums their
// resident memory in MB; 0, 0 where /proc is not available.
func children() (int, float64) {
	var total float64
	count := 0
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", os.Getpid()))
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", os.Getpid(), task.Name()))
		if err != nil {
			continue
		}
		for _, pid := range strings.Fields(string(b)) {
			count++
			status, err := os.ReadFile("/proc/" + pid + "/status")
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(status), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
					kb, _ := strconv.ParseFloat(f[1], 64)
					total += kb / 1024
				}
			}
		}
	}
	return count, total
}
