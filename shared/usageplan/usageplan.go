// Package usageplan keeps API Gateway's usage plans in step with keygate's keys, so that the
// gateway itself limits every protected call per key: the key's rate_limit as a token bucket
// and its tier's quota, on authorizer-cache hits too (docs/usage-plans.md).
//
// Each keygate key has one API Gateway API key, named keygate-<stage>-<key_id>, whose value is
// the key's usage identifier: an HMAC of the key id under the pepper (Identifier). The
// authorizer puts that value in its answer (usageIdentifierKey) without any lookup, and API
// Gateway applies the usage plan the API key is in: its tier's plan (keygate-<stage>-<tier>,
// declared in template.yaml), or, for a key whose rate_limit is not its tier's, the plan of
// that (tier, rate_limit) pair, created here on first use (keygate-<stage>-<tier>-<N>pm, with
// the tier's quota). API keys are not credentials here: callers cannot send one (the API's key
// source is the authorizer), they only name the bucket.
//
// keygate's key table is the source of truth and API Gateway follows it. Writes are ordered so
// that a failure half-way leaves a key refused (no API key in a plan: API Gateway answers
// INVALID_API_KEY, 403) rather than unlimited, and each step is idempotent, so Sync (authctl
// keys sync) repairs whatever a crash or an outage left behind.
package usageplan

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/store"
)

// Gateway is the part of API Gateway's control plane the plans live in (*apigateway.Client).
type Gateway interface {
	GetUsagePlans(ctx context.Context, in *apigateway.GetUsagePlansInput, opts ...func(*apigateway.Options)) (*apigateway.GetUsagePlansOutput, error)
	CreateUsagePlan(ctx context.Context, in *apigateway.CreateUsagePlanInput, opts ...func(*apigateway.Options)) (*apigateway.CreateUsagePlanOutput, error)
	DeleteUsagePlan(ctx context.Context, in *apigateway.DeleteUsagePlanInput, opts ...func(*apigateway.Options)) (*apigateway.DeleteUsagePlanOutput, error)
	GetUsagePlanKeys(ctx context.Context, in *apigateway.GetUsagePlanKeysInput, opts ...func(*apigateway.Options)) (*apigateway.GetUsagePlanKeysOutput, error)
	CreateUsagePlanKey(ctx context.Context, in *apigateway.CreateUsagePlanKeyInput, opts ...func(*apigateway.Options)) (*apigateway.CreateUsagePlanKeyOutput, error)
	DeleteUsagePlanKey(ctx context.Context, in *apigateway.DeleteUsagePlanKeyInput, opts ...func(*apigateway.Options)) (*apigateway.DeleteUsagePlanKeyOutput, error)
	GetApiKeys(ctx context.Context, in *apigateway.GetApiKeysInput, opts ...func(*apigateway.Options)) (*apigateway.GetApiKeysOutput, error)
	CreateApiKey(ctx context.Context, in *apigateway.CreateApiKeyInput, opts ...func(*apigateway.Options)) (*apigateway.CreateApiKeyOutput, error)
	DeleteApiKey(ctx context.Context, in *apigateway.DeleteApiKeyInput, opts ...func(*apigateway.Options)) (*apigateway.DeleteApiKeyOutput, error)
	GetUsage(ctx context.Context, in *apigateway.GetUsageInput, opts ...func(*apigateway.Options)) (*apigateway.GetUsageOutput, error)
}

// Hashers yields the peppered hasher (apikey.Authenticator in production).
type Hashers interface {
	Hasher(ctx context.Context) (*apikey.Hasher, error)
}

// identifierLabel separates usage identifiers from every other value derived from the pepper.
const identifierLabel = "usage-identifier"

// Identifier is the usage identifier of a key: the value of its API Gateway API key, which the
// authorizer returns as usageIdentifierKey. It is derived, not stored, so the authorizer needs
// no read to name it and a retried write names the same API key. 64 hex digits: API Gateway
// wants 20 to 128 alphanumeric characters.
func Identifier(h *apikey.Hasher, keyID string) string { return h.DeriveHex(identifierLabel, keyID) }

