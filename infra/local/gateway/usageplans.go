package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
)

// APIGatewayReader is the part of API Gateway's control plane (*apigateway.Client, on moto
// locally) the gateway reads the stage's API keys and usage plans from.
type APIGatewayReader interface {
	GetUsagePlans(context.Context, *apigateway.GetUsagePlansInput, ...func(*apigateway.Options)) (*apigateway.GetUsagePlansOutput, error)
	GetUsagePlan(context.Context, *apigateway.GetUsagePlanInput, ...func(*apigateway.Options)) (*apigateway.GetUsagePlanOutput, error)
	GetUsagePlanKeys(context.Context, *apigateway.GetUsagePlanKeysInput, ...func(*apigateway.Options)) (*apigateway.GetUsagePlanKeysOutput, error)
	GetApiKeys(context.Context, *apigateway.GetApiKeysInput, ...func(*apigateway.Options)) (*apigateway.GetApiKeysOutput, error)
}

var _ APIGatewayReader = (*apigateway.Client)(nil)

// UsagePlanSource says where the gateway finds the stage's API keys and usage plans, and how
// quickly it follows changes to them.
type UsagePlanSource struct {
	// Client reads the control plane (GetUsagePlans, GetUsagePlanKeys, GetApiKeys with values).
	Client APIGatewayReader
	// RestAPIID is the REST API this gateway stands for in Client's account: a usage plan
	// applies when one of its apiStages names this API and the template's stage.
	RestAPIID string
	// MaxAge is how old the state may get, by the gateway's clock (Config.Now), before the next
	// request that needs it reloads it (that request waits; the others meanwhile use what is
	// loaded). Default 1 s; negative: never by age. Changes made through ControlPlane, and
	// unknown API keys, reload at once.
	MaxAge time.Duration
	// MinReloadInterval spaces the reloads that unknown API keys (or a failing control plane)
	// cause, so that a stream of them cannot flood the emulator. Default 100 ms.
	MinReloadInterval time.Duration
}

// Defaults of UsagePlanSource.
const (
	DefaultUsagePlanMaxAge            = time.Second
	DefaultUsagePlanMinReloadInterval = 100 * time.Millisecond
	// usagePlanLoadTimeout bounds one reload of the control plane's state.
	usagePlanLoadTimeout = 30 * time.Second
	// usageDays is how many days of per-key counts are kept for GetUsage.
	usageDays = 100
)

// usagePlans holds what the gateway knows of the stage's API keys and usage plans (a
// snapshot of the control plane, reloaded when it changes) and the per-key counters API
// Gateway keeps: one token bucket and one quota count per API key and usage plan.
//
// The snapshot is immutable and swapped atomically, so the hot path (a known key) is a map
// lookup and one counter's mutex; no control-plane call.
type usagePlans struct {
	src    UsagePlanSource
	stage  string
	logger *slog.Logger
	now    func() time.Time // the gateway's clock: the age of a snapshot

	snap    atomic.Pointer[planSnapshot]
	wantGen atomic.Uint64 // raised by invalidate: a snapshot older than it must be reloaded

	mu        sync.Mutex
	loading   *loadCall // the reload in flight, if any
	lastStart time.Time // wall clock: when the last reload started

	cmu      sync.Mutex
	counters map[counterKey]*usageCounter
}

// planSnapshot is the control plane's state as one reload saw it.
type planSnapshot struct {
	gen      uint64    // wantGen when the reload started
	loadedAt time.Time // by the gateway's clock
	// byValue maps the value of every enabled API key in a usage plan of this stage to it.
	byValue map[string]keyPlan
	// plans are this stage's usage plans by id; planKeys the API key ids in each.
	plans    map[string]*planLimits
	planKeys map[string][]string
}

// keyPlan is an enabled API key and the usage plan that meters it on this stage.
type keyPlan struct {
	keyID   string
	plan    *planLimits
	counter *usageCounter
	// plans counts the usage plans of this stage that hold the key. API Gateway refuses a
	// second one (ConflictException); moto does not, so more than one is refused here.
	plans int
}

