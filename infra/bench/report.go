package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
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
	// Profiles are every function's requests one at a time with their CPU and observed AWS
	// calls: the input of the memory and cost model (model.go).
	Profiles []Profile `json:"profiles,omitempty"`
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
	// Depth is the number of calls on a warm request's critical path (calls that overlap count
	// once): the median over the requests, and the most.
	Depth    int `json:"depth"`
	MaxDepth int `json:"max_depth"`
	// The first request of a fresh container (it also fetches the pepper and signing keys).
	FirstDynamoDB, FirstSecrets, FirstDepth int
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
// Every time target is a ratio of two measurements of the same run: machines here differ 2–3×
// in speed from run to run, and a ratio carries across them where an absolute time does not.
// Sizes are bytes, the same on any machine.
const (
	targetFirstSeenRatio       = 1.25     // first-seen token ≤ 1.25× bare RSA verify
	targetRepeatedRatio        = 0.05     // repeated token ≤ 0.05× bare RSA verify
	targetVsAWS                = 1.3      // keygate ≥ 1.3× faster than aws-jwt-verify
	targetInitRatio            = 2.0      // slowest cold-start init ≤ 2× EchoFunction's
	targetBinary         int64 = 12 << 20 // bootstrap ≤ 12 MB (arm64)
	targetGatewayRatio         = 1.0      // local gateway + clients CPU ≤ the functions' CPU, per request
)

// initBaseline is the function whose init the others are measured against: the sample
// backend, built on the same scaffolding (config, logger, the runtime client) but reading
// nothing at start.
const initBaseline = "EchoFunction"

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

// Check names (the table looks them up).
const (
	chkFirstSeen = "first-seen token ÷ bare RSA verify"
	chkRepeated  = "repeated token ÷ bare RSA verify"
	chkAWSRep    = "aws-jwt-verify ÷ keygate, repeated token"
	chkAWSFirst  = "aws-jwt-verify ÷ keygate, first-seen token"
	chkGateway   = "local gateway + clients CPU ÷ functions' CPU, per authorized request"
)

// Checks evaluates every target that was measured.
func (r *Results) Checks() []Check {
	var out []Check
	if v := r.ratio(mFirstSeen, mBare); v > 0 {
		out = append(out, Check{chkFirstSeen, "first-seen ÷ bare verify", v, targetFirstSeenRatio, true, "×"})
	}
	if v := r.ratio(mRepeated, mBare); v > 0 {
		out = append(out, Check{chkRepeated, "repeated ÷ bare verify", v, targetRepeatedRatio, true, "×"})
	}
	if v := r.ratio(mAWS, mRepeated); v > 0 {
		out = append(out, Check{chkAWSRep, "aws-jwt-verify ÷ keygate (repeated)", v, targetVsAWS, false, "×"})
	}
	if v := r.ratio(mAWS, mFirstSeen); v > 0 {
		out = append(out, Check{chkAWSFirst, "aws-jwt-verify ÷ keygate (first-seen)", v, targetVsAWS, false, "×"})
	}
	if f, ok := r.slowestInit(); ok {
		if base, ok := r.function(initBaseline); ok && base.Init > 0 {
			out = append(out, Check{"cold-start init, slowest function (" + f.ID + ") ÷ " + initBaseline, "cold-start init, slowest ÷ " + initBaseline,
				float64(f.Init) / float64(base.Init), targetInitRatio, true, "×"})
		}
	}
	if f, ok := r.largestBinary(); ok {
		out = append(out, Check{"arm64 bootstrap, largest (" + f.ID + ")", "arm64 bootstrap, largest", mb(f.Arm64Bytes), mb(targetBinary), true, "MB"})
	}
	if len(r.Gateway) > 0 {
		if self, fns := r.Gateway[0].CPUPerRequest(); self > 0 && fns > 0 {
			out = append(out, Check{chkGateway, "local gateway CPU ÷ functions' CPU", float64(self) / float64(fns), targetGatewayRatio, true, "×"})
		}
	}
	return out
}