// Errors callers map to answers (keysapi) or report (authctl).
var (
	// ErrUnknownTier: no usage plan of the stage is named for the tier.
	ErrUnknownTier = errors.New("usageplan: unknown tier")
	// ErrPlanLimit: a new (tier, rate_limit) plan would pass MaxPlans, or AWS's own quota of
	// usage plans or API keys is reached.
	ErrPlanLimit = errors.New("usageplan: usage-plan limit reached")
	// ErrThrottled: API Gateway's control plane refused the call rate (CreateApiKey allows 5
	// per second per account) after the SDK's retries.
	ErrThrottled = errors.New("usageplan: API Gateway control plane throttled the request")
	// ErrNotProvisioned: the key has no API key (or it is in no plan of the stage).
	ErrNotProvisioned = errors.New("usageplan: the key has no API key in a usage plan")
)

// MaxBurst caps the bucket of a rate_limit plan: API Gateway's default account-level burst.
const MaxBurst = 5000

// Plan is one of the stage's usage plans.
type Plan struct {
	ID   string
	Name string
	Tier string
	// RatePerSecond and Burst are the token bucket; RatePerMinute is RatePerSecond × 60
	// rounded, the rate_limit of a key in this plan.
	RatePerSecond float64
	Burst         int
	RatePerMinute int
	// QuotaLimit requests per QuotaPeriod (DAY, WEEK or MONTH); 0 when the plan has none.
	QuotaLimit  int
	QuotaPeriod string
	// Custom is true for a (tier, rate_limit) plan made here, false for a tier's plan.
	Custom bool

	stages []types.ApiStage
}

// customName is the name pattern of (tier, rate_limit) plans, after the stage prefix.
var customName = regexp.MustCompile(`^(.+)-([0-9]+)pm$`)

// Manager keeps one stage's API keys and plans in step with its keygate keys. One per
// container; safe for concurrent use.
type Manager struct {
	gw       Gateway
	hashers  Hashers
	prefix   string // keygate-<stage>-
	maxPlans int
	now      func() time.Time

	mu       sync.Mutex
	plans    []Plan // the stage's plans, by name then id
	loadedAt time.Time
}

// plansMaxAge is how long a listing of the plans is trusted before a lookup lists again. A
// plan made by another container is found on a miss anyway.
const plansMaxAge = 5 * time.Minute

// New returns a Manager for the stage's plans. maxPlans bounds how many plans the stage may
// own (template parameter MaxUsagePlans); now is the clock.
func New(gw Gateway, hashers Hashers, stage string, maxPlans int, now func() time.Time) *Manager {
	if now == nil {
		now = time.Now
	}
	return &Manager{gw: gw, hashers: hashers, prefix: "keygate-" + stage + "-", maxPlans: maxPlans, now: now}
}

// APIKeyName is the name of a key's API Gateway API key.
func (m *Manager) APIKeyName(keyID string) string { return m.prefix + keyID }

// Tiers returns the tiers' plans, cheapest (slowest) first.
func (m *Manager) Tiers(ctx context.Context) ([]Plan, error) {
	plans, err := m.list(ctx, false)
	if err != nil {
		return nil, err
	}
	var out []Plan
	for _, p := range plans {
		if !p.Custom {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].RatePerSecond < out[j].RatePerSecond })
	return out, nil
}

// Tier returns the plan of tier name, or ErrUnknownTier.
func (m *Manager) Tier(ctx context.Context, name string) (Plan, error) {
	for fresh := false; ; fresh = true {
		plans, err := m.list(ctx, fresh)
		if err != nil {
			return Plan{}, err
		}
		if p, ok := find(plans, m.prefix+name); ok && !p.Custom {
			return p, nil
		}
		if fresh {
			return Plan{}, fmt.Errorf("%w %q", ErrUnknownTier, name)
		}
	}
}

