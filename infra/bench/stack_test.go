package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestTheStackPartsMeasureTheRealStack runs every part that needs the emulators, briefly: the
// gateway load runs, the token endpoint handlers with their call counts and one cold start of
// each function. It needs what `make test` provides (emulators and host bootstraps).
func TestTheStackPartsMeasureTheRealStack(t *testing.T) {
	ddb, sm, bin := os.Getenv("KEYGATE_DYNAMODB_ENDPOINT"), os.Getenv("KEYGATE_SECRETS_ENDPOINT"), os.Getenv("KEYGATE_LOCAL_BIN")
	if ddb == "" || sm == "" || bin == "" {
		if os.Getenv("KEYGATE_REQUIRE_EMULATORS") == "1" {
			t.Fatal("needs KEYGATE_DYNAMODB_ENDPOINT, KEYGATE_SECRETS_ENDPOINT and KEYGATE_LOCAL_BIN (run make test)")
		}
		t.Skip("needs the emulators and the host bootstraps (run make test)")
	}
	before := os.Environ()
	defer func() {
		if after := os.Environ(); !slices.Equal(sorted(before), sorted(after)) {
			t.Errorf("the environment of the bench process changed")
		}
	}()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	logs, err := os.Create(filepath.Join(t.TempDir(), "functions.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	c := &config{root: root, bin: bin, ddb: ddb, sm: sm, goCmd: "go", count: 1, handlerDuration: 300 * time.Millisecond,
		coldStarts: 1, conns: 2, loadWarmup: 200 * time.Millisecond, loadDuration: 500 * time.Millisecond,
		profileRequests: 5, profileRotations: 1,
		functionLogs: logs, start: time.Now(), progress: io.Discard}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	b, err := startBenchStack(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	load, err := gatewayLoad(ctx, c, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(load) != 2 {
		t.Fatalf("%d load runs, want cache on and off", len(load))
	}
	for _, l := range load {
		if l.OK == 0 || l.Errors != 0 || l.P50 <= 0 || l.P99 < l.P50 {
			t.Errorf("%s: %+v", l.Name, l)
		}
		if self, fns := l.CPUPerRequest(); self <= 0 || fns < 0 {
			t.Errorf("%s: CPU per request %v + %v", l.Name, self, fns)
		}
	}

	handlers, err := handlerThroughput(ctx, c, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(handlers) != 2 {
		t.Fatalf("%d handler results, want token and refresh", len(handlers))
	}
	for _, h := range handlers {
		if h.Requests == 0 || h.PerSecond() <= 0 {
			t.Errorf("%s: %+v", h.Route, h)
		}
		// Every token request reads the key and writes at least once; a warm container never
		// goes back to Secrets Manager, a fresh one must (pepper, signing keys).
		if h.DynamoDB["GetItem"] < 1 || h.DynamoDB["TransactWriteItems"] < 1 {
			t.Errorf("%s: DynamoDB calls per request %v", h.Route, h.DynamoDB)
		}
		if len(h.Secrets) != 0 || h.FirstSecrets == 0 {
			t.Errorf("%s: Secrets Manager calls warm %v, first request %d", h.Route, h.Secrets, h.FirstSecrets)
		}
		if h.Depth < 1 || h.MaxDepth < h.Depth || h.FirstDepth < h.Depth {
			t.Errorf("%s: sequential depth %d (at most %d), first request %d", h.Route, h.Depth, h.MaxDepth, h.FirstDepth)
		}
	}

	fns, err := coldStarts(ctx, c, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != len(b.stack.Functions()) {
		t.Fatalf("%d cold starts for %d functions", len(fns), len(b.stack.Functions()))
	}
	for _, f := range fns {
		if f.Init <= 0 || f.FirstResponse < f.Init || f.HostBytes == 0 {
			t.Errorf("%s: %+v", f.ID, f)
		}
	}

	// Last: the rotation function's profile rotates the signing key.
	profiles, err := profileFunctions(ctx, c, b)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range profiles {
		seen[p.Function] = true
		if len(p.Warm) == 0 || p.PeakRSS <= 0 || p.MemoryMB <= 0 {
			t.Errorf("%s: %d requests, peak RSS %d, template %d MB", p.Name(), len(p.Warm), p.PeakRSS, p.MemoryMB)
		}
		for _, s := range p.Warm {
			if s.CPU <= 0 || s.Wall <= 0 {
				t.Errorf("%s: a request with CPU %v, wall %v", p.Name(), s.CPU, s.Wall)
			}
		}
		m := p.means()
		switch p.Function {
		case "TokenFunction", "RefreshFunction":
			// Each reads the key or the token and writes in a transaction: the units follow.
			if m.depth < 1 || m.rru <= 0 || m.wru < 2 || m.secrets != 0 {
				t.Errorf("%s: %s", p.Name(), p.callSummary())
			}
			if p.Cold == nil || p.Cold.CPU <= 0 || depth(p.Cold.Calls) <= m.depth {
				t.Errorf("%s: the first request of the container %+v", p.Name(), p.Cold)
			}
		case "RotateFunction":
			if m.secrets < 1 {
				t.Errorf("%s: %s", p.Name(), p.callSummary())
			}
		}
	}
	if len(seen) != len(b.stack.Functions()) {
		t.Errorf("profiled %v, want every function of %v", seen, b.stack.Functions())
	}
	r := &Results{Profiles: profiles}
	if len(recommend(profiles)) != len(budgets) || len(r.Costs()) != 2+len(cacheHitRatios) {
		t.Errorf("recommendations %+v, costs %+v", recommend(profiles), r.Costs())
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