func (r *Results) function(id string) (FunctionResult, bool) {
	for _, f := range r.Functions {
		if f.ID == id {
			return f, true
		}
	}
	return FunctionResult{}, false
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
	if c, ok := checks[chkFirstSeen]; ok {
		c.Name = "keygate authorizer (first-seen RS256 token) ÷ bare RSA-2048 verify"
		rows = append(rows, checkRow(head, c, pair(mFirstSeen, mBare)))
	}
	if c, ok := checks[chkAWSRep]; ok {
		c.Name = "aws-jwt-verify ÷ keygate authorizer, repeated token (a warm authorizer's usual case)"
		rows = append(rows, checkRow(head, c, pair(mAWS, mRepeated)))
	}
	if c, ok := checks[chkAWSFirst]; ok {
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
		if c, ok := checks[chkRepeated]; ok && m.name == mRepeated {
			row.Target, row.Met = c.targetText()+" bare verify", met(c.Met())
		}
		rows = append(rows, row)
	}

	const ep = "Token endpoints vs moto DynamoDB (the function's bootstrap under lambdarun, one request at a time like one container)"
	for _, h := range r.Handlers {
		rows = append(rows, Row{Section: ep, Measure: h.Route,
			Result: fmt.Sprintf("%.0f req/s", h.PerSecond()),
			Detail: fmt.Sprintf("p50 %s, p99 %s; per request: DynamoDB %s, sequential depth %s; Secrets Manager %s (first request of a container: %d DynamoDB, %d Secrets Manager, depth %d)",
				formatDur(h.P50), formatDur(h.P99), formatRoundTrips(h.DynamoDB), depthText(h.Depth, h.MaxDepth), formatRoundTrips(h.Secrets), h.FirstDynamoDB, h.FirstSecrets, h.FirstDepth)})
	}

	const cs = "Cold start (bootstrap under lambdarun, emulators on loopback, median) and size"
	base, hasBase := r.function(initBaseline)
	for _, f := range r.Functions {
		row := Row{Section: cs, Measure: f.ID,
			Result: fmt.Sprintf("init %s", formatDur(f.Init)),
			Detail: fmt.Sprintf("first response %s; host %s", formatDur(f.FirstResponse), formatMB(f.HostBytes))}
		if f.Arm64Bytes > 0 {
			row.Detail += ", arm64 " + formatMB(f.Arm64Bytes)
		}
		if hasBase && base.Init > 0 && f.Init > 0 {
			ratio := float64(f.Init) / float64(base.Init)
			row.Detail += fmt.Sprintf("; init %s %s's", formatUnit(ratio, "×"), initBaseline)
			ok := ratio <= targetInitRatio && (f.Arm64Bytes == 0 || f.Arm64Bytes <= targetBinary)
			row.Target, row.Met = fmt.Sprintf("init ≤ %s %s's, arm64 ≤ %s", formatUnit(targetInitRatio, "×"), initBaseline, formatMB(targetBinary)), met(ok)
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
		if c, ok := checks[chkGateway]; ok && i == 0 {
			row.Detail += fmt.Sprintf("; gateway + clients ÷ functions %s", formatUnit(c.Measured, "×"))
			row.Target, row.Met = "gateway ÷ functions CPU "+c.targetText(), met(c.Met())
		}
		rows = append(rows, row)
	}
	return append(rows, r.modelRows()...)
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

func mb(n int64) float64 { return float64(n) / (1 << 20) }

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

// depthText prints a median depth and, when some request went deeper, the most.
func depthText(median, most int) string {
	if most > median {
		return fmt.Sprintf("%d (%d at most)", median, most)
	}
	return strconv.Itoa(median)
}

// formatRoundTrips prints "3 round trips (GetItem 1, …)", or "no calls".
func formatRoundTrips(m map[string]float64) string {
	total, parts, ok := strings.Cut(formatCalls(m), " ")
	if total == "0" {
		return "no calls"
	}
	unit := " round trips"
	if total == "1" {
		unit = " round trip"
	}
	if !ok {
		return total + unit
	}
	return total + unit + " " + parts
}

// formatUSD prints dollars: "$2,250", "$7.12", "$0.0334".
func formatUSD(v float64) string {
	if v >= 1000 {
		n := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
		for i := len(n) - 3; i > 0; i -= 3 {
			n = n[:i] + "," + n[i:]
		}
		return "$" + n
	}
	return "$" + sig3(v)
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

// modelRows are the per-function profiles, the memory recommendation and the cost per million
// requests (model.go), when the run profiled the functions.
func (r *Results) modelRows() []Row {
	if len(r.Profiles) == 0 {
		return nil
	}
	var rows []Row
	met := func(b bool) *bool { return &b }

	const pf = "Functions one request at a time, AWS calls observed by proxies (CPU: the function process, all threads)"
	for _, p := range r.Profiles {
		p50, p99, mean := p.cpuQuantiles()
		detail := fmt.Sprintf("CPU p99 %s, mean %s; %s; peak RSS %s", formatDur(p99), formatDur(mean), p.callSummary(), formatMB(p.PeakRSS))
		if p.Cold != nil {
			var ddb, sm int
			for _, c := range p.Cold.Calls {
				if c.Service == svcDynamoDB {
					ddb++
				} else {
					sm++
				}
			}
			detail += fmt.Sprintf("; first request of the container: CPU %s since exec, %d DynamoDB, %d Secrets Manager, depth %d", formatDur(p.Cold.CPU), ddb, sm, depth(p.Cold.Calls))
		}
		rows = append(rows, Row{Section: pf, Measure: fmt.Sprintf("%s, %d requests", p.Name(), len(p.Warm)), Result: "CPU " + formatDur(p50), Detail: detail})
	}

	lat := func(l latency) string { return formatDur(l.p50) + "/" + formatDur(l.p99) }
	mm := fmt.Sprintf("Memory size on Lambda arm64, modelled: CPU × %d MB ÷ size, plus the critical path's calls at p50/p99 DynamoDB %s (Query %s, transaction %s), Secrets Manager %s (p99: one call at its p99); chosen: the cheapest size whose p99 at %s× the CPU keeps the budget",
		fullVCPUMemoryMB, lat(latDynamoDBItem), lat(latDynamoDBMulti), lat(latDynamoDBTransaction), lat(latSecretsManager), trimFloat(cpuSafety))
	for _, rec := range recommend(r.Profiles) {
		var parts []string
		for _, z := range rec.Sizes {
			req, dur := z.LambdaPerMillion()
			parts = append(parts, fmt.Sprintf("%d MB %s/%s/%s, billed %s, %s", z.MemoryMB, formatDur(z.P50), formatDur(z.P99), formatDur(z.P99Safe), formatDur(z.Billed), formatUSD(req+dur)))
		}
		name := rec.Function
		if rec.Case != "" {
			name += " (" + rec.Case + ")"
		}
		row := Row{Section: mm, Measure: name,
			Result: fmt.Sprintf("%d MB (template %d MB)", rec.MemoryMB, rec.Template),
			Detail: "p50/p99/p99 at " + trimFloat(cpuSafety) + "× CPU, mean billed, Lambda per million: " + strings.Join(parts, " · "),
			Target: "p99 ≤ " + formatDur(rec.Budget), Met: met(rec.Fits)}
		if !rec.Fits {
			row.Result = fmt.Sprintf("none fits: %d MB comes closest (template %d MB)", rec.MemoryMB, rec.Template)
		}
		for _, p := range r.Profiles {
			if p.Function == rec.Function && p.Cold != nil {
				row.Detail += fmt.Sprintf("; first request of a container ≈ %s at %d MB", formatDur(p.Cold.modelled(rec.MemoryMB, false, 1)), rec.MemoryMB)
			}
		}
		rows = append(rows, row)
	}

	cm := fmt.Sprintf("Cost per million requests, %s list prices (%s), at the recommended sizes", prices.Region, prices.AsOf)
	for _, l := range r.Costs() {
		rows = append(rows, Row{Section: cm, Measure: l.Name, Result: formatUSD(l.Total()),
			Detail: fmt.Sprintf("API Gateway %s, Lambda %s + %s duration, DynamoDB %s read + %s write, Secrets Manager %s; %s",
				formatUSD(l.APIGateway), formatUSD(l.LambdaRequests), formatUSD(l.LambdaDuration), formatUSD(l.DynamoDBRead), formatUSD(l.DynamoDBWrite), formatUSD(l.SecretsManager), l.Detail)})
	}
	rows = append(rows, Row{Section: cm, Measure: "for comparison: Amazon Cognito M2M token requests", Result: formatUSD(prices.CognitoM2MPerThousandTokens * 1000),
		Detail: fmt.Sprintf("%s per 1,000 token requests plus %s per app client and month (as the issue states; Cognito pricing since May 2024); API Gateway's Cognito authorizer adds nothing per protected call beyond API Gateway's %s",
			formatUSD(prices.CognitoM2MPerThousandTokens), formatUSD(prices.CognitoM2MAppClientMonthly), formatUSD(prices.APIGatewayRESTPerMillion))})
	return rows
}