// PlanFor returns the plan of a key of tier with rate_limit ratePerMinute: the tier's plan
// when the rates agree, else the pair's own plan, created when it does not exist yet.
func (m *Manager) PlanFor(ctx context.Context, tier string, ratePerMinute int) (Plan, error) {
	tp, err := m.Tier(ctx, tier)
	if err != nil {
		return Plan{}, err
	}
	if ratePerMinute == tp.RatePerMinute {
		return tp, nil
	}
	name := m.prefix + tier + "-" + strconv.Itoa(ratePerMinute) + "pm"
	plans, err := m.list(ctx, true)
	if err != nil {
		return Plan{}, err
	}
	if p, ok := find(plans, name); ok {
		return p, nil
	}
	if len(plans) >= m.maxPlans {
		return Plan{}, fmt.Errorf("%w: the stage has %d usage plans (MaxUsagePlans %d)", ErrPlanLimit, len(plans), m.maxPlans)
	}
	in := &apigateway.CreateUsagePlanInput{
		Name:        aws.String(name),
		Description: aws.String(fmt.Sprintf("keygate: tier %s at rate_limit %d/min (made by the keys API)", tier, ratePerMinute)),
		ApiStages:   tp.stages,
		Throttle:    &types.ThrottleSettings{RateLimit: float64(ratePerMinute) / 60, BurstLimit: int32(min(ratePerMinute, MaxBurst))},
	}
	if tp.QuotaLimit > 0 {
		in.Quota = &types.QuotaSettings{Limit: int32(tp.QuotaLimit), Period: types.QuotaPeriodType(tp.QuotaPeriod)}
	}
	if _, err := m.gw.CreateUsagePlan(ctx, in); err != nil {
		return Plan{}, gatewayErr("create usage plan "+name, err)
	}
	// Two containers may create the same pair at once (CreateUsagePlan has no idempotency
	// token): every container then uses the first by id, and Sync deletes the other.
	if plans, err = m.list(ctx, true); err != nil {
		return Plan{}, err
	}
	if p, ok := find(plans, name); ok {
		return p, nil
	}
	return Plan{}, fmt.Errorf("usageplan: created %s but cannot list it", name)
}

// Ensure makes API Gateway match k: a usable key has its API key, enabled, with its usage
// identifier as value, in exactly its plan; any other key has none. Idempotent.
func (m *Manager) Ensure(ctx context.Context, k store.Key) error {
	if k.Status != store.StatusActive || !k.Usable(m.now()) {
		return m.Remove(ctx, k.KeyID)
	}
	plan, err := m.PlanFor(ctx, k.Tier, k.RateLimit)
	if err != nil {
		return err
	}
	h, err := m.hashers.Hasher(ctx)
	if err != nil {
		return fmt.Errorf("usageplan: %w", err)
	}
	value := Identifier(h, k.KeyID)
	ak, err := m.apiKey(ctx, k.KeyID)
	if err != nil {
		return err
	}
	if ak != nil && (!ak.Enabled || aws.ToString(ak.Value) != value) {
		// Disabled by hand, or made under another pepper: replace it (its usage goes with it).
		if err := m.deleteAPIKey(ctx, aws.ToString(ak.Id)); err != nil {
			return err
		}
		ak = nil
	}
	if ak == nil {
		id, err := m.createAPIKey(ctx, k.KeyID, value)
		if err != nil {
			return err
		}
		return m.addToPlan(ctx, plan.ID, id)
	}
	return m.move(ctx, aws.ToString(ak.Id), plan)
}

// move puts API key id into plan and takes it out of the stage's other plans. API Gateway
// refuses an API key in two plans of one stage, so it leaves the old plan first: in between,
// the key's calls are refused (INVALID_API_KEY), never unmetered.
func (m *Manager) move(ctx context.Context, id string, plan Plan) error {
	in, err := m.plansOf(ctx, id)
	if err != nil {
		return err
	}
	member := false
	for _, p := range in {
		if p.ID == plan.ID {
			member = true
			continue
		}
		if _, err := m.gw.DeleteUsagePlanKey(ctx, &apigateway.DeleteUsagePlanKeyInput{UsagePlanId: aws.String(p.ID), KeyId: aws.String(id)}); err != nil && !isNotFound(err) {
			return gatewayErr("remove the API key from plan "+p.Name, err)
		}
	}
	if member {
		return nil
	}
	return m.addToPlan(ctx, plan.ID, id)
}

func (m *Manager) addToPlan(ctx context.Context, planID, keyID string) error {
	_, err := m.gw.CreateUsagePlanKey(ctx, &apigateway.CreateUsagePlanKeyInput{
		UsagePlanId: aws.String(planID), KeyId: aws.String(keyID), KeyType: aws.String("API_KEY")})
	if err != nil && !isConflict(err) { // already a member: done
		return gatewayErr("add the API key to its usage plan", err)
	}
	return nil
}

// Remove deletes the key's API key (and so its plan membership). Idempotent.
func (m *Manager) Remove(ctx context.Context, keyID string) error {
	ak, err := m.apiKey(ctx, keyID)
	if err != nil || ak == nil {
		return err
	}
	return m.deleteAPIKey(ctx, aws.ToString(ak.Id))
}

func (m *Manager) deleteAPIKey(ctx context.Context, id string) error {
	if _, err := m.gw.DeleteApiKey(ctx, &apigateway.DeleteApiKeyInput{ApiKey: aws.String(id)}); err != nil && !isNotFound(err) {
		return gatewayErr("delete API key", err)
	}
	return nil
}