// planLimits is a usage plan's throttle and quota.
type planLimits struct {
	id          string
	hasThrottle bool
	rate        float64 // requests per second
	burst       float64 // bucket size
	hasQuota    bool
	quota       int64
	period      types.QuotaPeriodType
}

type counterKey struct{ planID, keyID string }

// usageCounter is one API key's state in one usage plan.
type usageCounter struct {
	mu          sync.Mutex
	started     bool
	tokens      float64
	last        time.Time
	periodStart time.Time
	periodUsed  int64
	days        map[int64]int64 // UTC day number → requests that counted
}

type loadCall struct {
	done chan struct{}
	gen  uint64
	err  error
}

func newUsagePlans(src UsagePlanSource, stage string, logger *slog.Logger, now func() time.Time) *usagePlans {
	if src.MaxAge == 0 {
		src.MaxAge = DefaultUsagePlanMaxAge
	}
	if src.MinReloadInterval <= 0 {
		src.MinReloadInterval = DefaultUsagePlanMinReloadInterval
	}
	u := &usagePlans{src: src, stage: stage, logger: logger, now: now, counters: map[counterKey]*usageCounter{}}
	u.wantGen.Store(1) // nothing is loaded yet
	return u
}

// invalidate makes the next request that needs the state reload it first.
func (u *usagePlans) invalidate() { u.wantGen.Add(1) }

// errNoUsagePlanState: the control plane could not be read and nothing was loaded before.
var errNoUsagePlanState = errors.New("gateway: the usage plans could not be read")

// current returns a snapshot no older than the last invalidation (waiting for a reload if
// need be) and, when it is older than MaxAge, reloads it first unless another request
// already is. A reload that fails leaves the previous snapshot in use.
func (u *usagePlans) current(ctx context.Context) (*planSnapshot, error) {
	s := u.snap.Load()
	if s == nil || s.gen < u.wantGen.Load() {
		return u.ensure(ctx, u.wantGen.Load())
	}
	if u.src.MaxAge > 0 && u.now().Sub(s.loadedAt) > u.src.MaxAge {
		u.mu.Lock()
		if u.loading != nil {
			u.mu.Unlock()
			return s, nil
		}
		call := u.startLoadLocked()
		u.mu.Unlock()
		if err := u.wait(ctx, call); err != nil {
			return s, nil // keep serving what was loaded; the failure is logged
		}
		return u.snap.Load(), nil
	}
	return s, nil
}

// fresh returns a snapshot whose reload started after this call.
func (u *usagePlans) fresh(ctx context.Context) (*planSnapshot, error) {
	return u.ensure(ctx, u.wantGen.Add(1))
}

// ensure waits until a snapshot of generation gen or newer is loaded. When reloads fail it
// returns the last snapshot there is, with the error.
func (u *usagePlans) ensure(ctx context.Context, gen uint64) (*planSnapshot, error) {
	for {
		if s := u.snap.Load(); s != nil && s.gen >= gen {
			return s, nil
		}
		u.mu.Lock()
		call := u.loading
		if call == nil {
			call = u.startLoadLocked()
		}
		u.mu.Unlock()
		err := u.wait(ctx, call)
		if err != nil && (call.gen >= gen || ctx.Err() != nil) {
			if s := u.snap.Load(); s != nil {
				return s, err
			}
			return nil, fmt.Errorf("%w: %v", errNoUsagePlanState, err)
		}
	}
}

