package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBenchstatCSVIsReadPerBenchmarkWithoutTheProcSuffix(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "benchstat.csv"))
	if err != nil {
		t.Fatal(err)
	}
	stats, err := parseBenchstatCSV(string(b))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		ns       float64
		ci       string
		allocs   float64
		hasAlloc bool
	}{
		{mBare, 29617.85, "± 2%", 10, true},
		{mFirstSeen, 35419.7, "± 1%", 67, true},
		{mRepeated, 896.65, "± 2%", 0, true},
		{mAWS, 43686.55, "± 1%", 0, false}, // the Node harness reports time only
	}
	for _, tc := range tests {
		s, ok := stats[tc.name]
		if !ok {
			t.Errorf("%s missing from %v", tc.name, stats)
			continue
		}
		if math.Abs(s.NsOp-tc.ns) > 0.01 || s.CI != tc.ci || s.AllocsOp != tc.allocs || s.HasAlloc != tc.hasAlloc {
			t.Errorf("%s = %+v, want %v ns/op %s, %v allocs (has %v)", tc.name, s, tc.ns, tc.ci, tc.allocs, tc.hasAlloc)
		}
	}
	if _, ok := stats["geomean"]; ok {
		t.Error("the geomean row was taken for a benchmark")
	}
}

func TestBenchstatCSVWithoutBenchmarksIsAnError(t *testing.T) {
	if _, err := parseBenchstatCSV("goos: linux\n"); err == nil {
		t.Error("want an error")
	}
}

// sample is a run that meets every target but the first-seen comparison with aws-jwt-verify
// and TokenFunction's cold-start init (2.5× EchoFunction's).
func sample() *Results {
	return &Results{
		Date: time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC), Machine: "Test CPU, 2 cores", Cores: 2, Go: "go1.26", Node: "node v20, aws-jwt-verify 5.2.1",
		Count: 6, Load: [2]string{"0.5", "1.5"},
		Micro: map[string]Stat{
			mBare:      {NsOp: 30000, CI: "± 1%", AllocsOp: 10, BytesOp: 1952, HasAlloc: true},
			mGolangJWT: {NsOp: 41000, CI: "± 1%", AllocsOp: 75, BytesOp: 5816, HasAlloc: true},
			mFirstSeen: {NsOp: 36000, CI: "± 2%", AllocsOp: 67, BytesOp: 4440, HasAlloc: true},
			mRepeated:  {NsOp: 900, CI: "± 3%", HasAlloc: true},
			mAWS:       {NsOp: 45000, CI: "± 1%"},
		},
		Handlers: []HandlerResult{{Route: "POST /v1/auth/token", Requests: 100, Elapsed: time.Second, P50: 9 * time.Millisecond, P99: 20 * time.Millisecond,
			DynamoDB: map[string]float64{"GetItem": 1, "UpdateItem": 1, "TransactWriteItems": 1}, Secrets: map[string]float64{}, FirstDynamoDB: 3, FirstSecrets: 4,
			Depth: 2, MaxDepth: 3, FirstDepth: 4}},
		Functions: []FunctionResult{
			{ID: "TokenFunction", Init: 25 * time.Millisecond, FirstResponse: 40 * time.Millisecond, HostBytes: 11 << 20, Arm64Bytes: 10 << 20},
			{ID: "EchoFunction", Init: 10 * time.Millisecond, FirstResponse: 12 * time.Millisecond, HostBytes: 7 << 20, Arm64Bytes: 7 << 20},
		},
		Gateway: []LoadResult{{Name: "GET /v1/customers", Conns: 4, Duration: 5 * time.Second, OK: 12500, P50: time.Millisecond, P99: 5 * time.Millisecond,
			SelfCPU: 3 * time.Second, FunctionsCPU: 4 * time.Second}},
	}
}