func (m *Manager) createAPIKey(ctx context.Context, keyID, value string) (string, error) {
	out, err := m.gw.CreateApiKey(ctx, &apigateway.CreateApiKeyInput{
		Name: aws.String(m.APIKeyName(keyID)), Value: aws.String(value), Enabled: true,
		Description: aws.String("keygate key " + keyID + ": names its usage-plan bucket; not a credential"),
	})
	if err == nil {
		return aws.ToString(out.Id), nil
	}
	if !isConflict(err) {
		return "", gatewayErr("create API key", err)
	}
	// A concurrent Ensure of the same key made it first.
	ak, ferr := m.apiKey(ctx, keyID)
	if ferr != nil {
		return "", ferr
	}
	if ak == nil || aws.ToString(ak.Value) != value {
		return "", fmt.Errorf("usageplan: an API key with key %s's identifier exists under another name: %w", keyID, err)
	}
	return aws.ToString(ak.Id), nil
}

// apiKey finds the key's API key by name (nil when it has none).
func (m *Manager) apiKey(ctx context.Context, keyID string) (*types.ApiKey, error) {
	name := m.APIKeyName(keyID)
	keys, err := m.apiKeys(ctx, name)
	if err != nil {
		return nil, err
	}
	for i := range keys {
		if aws.ToString(keys[i].Name) == name {
			return &keys[i], nil
		}
	}
	return nil, nil
}

// apiKeys lists the API keys whose names start with prefix, with their values.
func (m *Manager) apiKeys(ctx context.Context, prefix string) ([]types.ApiKey, error) {
	var out []types.ApiKey
	pages := apigateway.NewGetApiKeysPaginator(m.gw, &apigateway.GetApiKeysInput{NameQuery: aws.String(prefix), IncludeValues: aws.Bool(true), Limit: aws.Int32(500)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, gatewayErr("list API keys", err)
		}
		for _, k := range page.Items {
			if strings.HasPrefix(aws.ToString(k.Name), prefix) {
				out = append(out, k)
			}
		}
	}
	return out, nil
}

// plansOf returns the stage's plans API key id is in.
func (m *Manager) plansOf(ctx context.Context, id string) ([]Plan, error) {
	return m.stagePlans(ctx, &apigateway.GetUsagePlansInput{KeyId: aws.String(id), Limit: aws.Int32(500)}, "list the API key's usage plans")
}