func (u *usagePlans) wait(ctx context.Context, call *loadCall) error {
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startLoadLocked starts a reload (u.mu held) at least MinReloadInterval after the previous
// one started. It runs on its own context, so a request that goes away does not cancel the
// reload others wait for.
func (u *usagePlans) startLoadLocked() *loadCall {
	call := &loadCall{done: make(chan struct{}), gen: u.wantGen.Load()}
	u.loading = call
	delay := time.Until(u.lastStart.Add(u.src.MinReloadInterval))
	u.lastStart = time.Now().Add(max(delay, 0))
	go func() {
		if delay > 0 {
			time.Sleep(delay)
		}
		ctx, cancel := context.WithTimeout(context.Background(), usagePlanLoadTimeout)
		s, err := u.load(ctx)
		cancel()
		u.mu.Lock()
		if err == nil {
			s.gen = call.gen
			u.snap.Store(s)
		} else {
			u.logger.Warn("usage plans: reading the control plane failed; keeping the state loaded before", "error", err)
		}
		call.err = err
		u.loading = nil
		u.mu.Unlock()
		close(call.done)
	}()
	return call
}

// load reads the stage's usage plans, their keys and the API keys' values.
func (u *usagePlans) load(ctx context.Context) (*planSnapshot, error) {
	s := &planSnapshot{loadedAt: u.now(), byValue: map[string]keyPlan{}, plans: map[string]*planLimits{}, planKeys: map[string][]string{}}
	pp := apigateway.NewGetUsagePlansPaginator(u.src.Client, &apigateway.GetUsagePlansInput{Limit: aws.Int32(500)})
	for pp.HasMorePages() {
		page, err := pp.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("GetUsagePlans: %w", err)
		}
		for _, p := range page.Items {
			if u.onStage(p) {
				s.plans[aws.ToString(p.Id)] = limitsOf(p)
			}
		}
	}
	inPlans := map[string][]string{} // API key id → plans of this stage holding it
	for id := range s.plans {
		kp := apigateway.NewGetUsagePlanKeysPaginator(u.src.Client, &apigateway.GetUsagePlanKeysInput{UsagePlanId: aws.String(id), Limit: aws.Int32(500)})
		for kp.HasMorePages() {
			page, err := kp.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("GetUsagePlanKeys %s: %w", id, err)
			}
			for _, k := range page.Items {
				if aws.ToString(k.Type) != "API_KEY" {
					continue
				}
				inPlans[aws.ToString(k.Id)] = append(inPlans[aws.ToString(k.Id)], id)
			}
		}
	}
	if len(inPlans) == 0 {
		return s, nil
	}
	ap := apigateway.NewGetApiKeysPaginator(u.src.Client, &apigateway.GetApiKeysInput{IncludeValues: aws.Bool(true), Limit: aws.Int32(500)})
	for ap.HasMorePages() {
		page, err := ap.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("GetApiKeys: %w", err)
		}
		for _, k := range page.Items {
			id := aws.ToString(k.Id)
			plans := inPlans[id]
			if len(plans) == 0 {
				continue
			}
			// A deleted key stays in moto's usage plans (API Gateway removes it): only keys
			// that still exist are listed, here and in GetUsage.
			for _, p := range plans {
				s.planKeys[p] = append(s.planKeys[p], id)
			}
			if !k.Enabled || aws.ToString(k.Value) == "" {
				continue
			}
			sort.Strings(plans)
			kp := keyPlan{keyID: id, plan: s.plans[plans[0]], plans: len(plans)}
			kp.counter = u.counter(counterKey{planID: plans[0], keyID: id})
			if prev, dup := s.byValue[aws.ToString(k.Value)]; dup {
				// Two API keys with one value: API Gateway refuses that (ConflictException).
				u.logger.Warn("usage plans: two API keys share a value; refusing both", "apiKeyId", id, "other", prev.keyID)
				kp.plans = 2
			}
			s.byValue[aws.ToString(k.Value)] = kp
		}
	}
	for _, ids := range s.planKeys {
		sort.Strings(ids)
	}
	return s, nil
}

// onStage reports whether the plan applies to this gateway's API and stage.
func (u *usagePlans) onStage(p types.UsagePlan) bool {
	for _, st := range p.ApiStages {
		if aws.ToString(st.ApiId) == u.src.RestAPIID && aws.ToString(st.Stage) == u.stage {
			return true
		}
	}
	return false
}