func TestChecksAreRatiosOfTheSameRunExceptTheSize(t *testing.T) {
	want := map[string]struct {
		measured float64
		met      bool
	}{
		"first-seen token ÷ bare RSA verify":                                   {1.2, true},
		"repeated token ÷ bare RSA verify":                                     {0.03, true},
		"aws-jwt-verify ÷ keygate, repeated token":                             {50, true},
		"aws-jwt-verify ÷ keygate, first-seen token":                           {1.25, false},
		"cold-start init, slowest function (TokenFunction) ÷ EchoFunction":     {2.5, false},
		"arm64 bootstrap, largest (TokenFunction)":                             {10, true},
		"local gateway + clients CPU ÷ functions' CPU, per authorized request": {0.75, true},
	}
	checks := sample().Checks()
	if len(checks) != len(want) {
		t.Fatalf("%d checks, want %d: %+v", len(checks), len(want), checks)
	}
	for _, c := range checks {
		w, ok := want[c.Name]
		if !ok {
			t.Errorf("unexpected check %q", c.Name)
			continue
		}
		if math.Abs(c.Measured-w.measured) > 1e-9 || c.Met() != w.met {
			t.Errorf("%s: measured %v met %v, want %v met %v", c.Name, c.Measured, c.Met(), w.measured, w.met)
		}
		if (c.Headroom() >= 1) != c.Met() {
			t.Errorf("%s: headroom %v disagrees with met %v", c.Name, c.Headroom(), c.Met())
		}
	}
}

func TestTheTableLeadsWithTheRatiosAndMarksEveryTarget(t *testing.T) {
	var b bytes.Buffer
	if err := sample().WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	if !strings.Contains(lines[0], "load average 0.5 → 1.5") {
		t.Errorf("first line %q does not say the load", lines[0])
	}
	if !strings.HasPrefix(lines[4], "| **Headline ratios**") {
		t.Errorf("the table does not open with the ratios:\n%s", out)
	}
	for _, s := range []string{
		"| 1.20× | 36.0 µs ÷ 30.0 µs | ≤ 1.25× ✅ |",
		"| 50.0× | 45.0 µs ÷ 900 ns | ≥ 1.30× ✅ |",
		"| 1.25× | 45.0 µs ÷ 36.0 µs | ≥ 1.30× ❌ |",
		"| 900 ns ± 3% | 0 allocs/op, 0 B/op; 0.0300× bare verify | ≤ 0.0500× bare verify ✅ |",
		"| 2500 req/s |",
		"CPU per request: gateway + clients 240 µs, functions 320 µs (2 idle cores would serve ≈ 3571 req/s); gateway + clients ÷ functions 0.750× | gateway ÷ functions CPU ≤ 1.00× ✅ |",
		"DynamoDB 3 round trips (GetItem 1, TransactWriteItems 1, UpdateItem 1), sequential depth 2 (3 at most); Secrets Manager no calls (first request of a container: 3 DynamoDB, 4 Secrets Manager, depth 4)",
		"| TokenFunction | init 25.0 ms | first response 40.0 ms; host 11.0 MB, arm64 10.0 MB; init 2.50× EchoFunction's | init ≤ 2.00× EchoFunction's, arm64 ≤ 12.0 MB ❌ |",
		"| EchoFunction | init 10.0 ms |",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	for _, gone := range []string{"≤ 3.00 µs", "≥ 2000 req/s", "init ≤ 30 ms"} {
		if strings.Contains(out, gone) {
			t.Errorf("the table still has the absolute target %q", gone)
		}
	}
	if strings.Count(out, "❌") != 2 { // aws-jwt-verify first-seen, TokenFunction's init
		t.Errorf("want 2 missed targets:\n%s", out)
	}
}

func TestTheChartIsWellFormedSVGWithEscapedText(t *testing.T) {
	r := sample()
	r.Machine = `CPU <fast> & "2" cores`
	var b bytes.Buffer
	if err := r.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&b)
	var texts []string
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = v.Name.Local
			}
		case xml.CharData:
			texts = append(texts, string(v))
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q", root)
	}
	all := strings.Join(texts, "\n")
	for _, s := range []string{`CPU <fast> & "2" cores`, "keygate, repeated token", "1× = target", "target ≤ 1.25×", "900 ns"} {
		if !strings.Contains(all, s) {
			t.Errorf("chart text lacks %q", s)
		}
	}
}

