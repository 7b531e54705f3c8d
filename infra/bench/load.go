package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keygate/keygate/infra/local"
)

// gatewayLoad measures authorized requests per second through the local API Gateway: conns
// keep-alive clients call the protected route with a valid access token for c.loadDuration,
// after a warm-up that starts the function instances the concurrency needs. Everything (the
// clients, the gateway, the Runtime API servers and the bootstraps) shares the machine's cores.
//
// Two runs: the template's defaults (API Gateway caches the authorizer's answer for 30 s, so
// a request costs the gateway and one EchoFunction invocation) and the authorizer cache off
// (every request also invokes the warm AuthorizerFunction, which answers a repeated token from
// its own memory).
func gatewayLoad(ctx context.Context, c *config, b *benchStack) ([]LoadResult, error) {
	on, err := loadRun(ctx, c, "GET "+protectedPath+", valid token, authorizer cache on (template default, 30 s)", b.server.URL, b.access, c.loadProfile)
	if err != nil {
		return nil, err
	}
	out := []LoadResult{on}

	st, err := local.Start(ctx, c.stackOptions(benchParams(map[string]string{"AuthorizerCacheTTL": "0"}), true, c.functionLogs))
	if err != nil {
		return out, err
	}
	defer st.Close()
	srv := httptest.NewServer(st.Gateway)
	defer srv.Close()
	off, err := loadRun(ctx, c, "GET "+protectedPath+", valid token, authorizer cache off (authorizer invoked per request)", srv.URL, b.access, "")
	if err != nil {
		return out, err
	}
	return append(out, off), nil
}

func loadRun(ctx context.Context, c *config, name, base, token, profile string) (LoadResult, error) {
	tr := &http.Transport{MaxIdleConns: c.conns, MaxIdleConnsPerHost: c.conns, MaxConnsPerHost: c.conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+protectedPath, nil)
	if err != nil {
		return LoadResult{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	// One request first: it fails fast (and clearly) if the route is not authorized.
	if status, err := do(client, req); err != nil || status != http.StatusOK {
		return LoadResult{}, fmt.Errorf("%s: status %d, %v", name, status, err)
	}
	c.logf("load: %s: %d connections, warm-up %s, run %s", name, c.conns, c.loadWarmup, c.loadDuration)
	hammer(client, req, c.conns, c.loadWarmup)
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return LoadResult{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return LoadResult{}, err
		}
	}
	before := cpuNow(c.bin)
	res := hammer(client, req, c.conns, c.loadDuration)
	after := cpuNow(c.bin)
	if profile != "" {
		pprof.StopCPUProfile()
	}
	res.SelfCPU, res.FunctionsCPU = after.self-before.self, after.functions(before)
	res.Name = name
	if res.OK == 0 {
		return res, fmt.Errorf("%s: no successful request (%d errors)", name, res.Errors)
	}
	return res, nil
}

// hammer sends req from conns goroutines until d has passed.
func hammer(client *http.Client, req *http.Request, conns int, d time.Duration) LoadResult {
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := make([]time.Duration, 0, 4096)
			bad := 0
			for time.Now().Before(deadline) {
				t := time.Now()
				status, err := do(client, req)
				if err != nil || status != http.StatusOK {
					bad++
					continue
				}
				own = append(own, time.Since(t))
			}
			mu.Lock()
			latencies = append(latencies, own...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	return LoadResult{Conns: conns, Duration: elapsed, OK: len(latencies), Errors: errs,
		P50: percentile(latencies, 0.50), P99: percentile(latencies, 0.99)}
}

func do(client *http.Client, req *http.Request) (int, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

// cpuSample is the CPU time used so far by this process (the gateway, the Runtime API servers
// and the load clients) and by each live function process (by pid).
type cpuSample struct {
	self time.Duration
	fns  map[int]time.Duration
}

// functions is the CPU the function processes used since before (a process that started in
// between counts from zero; one that exited is lost, which a bounded run hardly sees).
func (s cpuSample) functions(before cpuSample) time.Duration {
	var d time.Duration
	for pid, t := range s.fns {
		d += t - before.fns[pid]
	}
	return d
}

// cpuNow samples CPU times: getrusage for this process, /proc/<pid>/stat for every process
// whose executable lies under binDir (Linux; elsewhere the function share stays 0).
func cpuNow(binDir string) cpuSample {
	s := cpuSample{fns: map[int]time.Duration{}}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	dir, err := filepath.Abs(binDir)
	if err != nil {
		return s
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || !strings.HasPrefix(exe, dir+string(filepath.Separator)) {
			continue
		}
		if t, ok := procCPU(pid); ok {
			s.fns[pid] = t
		}
	}
	return s
}

// procCPU reads utime+stime of a process from /proc/<pid>/stat (fields 14 and 15, after the
// parenthesised command name, which may itself contain spaces).
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, true
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux this runs on.
const clockTicks = 100
