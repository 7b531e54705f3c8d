package main

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Prices are the AWS list prices the cost model uses: the one place they are written down.
// On-demand, no free tier, first pricing tier. They are as I know them, without a way to check
// here (no network): re-read the pricing pages before relying on them.
type Prices struct {
	Region, AsOf, Source string

	APIGatewayRESTPerMillion    float64 // REST API requests, first 333 million a month
	LambdaRequestsPerMillion    float64
	LambdaArm64PerGBSecond      float64 // first 7.5 billion GB-s a month
	DynamoDBReadPerMillionRRU   float64 // on-demand read request units
	DynamoDBWritePerMillionWRU  float64 // on-demand write request units
	SecretsManagerPer10kCalls   float64 // API calls (GetSecretValue, DescribeSecret, …)
	SecretsManagerSecretMonthly float64 // per secret and month (not per request)
	// What users would pay elsewhere, for comparison.
	CognitoM2MPerThousandTokens float64 // Amazon Cognito machine-to-machine token requests
	CognitoM2MAppClientMonthly  float64 // per M2M app client and month
}

// prices: us-east-1 list prices, as of the knowledge this was written with (early 2025):
// API Gateway REST $3.50 per million; Lambda $0.20 per million requests and, on arm64,
// $0.0000133334 per GB-second; DynamoDB on demand $0.125 per million read and $0.625 per million
// write request units (the prices since the cut of November 2024); Secrets Manager $0.05 per
// 10,000 API calls and $0.40 per secret and month. Cognito M2M: $2.25 per 1,000 token requests
// (first tier) and $6 per app client and month, as the issue states and the Cognito pricing
// page gave them since May 2024.
var prices = Prices{
	Region: "us-east-1", AsOf: "early 2025", Source: "AWS pricing pages as known then, not re-checked",

	APIGatewayRESTPerMillion:    3.50,
	LambdaRequestsPerMillion:    0.20,
	LambdaArm64PerGBSecond:      0.0000133334,
	DynamoDBReadPerMillionRRU:   0.125,
	DynamoDBWritePerMillionWRU:  0.625,
	SecretsManagerPer10kCalls:   0.05,
	SecretsManagerSecretMonthly: 0.40,
	CognitoM2MPerThousandTokens: 2.25,
	CognitoM2MAppClientMonthly:  6,
}

// The Lambda model follows aws-lambda-power-tuning's reasoning without running on AWS: a
// request's CPU time, measured here, stretches by the share of one vCPU Lambda gives at a
// memory size (memory/1769 MB below a full vCPU); its calls to AWS, on the critical path at
// AWS-like latencies, take as long at any size. Linear stretching is pessimistic for a short
// burst on an idle container (the scheduler's quota lets it run at full speed) and about right
// when a container is busy back to back.
const fullVCPUMemoryMB = 1769

// memorySizes are the sizes modelled.
var memorySizes = []int{128, 256, 512, 1024}

// cpuSafety: a recommended size must keep its p99 budget with this many times the CPU measured
// here. Machines here differ 2–3× from run to run, and a Graviton vCPU is not this machine's
// core: the recommendation should not flip with either.
const cpuSafety = 2.0

// maxRSSShare: a recommended size must leave the process's peak RSS at most this share of it
// (Go's heap may grow to twice the live data before a collection).
const maxRSSShare = 0.5

// latency is the AWS-like time of one call from a Lambda function in the same region over a
// warm connection: assumptions stated here, not measurements (the emulators answer in
// 2–5 ms, serialised, on this machine's loopback).
type latency struct{ p50, p99 time.Duration }

var (
	latDynamoDBItem        = latency{5 * time.Millisecond, 15 * time.Millisecond}  // GetItem, PutItem, UpdateItem, DeleteItem
	latDynamoDBMulti       = latency{8 * time.Millisecond, 25 * time.Millisecond}  // Query, Scan, Batch*
	latDynamoDBTransaction = latency{12 * time.Millisecond, 30 * time.Millisecond} // TransactWriteItems, TransactGetItems
	latSecretsManager      = latency{20 * time.Millisecond, 60 * time.Millisecond} // GetSecretValue, DescribeSecret, …
)