func limitsOf(p types.UsagePlan) *planLimits {
	l := &planLimits{id: aws.ToString(p.Id)}
	if t := p.Throttle; t != nil && (t.RateLimit > 0 || t.BurstLimit > 0) {
		// A bucket smaller than one request would refuse everything; API Gateway's console
		// does not let a plan have a burst below 1 with a rate set.
		l.hasThrottle, l.rate, l.burst = true, t.RateLimit, math.Max(float64(t.BurstLimit), 1)
	}
	if q := p.Quota; q != nil && q.Period != "" {
		l.hasQuota, l.quota, l.period = true, int64(q.Limit), q.Period
	}
	return l
}

func (u *usagePlans) counter(k counterKey) *usageCounter {
	u.cmu.Lock()
	defer u.cmu.Unlock()
	c, ok := u.counters[k]
	if !ok {
		c = &usageCounter{days: map[int64]int64{}}
		u.counters[k] = c
	}
	return c
}

// lookup finds the enabled API key whose value is value in a usage plan of this stage. An
// unknown value reloads the state once (a key created a moment ago) before it is refused.
func (u *usagePlans) lookup(ctx context.Context, value string) (keyPlan, bool, error) {
	s, err := u.current(ctx)
	if s == nil {
		return keyPlan{}, false, err
	}
	if kp, ok := s.byValue[value]; ok || value == "" {
		return kp, ok, nil
	}
	s, err = u.fresh(ctx)
	if s == nil {
		return keyPlan{}, false, err
	}
	kp, ok := s.byValue[value]
	return kp, ok, nil
}

// meter decides a request that names the API key value (the authorizer's
// usageIdentifierKey): "" to let it through, else the gateway response type. It returns the
// API key's id when the key was found.
func (u *usagePlans) meter(ctx context.Context, value string, now time.Time) (responseType, keyID string) {
	kp, ok, err := u.lookup(ctx, value)
	switch {
	case err != nil && !ok:
		u.logger.Warn("usage plans: no state to check the API key against", "error", err)
		return APIConfigurationError, ""
	case !ok:
		return InvalidAPIKey, ""
	case kp.plans > 1:
		u.logger.Warn("usage plans: the API key is in more than one usage plan of the stage (API Gateway refuses that)", "apiKeyId", kp.keyID)
		return InvalidAPIKey, kp.keyID
	}
	return kp.counter.admit(kp.plan, now), kp.keyID
}

// admit applies the plan's throttle, then its quota, as API Gateway does for each API key: a
// token bucket of burst requests refilled at rate per second (full at the start), and at most
// quota requests per period. A throttled request does not count toward the quota.
func (c *usageCounter) admit(p *planLimits, now time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.hasThrottle {
		switch {
		case !c.started:
			c.started, c.tokens, c.last = true, p.burst, now
		case now.After(c.last):
			c.tokens += now.Sub(c.last).Seconds() * p.rate
			c.last = now
		}
		c.tokens = math.Min(c.tokens, p.burst) // also when the plan's burst shrank
		if c.tokens < 1 {
			return Throttled
		}
		c.tokens--
	}
	day := dayNumber(now)
	if p.hasQuota {
		start := periodStart(p.period, now)
		if !start.Equal(c.periodStart) {
			c.periodStart, c.periodUsed = start, 0
			for d := dayNumber(start); d <= day; d++ {
				c.periodUsed += c.days[d]
			}
		}
		if c.periodUsed >= p.quota {
			return QuotaExceeded
		}
		c.periodUsed++
	}
	c.days[day]++
	if len(c.days) > usageDays {
		for d := range c.days {
			if d <= day-usageDays {
				delete(c.days, d)
			}
		}
	}
	return ""
}

// dayNumber is the UTC calendar day of t, counted from 1970-01-01.
func dayNumber(t time.Time) int64 {
	return int64(math.Floor(float64(t.Unix()) / 86400))
}

// periodStart is the start of the quota period that holds t, in UTC: the day, the week from
// Sunday (API Gateway's offset 0) or the calendar month. Offsets other than 0 are not modelled:
// no plan of keygate's sets one.
func periodStart(p types.QuotaPeriodType, t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch p {
	case types.QuotaPeriodTypeWeek:
		return day.AddDate(0, 0, -int(day.Weekday()))
	case types.QuotaPeriodTypeMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return day
}