// stagePlans lists the usage plans that in selects and keeps the stage's.
func (m *Manager) stagePlans(ctx context.Context, in *apigateway.GetUsagePlansInput, what string) ([]Plan, error) {
	var out []Plan
	pages := apigateway.NewGetUsagePlansPaginator(m.gw, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, gatewayErr(what, err)
		}
		for _, up := range page.Items {
			if p, ok := m.parse(up); ok {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// list returns the stage's plans, listing them again when fresh or when the last listing is
// older than plansMaxAge.
func (m *Manager) list(ctx context.Context, fresh bool) ([]Plan, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if !fresh && m.plans != nil && now.Sub(m.loadedAt) < plansMaxAge {
		return m.plans, nil
	}
	plans, err := m.stagePlans(ctx, &apigateway.GetUsagePlansInput{Limit: aws.Int32(500)}, "list usage plans")
	if err != nil {
		return nil, err
	}
	sort.SliceStable(plans, func(i, j int) bool {
		if plans[i].Name != plans[j].Name {
			return plans[i].Name < plans[j].Name
		}
		return plans[i].ID < plans[j].ID
	})
	m.plans, m.loadedAt = plans, now
	return plans, nil
}

// parse reads one of the stage's plans; other plans (other stages, other APIs) are not ours.
func (m *Manager) parse(up types.UsagePlan) (Plan, bool) {
	name := aws.ToString(up.Name)
	rest, ok := strings.CutPrefix(name, m.prefix)
	if !ok || rest == "" || up.Throttle == nil {
		return Plan{}, false
	}
	p := Plan{ID: aws.ToString(up.Id), Name: name, Tier: rest, RatePerSecond: up.Throttle.RateLimit,
		Burst: int(up.Throttle.BurstLimit), stages: up.ApiStages}
	p.RatePerMinute = int(math.Round(p.RatePerSecond * 60))
	if mm := customName.FindStringSubmatch(rest); mm != nil {
		p.Tier, p.Custom = mm[1], true
	}
	if up.Quota != nil {
		p.QuotaLimit, p.QuotaPeriod = int(up.Quota.Limit), string(up.Quota.Period)
	}
	return p, true
}

// find returns the first plan named name (plans are sorted by name, then id).
func find(plans []Plan, name string) (Plan, bool) {
	i := slices.IndexFunc(plans, func(p Plan) bool { return p.Name == name })
	if i < 0 {
		return Plan{}, false
	}
	return plans[i], true
}

// Day is one UTC day of a key's usage.
type Day struct {
	Date string `json:"date"` // YYYY-MM-DD
	Used int64  `json:"used"`
	// Remaining is the quota left after that day, as API Gateway reports it.
	Remaining int64 `json:"remaining"`
}

// Usage is a key's calls per day in its plan.
type Usage struct {
	Plan Plan
	Days []Day
}

// dateLayout is GetUsage's date format.
const dateLayout = "2006-01-02"

// Usage returns the key's calls per day from from to to (UTC dates, inclusive) in its plan,
// from API Gateway's usage data, which lags by minutes and covers the plan the key is in now.
func (m *Manager) Usage(ctx context.Context, keyID string, from, to time.Time) (Usage, error) {
	ak, err := m.apiKey(ctx, keyID)
	if err != nil {
		return Usage{}, err
	}
	if ak == nil {
		return Usage{}, ErrNotProvisioned
	}
	id := aws.ToString(ak.Id)
	in, err := m.plansOf(ctx, id)
	if err != nil {
		return Usage{}, err
	}
	if len(in) == 0 {
		return Usage{}, ErrNotProvisioned
	}
	u := Usage{Plan: in[0]}
	pages := apigateway.NewGetUsagePaginator(m.gw, &apigateway.GetUsageInput{UsagePlanId: aws.String(u.Plan.ID), KeyId: aws.String(id),
		StartDate: aws.String(from.UTC().Format(dateLayout)), EndDate: aws.String(to.UTC().Format(dateLayout)), Limit: aws.Int32(500)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return Usage{}, gatewayErr("read usage", err)
		}
		// Items hold one [used, remaining] pair per day from StartDate, for each key.
		for _, pair := range page.Items[id] {
			if len(pair) != 2 {
				return Usage{}, fmt.Errorf("usageplan: usage of %s: a day has %d numbers, want 2", keyID, len(pair))
			}
			day := from.UTC().AddDate(0, 0, len(u.Days))
			u.Days = append(u.Days, Day{Date: day.Format(dateLayout), Used: pair[0], Remaining: pair[1]})
		}
	}
	return u, nil
}

func gatewayErr(what string, err error) error {
	var limit *types.LimitExceededException
	var throttled *types.TooManyRequestsException
	switch {
	case errors.As(err, &limit):
		return fmt.Errorf("usageplan: %s: %w (%w)", what, ErrPlanLimit, err)
	case errors.As(err, &throttled):
		return fmt.Errorf("usageplan: %s: %w (%w)", what, ErrThrottled, err)
	}
	return fmt.Errorf("usageplan: %s: %w", what, err)
}

func isNotFound(err error) bool {
	var nf *types.NotFoundException
	return errors.As(err, &nf)
}

func isConflict(err error) bool {
	var c *types.ConflictException
	return errors.As(err, &c)
}

// Identifiers names keys' usage-plan buckets for the authorizer: Identifier under the pepper
// Hashers loads once per container, remembered per key id so that an API key presented as
// Bearer costs a map read, not an HMAC, per call. Use a pointer; safe for concurrent use.
type Identifiers struct {
	Hashers Hashers

	mu   sync.RWMutex
	memo map[string]string
}

// maxRemembered bounds the identifiers an Identifiers keeps; past it, it starts afresh.
const maxRemembered = 10_000

// UsageIdentifier returns the usage identifier of keyID.
func (i *Identifiers) UsageIdentifier(ctx context.Context, keyID string) (string, error) {
	i.mu.RLock()
	v, ok := i.memo[keyID]
	i.mu.RUnlock()
	if ok {
		return v, nil
	}
	h, err := i.Hashers.Hasher(ctx)
	if err != nil {
		return "", fmt.Errorf("usage identifier: %w", err)
	}
	v = Identifier(h, keyID)
	i.mu.Lock()
	if i.memo == nil || len(i.memo) >= maxRemembered {
		i.memo = make(map[string]string)
	}
	i.memo[keyID] = v
	i.mu.Unlock()
	return v, nil
}