func TestFormatting(t *testing.T) {
	tests := []struct{ got, want string }{
		{formatNs(896.65), "897 ns"},
		{formatNs(35419.7), "35.4 µs"},
		{formatNs(2.23e6), "2.23 ms"},
		{formatUnit(1.2, "×"), "1.20×"},
		{formatUnit(52.3, "×"), "52.3×"},
		{formatMB(10 << 20), "10.0 MB"},
		{formatCalls(map[string]float64{"UpdateItem": 1, "GetItem": 2.5}), "3.5 (GetItem 2.5, UpdateItem 1)"},
		{formatCalls(nil), "0"},
		{formatRoundTrips(map[string]float64{"GetItem": 1, "TransactWriteItems": 1}), "2 round trips (GetItem 1, TransactWriteItems 1)"},
		{formatRoundTrips(map[string]float64{"Query": 1}), "1 round trip (Query 1)"},
		{formatRoundTrips(nil), "no calls"},
		{formatUSD(2250), "$2,250"},
		{formatUSD(1234567), "$1,234,567"},
		{formatUSD(7.123), "$7.12"},
		{formatUSD(0.0334), "$0.0334"},
		{formatUSD(0), "$0"},
		{depthText(2, 2), "2"},
		{depthText(2, 3), "2 (3 at most)"},
		{cell("a|b"), `a\|b`},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestReportLinesYieldEachFunctionsInitDuration(t *testing.T) {
	var sink bytes.Buffer
	p := &reportParser{w: &sink, init: map[string][]time.Duration{}}
	in := "[TokenFunction] START RequestId: a Version: $LATEST\n" +
		"[TokenFunction] REPORT RequestId: a Duration: 3.10 ms Billed Duration: 4 ms Memory Size: 256 MB Init Duration: 12.50 ms\n" +
		"[TokenFunction] REPORT RequestId: b Duration: 1.00 ms Billed Duration: 2 ms Memory Size: 256 MB\n" +
		"[EchoFunction] {\"msg\":\"REPORT Init Duration: 99 ms\"}\n" +
		"[EchoFunction] REPORT RequestId: c Duration: 1.00 ms Billed Duration: 2 ms Memory Size: 256 MB Init Duration: 7.25 ms"
	for i := 0; i < len(in); i += 7 { // lines arrive in pieces
		if _, err := p.Write([]byte(in[i:min(i+7, len(in))])); err != nil {
			t.Fatal(err)
		}
	}
	p.flush()
	if got := p.inits("TokenFunction"); len(got) != 1 || got[0] != 12500*time.Microsecond {
		t.Errorf("TokenFunction inits = %v", got)
	}
	if got := p.inits("EchoFunction"); len(got) != 1 || got[0] != 7250*time.Microsecond {
		t.Errorf("EchoFunction inits = %v (a function's own output must not count)", got)
	}
	if sink.String() != in {
		t.Error("the output was not passed through unchanged")
	}
}

func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	if got := median(ms(9, 1, 5)); got != 5*time.Millisecond {
		t.Errorf("odd: %v", got)
	}
	if got := median(ms(4, 1, 3, 2)); got != 2500*time.Microsecond {
		t.Errorf("even: %v", got)
	}
	if got := median(nil); got != 0 {
		t.Errorf("empty: %v", got)
	}
}

func TestCPUAccountingSeesThisProcessWork(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	before := cpuNow(t.TempDir())
	deadline := time.Now().Add(50 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	after := cpuNow(t.TempDir())
	if after.self <= before.self {
		t.Errorf("self CPU did not grow: %v → %v (%d)", before.self, after.self, x)
	}
	if len(after.fns) != 0 {
		t.Errorf("no process runs from an empty bin dir, got %v", after.fns)
	}
	if d, ok := procCPU(os.Getpid()); !ok || d <= 0 {
		t.Errorf("procCPU(self) = %v, %v", d, ok)
	}
}