func callLatency(c Call) latency {
	switch {
	case c.Service == svcSecrets:
		return latSecretsManager
	case strings.HasPrefix(c.Op, "Transact"):
		return latDynamoDBTransaction
	case c.Op == "Query" || c.Op == "Scan" || strings.HasPrefix(c.Op, "Batch"):
		return latDynamoDBMulti
	}
	return latDynamoDBItem
}

// budgets are each function's p99 budget at AWS-like latency (with cpuSafety × CPU), the
// criterion of the memory recommendation; a function without one is not sized.
var budgets = map[string]time.Duration{
	"TokenFunction":      50 * time.Millisecond, // a client waits for it once per token lifetime
	"RefreshFunction":    50 * time.Millisecond,
	"ValidateFunction":   50 * time.Millisecond,
	"RevokeFunction":     100 * time.Millisecond,
	"JwksFunction":       50 * time.Millisecond, // verifiers fetch it on a kid they do not know
	"ConsoleFunction":    100 * time.Millisecond,
	"KeysFunction":       200 * time.Millisecond, // the admin API
	"AuthorizerFunction": 10 * time.Millisecond,  // in front of every protected call the gateway has not cached
	"EchoFunction":       20 * time.Millisecond,  // the sample backend
	"RotateFunction":     5 * time.Second,        // Secrets Manager waits; the timeout is 30 s
	"PlansFunction":      30 * time.Second,       // an hourly sync; the timeout is 300 s
}

// cpuStretch is how much longer CPU work takes at memMB than on a full vCPU.
func cpuStretch(memMB int) float64 { return math.Max(1, fullVCPUMemoryMB/float64(memMB)) }

// ioWait is the I/O wait of a request's critical path (the chain of calls that do not overlap,
// heaviest at p50 latencies): at p50 every call takes its p50; at p99 one call of the chain
// takes its p99 and the others their p50, since two calls of one request both in their slowest
// percent is a 1-in-10,000 event, not a 1-in-100 one.
func (s Sample) ioWait(p99 bool) time.Duration {
	w, path := chain(s.Calls, func(c Call) float64 { return float64(callLatency(c).p50) })
	if !p99 {
		return time.Duration(w)
	}
	var tail time.Duration
	for _, c := range path {
		l := callLatency(c)
		tail = max(tail, l.p99-l.p50)
	}
	return time.Duration(w) + tail
}

// modelled is the request's duration at memMB: CPU × k stretched, plus the I/O wait.
func (s Sample) modelled(memMB int, p99 bool, k float64) time.Duration {
	return time.Duration(float64(s.CPU)*k*cpuStretch(memMB)) + s.ioWait(p99)
}

// Sizing is a profile modelled at one memory size.
type Sizing struct {
	MemoryMB int
	P50, P99 time.Duration // p50 with p50 latencies, p99 with p99 latencies, measured CPU
	P99Safe  time.Duration // p99 with cpuSafety × the measured CPU
	Billed   time.Duration // mean billed duration (p50 latencies; each request rounded up to 1 ms)
}

// LambdaPerMillion is the Lambda bill of a million requests at this size: requests and GB-s.
func (z Sizing) LambdaPerMillion() (requests, duration float64) {
	gbs := float64(z.MemoryMB) / 1024 * z.Billed.Seconds()
	return prices.LambdaRequestsPerMillion, gbs * prices.LambdaArm64PerGBSecond * 1e6
}

// sizing models the profile's warm requests at memMB.
func (p Profile) sizing(memMB int) Sizing {
	z := Sizing{MemoryMB: memMB}
	if len(p.Warm) == 0 {
		return z
	}
	p50 := make([]time.Duration, len(p.Warm))
	p99 := make([]time.Duration, len(p.Warm))
	safe := make([]time.Duration, len(p.Warm))
	var billed time.Duration
	for i, s := range p.Warm {
		p50[i] = s.modelled(memMB, false, 1)
		p99[i] = s.modelled(memMB, true, 1)
		safe[i] = s.modelled(memMB, true, cpuSafety)
		billed += billedDuration(p50[i])
	}
	for _, d := range [][]time.Duration{p50, p99, safe} {
		slices.Sort(d)
	}
	z.P50, z.P99, z.P99Safe = percentile(p50, 0.5), percentile(p99, 0.99), percentile(safe, 0.99)
	z.Billed = billed / time.Duration(len(p.Warm))
	return z
}

