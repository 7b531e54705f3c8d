package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// Results is everything one `make bench` run measured (also written as results.json).
type Results struct {
	Date    time.Time `json:"date"`
	Machine string    `json:"machine"` // CPU model and core count
	Cores   int       `json:"cores"`
	Go      string    `json:"go"`
	Node    string    `json:"node"`
	Count   int       `json:"count"` // runs per Go benchmark (and Node rounds)
	// Load is the 1-minute load average at the start and at the end of the run: other work
	// on the machine shows up in every number here (the CIs say how much).
	Load [2]string `json:"loadavg"`

	// Micro holds benchstat's summary per benchmark, by short name (see microNames).
	Micro map[string]Stat `json:"micro"`
	// Handlers are the token endpoints against the DynamoDB emulator (moto).
	Handlers []HandlerResult `json:"handlers"`
	// Functions are the cold starts and binary sizes, in template order.
	Functions []FunctionResult `json:"functions"`
	// Gateway are the end-to-end load runs through the local API Gateway.
	Gateway []LoadResult `json:"gateway"`
	// Skipped names parts that did not run, with the reason.
	Skipped []string `json:"skipped,omitempty"`
}

// Stat is benchstat's center (median) and 95% confidence interval for one benchmark.
type Stat struct {
	NsOp     float64 `json:"ns_op"`
	CI       string  `json:"ci"` // e.g. "± 2%", as benchstat prints it
	AllocsOp float64 `json:"allocs_op"`
	BytesOp  float64 `json:"bytes_op"`
	HasAlloc bool    `json:"has_alloc"` // false for the Node harness
}