// billedDuration is d as Lambda bills it: rounded up to the millisecond, 1 ms at least.
func billedDuration(d time.Duration) time.Duration {
	return max(time.Millisecond, (d+time.Millisecond-1)/time.Millisecond*time.Millisecond)
}

// fits says whether the size keeps the budget and the memory headroom.
func (p Profile) fits(z Sizing, budget time.Duration) bool {
	return z.P99Safe <= budget && float64(p.PeakRSS) <= maxRSSShare*float64(z.MemoryMB)*(1<<20)
}

// Recommendation is the memory size chosen for one function.
type Recommendation struct {
	Function string
	Case     string // the profile whose p99 is the highest at the chosen size ("" for a function's only one)
	MemoryMB int
	Fits     bool // false: no size keeps the budget; MemoryMB is then the size that comes closest
	Template int  // the template's MemorySize today
	Budget   time.Duration
	Sizes    []Sizing // the governing profile at every modelled size
}

// recommend picks, for each function with a budget, the cheapest size (Lambda cost per
// million over its profiles; ties to the smaller) at which every profile of it keeps the
// budget; where none does, the size with the lowest p99.
func recommend(profiles []Profile) []Recommendation {
	var out []Recommendation
	seen := map[string]bool{}
	for _, p := range profiles {
		if seen[p.Function] {
			continue
		}
		seen[p.Function] = true
		budget, ok := budgets[p.Function]
		if !ok {
			continue
		}
		var own []Profile
		for _, q := range profiles {
			if q.Function == p.Function && len(q.Warm) > 0 {
				own = append(own, q)
			}
		}
		if len(own) == 0 {
			continue
		}
		r := Recommendation{Function: p.Function, Template: p.MemoryMB, Budget: budget}
		best, closest := math.Inf(1), time.Duration(math.MaxInt64)
		governing := map[int]Profile{}
		for _, mem := range memorySizes {
			cost, fit, worst := 0.0, true, time.Duration(-1)
			for _, q := range own {
				z := q.sizing(mem)
				fit = fit && q.fits(z, budget)
				req, dur := z.LambdaPerMillion()
				cost += req + dur
				if z.P99Safe > worst {
					worst, governing[mem] = z.P99Safe, q
				}
			}
			switch {
			case fit && cost < best-1e-12:
				best, r.MemoryMB, r.Fits = cost, mem, true
			case !r.Fits && worst < closest:
				closest, r.MemoryMB = worst, mem
			}
		}
		g := governing[r.MemoryMB]
		if len(own) > 1 {
			r.Case = g.Case
		}
		for _, mem := range memorySizes {
			r.Sizes = append(r.Sizes, g.sizing(mem))
		}
		out = append(out, r)
	}
	return out
}

// CostLine is what a million requests of one kind cost, by service.
type CostLine struct {
	Name, Short                    string // Short: for the chart
	Detail                         string
	APIGateway                     float64
	LambdaRequests, LambdaDuration float64
	DynamoDBRead, DynamoDBWrite    float64
	SecretsManager                 float64
}

// Total is the sum of the parts.
func (l CostLine) Total() float64 {
	return l.APIGateway + l.LambdaRequests + l.LambdaDuration + l.DynamoDBRead + l.DynamoDBWrite + l.SecretsManager
}

// perMillion is what a million warm requests of p cost beyond API Gateway, at memMB.
func (p Profile) perMillion(memMB int) CostLine {
	var l CostLine
	l.LambdaRequests, l.LambdaDuration = p.sizing(memMB).LambdaPerMillion()
	m := p.means()
	l.DynamoDBRead = m.rru * prices.DynamoDBReadPerMillionRRU
	l.DynamoDBWrite = m.wru * prices.DynamoDBWritePerMillionWRU
	l.SecretsManager = m.secrets * prices.SecretsManagerPer10kCalls * 100
	return l
}

func (l CostLine) scaled(f float64) CostLine {
	l.LambdaRequests *= f
	l.LambdaDuration *= f
	l.DynamoDBRead *= f
	l.DynamoDBWrite *= f
	l.SecretsManager *= f
	return l
}

// cacheHitRatios are the API Gateway authorizer cache hit ratios the protected-call cost is
// given for.
var cacheHitRatios = []float64{0, 0.9, 0.99}

// Costs are the cost lines of the model: a token request, a refresh, and a protected call at
// each authorizer cache hit ratio (the authorizer invoked on a miss; the backend itself not
// counted), each function at its recommended size (else the template's).
func (r *Results) Costs() []CostLine {
	sizes := map[string]int{}
	for _, rec := range recommend(r.Profiles) {
		sizes[rec.Function] = rec.MemoryMB
	}
	find := func(fn, kase string) (Profile, int, bool) {
		for _, p := range r.Profiles {
			if p.Function == fn && p.Case == kase && len(p.Warm) > 0 {
				mem := sizes[fn]
				if mem == 0 {
					mem = p.MemoryMB
				}
				return p, mem, true
			}
		}
		return Profile{}, 0, false
	}
	var out []CostLine
	if p, mem, ok := find("TokenFunction", ""); ok {
		l := p.perMillion(mem)
		l.Name, l.Short, l.APIGateway = "token requests (POST /v1/auth/token)", "token requests", prices.APIGatewayRESTPerMillion
		l.Detail = p.callSummary() + ", " + mbText(mem)
		out = append(out, l)
	}
	if p, mem, ok := find("RefreshFunction", ""); ok {
		l := p.perMillion(mem)
		l.Name, l.Short, l.APIGateway = "refreshes (POST /v1/auth/refresh)", "refreshes", prices.APIGatewayRESTPerMillion
		l.Detail = p.callSummary() + ", " + mbText(mem)
		out = append(out, l)
	}
	if p, mem, ok := find("AuthorizerFunction", "first-seen token"); ok {
		for _, hit := range cacheHitRatios {
			l := p.perMillion(mem).scaled(1 - hit)
			l.Name = "protected calls, authorizer cache hit " + percentText(hit)
			l.Short = "protected calls, " + percentText(hit) + " cached"
			l.APIGateway = prices.APIGatewayRESTPerMillion
			l.Detail = "authorizer on " + percentText(1-hit) + " of calls (first-seen token: " + p.callSummary() + "), " + mbText(mem) + "; the backend not counted"
			out = append(out, l)
		}
	}
	return out
}

// profileMeans are a profile's per-request averages (depth: the median).
type profileMeans struct {
	secrets         float64 // Secrets Manager calls
	depth, maxDepth int     // calls on the critical path: median, most
	rru, wru        float64
	ops             map[string]float64 // DynamoDB calls by operation
}

func (p Profile) means() profileMeans {
	m := profileMeans{ops: map[string]float64{}}
	n := float64(len(p.Warm))
	if n == 0 {
		return m
	}
	depths := make([]int, 0, len(p.Warm))
	for _, s := range p.Warm {
		d := depth(s.Calls)
		depths = append(depths, d)
		m.maxDepth = max(m.maxDepth, d)
		for _, c := range s.Calls {
			switch c.Service {
			case svcDynamoDB:
				m.ops[c.Op] += 1 / n
			case svcSecrets:
				m.secrets += 1 / n
			}
			m.rru += c.RRU / n
			m.wru += c.WRU / n
		}
	}
	slices.Sort(depths)
	m.depth = depths[len(depths)/2]
	return m
}

// cpuQuantiles are the measured CPU per warm request: median, 99th percentile, mean.
func (p Profile) cpuQuantiles() (p50, p99, mean time.Duration) {
	if len(p.Warm) == 0 {
		return 0, 0, 0
	}
	ds := make([]time.Duration, len(p.Warm))
	var sum time.Duration
	for i, s := range p.Warm {
		ds[i] = s.CPU
		sum += s.CPU
	}
	slices.Sort(ds)
	return percentile(ds, 0.5), percentile(ds, 0.99), sum / time.Duration(len(ds))
}

// callSummary says what a warm request of p calls: round trips, sequential depth, units.
func (p Profile) callSummary() string {
	m := p.means()
	s := "DynamoDB " + formatRoundTrips(m.ops) + ", depth " + depthText(m.depth, m.maxDepth) + ", " + trimFloat(m.rru) + " RRU + " + trimFloat(m.wru) + " WRU"
	if m.secrets > 0 {
		s += ", Secrets Manager " + trimFloat(m.secrets)
	}
	return s
}

func mbText(mem int) string { return strconv.Itoa(mem) + " MB" }

func percentText(f float64) string {
	return strconv.FormatFloat(math.Round(f*1000)/10, 'f', -1, 64) + " %"
}