// HandlerResult is one endpoint's function driven sequentially, as one Lambda container is.
type HandlerResult struct {
	Route    string        `json:"route"`
	Requests int           `json:"requests"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	P50, P99 time.Duration
	// Calls per request on a warm container, by service and operation.
	DynamoDB map[string]float64 `json:"dynamodb_per_request"`
	Secrets  map[string]float64 `json:"secretsmanager_per_request"`
	// The first request of a fresh container (it also fetches the pepper and signing keys).
	FirstDynamoDB, FirstSecrets int
}

// PerSecond is the handler's sequential throughput.
func (h HandlerResult) PerSecond() float64 {
	if h.Elapsed <= 0 {
		return 0
	}
	return float64(h.Requests) / h.Elapsed.Seconds()
}

// FunctionResult is one function's cold start (medians over the repetitions) and sizes.
type FunctionResult struct {
	ID string `json:"id"`
	// Init is Lambda's Init Duration: process start to the runtime's first request for work.
	Init time.Duration `json:"init_ns"`
	// FirstResponse is process start to the first invocation's response (init included).
	FirstResponse time.Duration `json:"first_response_ns"`
	HostBytes     int64         `json:"host_bytes"`
	Arm64Bytes    int64         `json:"arm64_bytes"` // 0 when not built
}

// LoadResult is one bounded load run through the local gateway.
type LoadResult struct {
	Name     string        `json:"name"`
	Conns    int           `json:"conns"`
	Duration time.Duration `json:"duration_ns"`
	OK       int           `json:"ok"`
	Errors   int           `json:"errors"`
	P50, P99 time.Duration
	// CPU used during the run by this process (gateway, Runtime API servers, load clients)
	// and by the function processes.
	SelfCPU      time.Duration `json:"self_cpu_ns"`
	FunctionsCPU time.Duration `json:"functions_cpu_ns"`
}

// Capacity is the rate cores would sustain if the CPU one request costs were the only limit:
// an estimate that other work on the machine does not disturb, unlike RPS.
func (l LoadResult) Capacity(cores int) float64 {
	self, fns := l.CPUPerRequest()
	if self+fns <= 0 {
		return 0
	}
	return float64(cores) * float64(time.Second) / float64(self+fns)
}

// CPUPerRequest is the CPU time one successful request cost, gateway side and function side.
func (l LoadResult) CPUPerRequest() (self, functions time.Duration) {
	if l.OK == 0 {
		return 0, 0
	}
	return l.SelfCPU / time.Duration(l.OK), l.FunctionsCPU / time.Duration(l.OK)
}

// RPS is successful requests per second.
func (l LoadResult) RPS() float64 {
	if l.Duration <= 0 {
		return 0
	}
	return float64(l.OK) / l.Duration.Seconds()
}

// Targets: the warm authorizer must cost close to the signature check itself, and beat what
// users would otherwise run (golang-jwt, aws-jwt-verify) by a margin worth switching for.
const (
	targetFirstSeenRatio       = 1.25                  // first-seen token ≤ 1.25× bare RSA verify
	targetRepeated             = 3 * time.Microsecond  // repeated token ≤ 3 µs
	targetVsAWS                = 1.3                   // keygate ≥ 1.3× faster than aws-jwt-verify
	targetInit                 = 30 * time.Millisecond // cold-start init ≤ 30 ms
	targetBinary         int64 = 12 << 20              // bootstrap ≤ 12 MB (arm64)
	targetRPS                  = 2000                  // authorized req/s through the local gateway
)

// Short names of the micro benchmarks, mapped from benchstat's names (the -N suffix removed).
const (
	mBare      = "Authorizer/rsa-verify-bare"
	mGolangJWT = "Authorizer/golang-jwt-parse"
	mFirstSeen = "Authorizer/handler-first-seen"
	mRepeated  = "Authorizer/handler-repeated"
	mKeyHit    = "Authorizer/handler-api-key-cache-hit"
	mKeyMiss   = "Authorizer/handler-api-key-cache-miss"
	mInvalid   = "Authorizer/handler-invalid-token"
	mAWS       = "AwsJwtVerify/verify-sync"
	mTokenWarm = "TokenWarm/RS256"
)

// microRows are the micro benchmarks in table order, with their labels in the table and in
// the chart.
var microRows = []struct{ name, label, short string }{
	{mBare, "bare RSA-2048 verify (crypto/rsa, SHA-256 included)", "bare RSA-2048 verify"},
	{mGolangJWT, "golang-jwt parse + verify", "golang-jwt parse + verify"},
	{mFirstSeen, "keygate authorizer handler, first-seen RS256 token", "keygate, first-seen token"},
	{mRepeated, "keygate authorizer handler, repeated token", "keygate, repeated token"},
	{mKeyHit, "keygate authorizer handler, API key, lookup cached", "keygate, API key (cached lookup)"},
	{mKeyMiss, "keygate authorizer handler, API key, lookup missed (in-memory store)", "keygate, API key (lookup missed)"},
	{mInvalid, "keygate authorizer handler, invalid token (forged signature)", "keygate, forged token"},
	{mAWS, "aws-jwt-verify verifySync, same token (Node, in process)", "aws-jwt-verify, same token"},
	{mTokenWarm, "token endpoint handler, RS256, in-memory store", "token endpoint (in-memory store)"},
}

// Row is one line of the table.
type Row struct {
	Section string // a new section starts where it changes
	Measure string
	Result  string
	Detail  string
	Target  string // "" when the row has none
	Met     *bool  // nil when the row has no target
}

// Check is one of the targets with its measured value, for the table and the chart.
type Check struct {
	Name     string
	Short    string  // for the chart
	Measured float64 // in the target's unit
	Target   float64
	AtMost   bool   // true: measured ≤ target; false: measured ≥ target
	Unit     string // "×", "µs", "ms", "MB", "req/s"
}

// Met says whether the target is reached.
func (c Check) Met() bool {
	if c.AtMost {
		return c.Measured <= c.Target
	}
	return c.Measured >= c.Target
}

// Headroom is how many times the target is beaten (≥ 1 when met), whatever its direction.
func (c Check) Headroom() float64 {
	if c.Measured <= 0 || c.Target <= 0 {
		return 0
	}
	if c.AtMost {
		return c.Target / c.Measured
	}
	return c.Measured / c.Target
}

func (c Check) targetText() string {
	op := "≥"
	if c.AtMost {
		op = "≤"
	}
	return op + " " + formatUnit(c.Target, c.Unit)
}

// ratio returns a ÷ b of two micro benchmarks (0 when one is missing).
func (r *Results) ratio(a, b string) float64 {
	x, okA := r.Micro[a]
	y, okB := r.Micro[b]
	if !okA || !okB || y.NsOp == 0 {
		return 0
	}
	return x.NsOp / y.NsOp
}

// Checks evaluates every target that was measured.
func (r *Results) Checks() []Check {
	var out []Check
	if v := r.ratio(mFirstSeen, mBare); v > 0 {
		out = append(out, Check{"first-seen token ÷ bare RSA verify", "first-seen ÷ bare verify", v, targetFirstSeenRatio, true, "×"})
	}
	if s, ok := r.Micro[mRepeated]; ok {
		out = append(out, Check{"repeated token", "repeated token", s.NsOp / 1e3, float64(targetRepeated) / 1e3, true, "µs"})
	}
	if v := r.ratio(mAWS, mRepeated); v > 0 {
		out = append(out, Check{"aws-jwt-verify ÷ keygate, repeated token", "aws-jwt-verify ÷ keygate (repeated)", v, targetVsAWS, false, "×"})
	}
	if v := r.ratio(mAWS, mFirstSeen); v > 0 {
		out = append(out, Check{"aws-jwt-verify ÷ keygate, first-seen token", "aws-jwt-verify ÷ keygate (first-seen)", v, targetVsAWS, false, "×"})
	}
	if f, ok := r.slowestInit(); ok {
		out = append(out, Check{"cold-start init, slowest function (" + f.ID + ")", "cold-start init, slowest", ms(f.Init), ms(targetInit), true, "ms"})
	}
	if f, ok := r.largestBinary(); ok {
		out = append(out, Check{"arm64 bootstrap, largest (" + f.ID + ")", "arm64 bootstrap, largest", mb(f.Arm64Bytes), mb(targetBinary), true, "MB"})
	}
	if len(r.Gateway) > 0 {
		out = append(out, Check{"authorized req/s through the local gateway", "req/s through the local gateway", r.Gateway[0].RPS(), targetRPS, false, "req/s"})
	}
	return out
}

func (r *Results) slowestInit() (FunctionResult, bool) {
	var best FunctionResult
	for _, f := range r.Functions {
		if f.Init > best.Init {
			best = f
		}
	}
	return best, best.Init > 0
}

func (r *Results) largestBinary() (FunctionResult, bool) {
	var best FunctionResult
	for _, f := range r.Functions {
		if f.Arm64Bytes > best.Arm64Bytes {
			best = f
		}
	}
	return best, best.Arm64Bytes > 0
}

// Rows builds the table: headline ratios first, then the measurements behind them.
func (r *Results) Rows() []Row {
	var rows []Row
	met := func(b bool) *bool { return &b }
	checkRow := func(section string, c Check, detail string) Row {
		return Row{section, c.Name, formatUnit(c.Measured, c.Unit), detail, c.targetText(), met(c.Met())}
	}
	checks := map[string]Check{}
	for _, c := range r.Checks() {
		checks[c.Name] = c
	}
	pair := func(a, b string) string {
		return fmt.Sprintf("%s ÷ %s", formatNs(r.Micro[a].NsOp), formatNs(r.Micro[b].NsOp))
	}

	const head = "Headline ratios"
	if c, ok := checks["first-seen token ÷ bare RSA verify"]; ok {
		c.Name = "keygate authorizer (first-seen RS256 token) ÷ bare RSA-2048 verify"
		rows = append(rows, checkRow(head, c, pair(mFirstSeen, mBare)))
	}
	if c, ok := checks["aws-jwt-verify ÷ keygate, repeated token"]; ok {
		c.Name = "aws-jwt-verify ÷ keygate authorizer, repeated token (a warm authorizer's usual case)"
		rows = append(rows, checkRow(head, c, pair(mAWS, mRepeated)))
	}
	if c, ok := checks["aws-jwt-verify ÷ keygate, first-seen token"]; ok {
		c.Name = "aws-jwt-verify ÷ keygate authorizer, first-seen token (both check the signature)"
		rows = append(rows, checkRow(head, c, pair(mAWS, mFirstSeen)))
	}
	if v := r.ratio(mGolangJWT, mFirstSeen); v > 0 {
		rows = append(rows, Row{head, "golang-jwt parse + verify ÷ keygate authorizer (first-seen)", formatUnit(v, "×"), pair(mGolangJWT, mFirstSeen), "", nil})
	}

	micro := fmt.Sprintf("In process, %d runs each (benchstat: median ± 95%% CI)", r.Count)
	for _, m := range microRows {
		s, ok := r.Micro[m.name]
		if !ok {
			continue
		}
		detail := "—"
		if s.HasAlloc {
			detail = fmt.Sprintf("%s allocs/op, %s B/op", trimFloat(s.AllocsOp), trimFloat(s.BytesOp))
		}
		row := Row{Section: micro, Measure: m.label, Result: formatNs(s.NsOp) + " " + s.CI, Detail: detail}
		if v := r.ratio(m.name, mBare); v > 0 && m.name != mTokenWarm {
			row.Detail += fmt.Sprintf("; %s bare verify", formatUnit(v, "×"))
		}
		if m.name == mRepeated {
			c := checks["repeated token"]
			row.Target, row.Met = c.targetText(), met(c.Met())
		}
		rows = append(rows, row)
	}

	const ep = "Token endpoints vs moto DynamoDB (the function's bootstrap under lambdarun, one request at a time like one container)"
	for _, h := range r.Handlers {
		rows = append(rows, Row{Section: ep, Measure: h.Route,
			Result: fmt.Sprintf("%.0f req/s", h.PerSecond()),
			Detail: fmt.Sprintf("p50 %s, p99 %s; per request: DynamoDB %s, Secrets Manager %s (first request of a container: %d DynamoDB, %d Secrets Manager)",
				formatDur(h.P50), formatDur(h.P99), formatCalls(h.DynamoDB), formatCalls(h.Secrets), h.FirstDynamoDB, h.FirstSecrets)})
	}

	const cs = "Cold start (bootstrap under lambdarun, emulators on loopback, median) and size"
	for _, f := range r.Functions {
		row := Row{Section: cs, Measure: f.ID,
			Result: fmt.Sprintf("init %s", formatDur(f.Init)),
			Detail: fmt.Sprintf("first response %s; host %s", formatDur(f.FirstResponse), formatMB(f.HostBytes))}
		if f.Arm64Bytes > 0 {
			row.Detail += ", arm64 " + formatMB(f.Arm64Bytes)
		}
		ok := f.Init > 0 && f.Init <= targetInit && (f.Arm64Bytes == 0 || f.Arm64Bytes <= targetBinary)
		if f.Init > 0 {
			row.Target, row.Met = "init ≤ 30 ms, arm64 ≤ 12 MB", met(ok)
		}
		rows = append(rows, row)
	}

	const gw = "Local API Gateway end to end (loopback, 2 cores, bounded run)"
	for i, l := range r.Gateway {
		self, fns := l.CPUPerRequest()
		row := Row{Section: gw, Measure: l.Name,
			Result: fmt.Sprintf("%.0f req/s", l.RPS()),
			Detail: fmt.Sprintf("%d connections, %s, p50 %s, p99 %s, %d errors; CPU per request: gateway + clients %s, functions %s (%d idle cores would serve ≈ %.0f req/s)",
				l.Conns, formatDur(l.Duration), formatDur(l.P50), formatDur(l.P99), l.Errors, formatDur(self), formatDur(fns), r.Cores, l.Capacity(r.Cores))}
		if i == 0 {
			c := checks["authorized req/s through the local gateway"]
			row.Target, row.Met = c.targetText(), met(c.Met())
		}
		rows = append(rows, row)
	}
	return rows
}

// WriteMarkdown writes the one table, preceded by a line saying where and when.
func (r *Results) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "keygate benchmarks, %s, %s, %s, %s, load average %s → %s\n\n",
		r.Date.UTC().Format("2006-01-02 15:04 MST"), r.Machine, r.Go, r.Node, r.Load[0], r.Load[1])
	b.WriteString("| | measure | result | detail | target |\n|---|---|---|---|---|\n")
	section := ""
	for _, row := range r.Rows() {
		if row.Section != section {
			section = row.Section
			fmt.Fprintf(&b, "| **%s** | | | | |\n", cell(section))
		}
		target := row.Target
		if row.Met != nil {
			if *row.Met {
				target += " ✅"
			} else {
				target += " ❌"
			}
		}
		fmt.Fprintf(&b, "| | %s | %s | %s | %s |\n", cell(row.Measure), cell(row.Result), cell(row.Detail), cell(target))
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "\nnot measured: %s", s)
	}
	if len(r.Skipped) > 0 {
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cell keeps a value from breaking the Markdown table.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mb(n int64) float64         { return float64(n) / (1 << 20) }

// formatNs prints a duration in ns with three significant digits in a fitting unit.
func formatNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return sig3(ns/1e6) + " ms"
	case ns >= 1e3:
		return sig3(ns/1e3) + " µs"
	}
	return sig3(ns) + " ns"
}

func formatDur(d time.Duration) string { return formatNs(float64(d)) }

func formatMB(n int64) string { return sig3(mb(n)) + " MB" }

func formatUnit(v float64, unit string) string {
	switch unit {
	case "×":
		return sig3(v) + "×"
	case "req/s":
		return fmt.Sprintf("%.0f req/s", v)
	}
	return sig3(v) + " " + unit
}

// sig3 prints v with three significant digits (no exponent).
func sig3(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return trimFloat(v)
	}
	digits := 2 - int(math.Floor(math.Log10(math.Abs(v))))
	if digits < 0 {
		digits = 0
	}
	return fmt.Sprintf("%.*f", digits, v)
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" || s == "-" {
		return "0"
	}
	return s
}

// formatCalls prints "3.00 (GetItem 1.00, …)" sorted by operation.
func formatCalls(m map[string]float64) string {
	total := 0.0
	ops := make([]string, 0, len(m))
	for op, n := range m {
		total += n
		ops = append(ops, op)
	}
	if total == 0 {
		return "0"
	}
	sort.Strings(ops)
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = fmt.Sprintf("%s %s", op, trimFloat(m[op]))
	}
	return fmt.Sprintf("%s (%s)", trimFloat(total), strings.Join(parts, ", "))
}
