// Package usageplantest is an in-memory API Gateway control plane for unit tests of the
// packages that keep usage plans (usageplan, keysapi): API keys, usage plans and their keys,
// with the rules keygate relies on (unique API-key values, one plan per API key and stage,
// NotFound and Conflict errors), fault injection and call counts. The same code paths run
// against the emulator through the real SDK in usageplan's emulator tests.
package usageplantest

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
)

// Fake is the control plane. The zero value is empty and ready; Tiers adds the template's.
type Fake struct {
	mu     sync.Mutex
	next   int
	plans  map[string]*types.UsagePlan
	keys   map[string]*types.ApiKey
	member map[string]map[string]bool // plan id → API key ids
	// Usage is what GetUsage answers per plan id and API key id: one [used, remaining] per day.
	Usage map[string]map[string][][]int64

	// Now stamps API keys' CreatedDate (default time.Now).
	Now func() time.Time

	// Fail makes the named operation (e.g. "CreateApiKey") fail with the error, once per
	// entry (nil entries succeed), consumed in order.
	Fail  map[string][]error
	calls map[string]int
}

// Stage is the API stage every plan of the fake is on.
var Stage = types.ApiStage{ApiId: aws.String("api123"), Stage: aws.String("local")}

// Tier describes one tier plan: its name after keygate-<stage>-, requests per second, burst,
// quota per period.
type Tier struct {
	Name          string
	Rate          float64
	Burst, Quota  int32
	Period        types.QuotaPeriodType
	StageOverride string // another stage's plan when set
}

// DefaultTiers are template.yaml's defaults.
var DefaultTiers = []Tier{
	{"free", 1, 60, 10000, types.QuotaPeriodTypeDay, ""},
	{"startup", 16.667, 1000, 1000000, types.QuotaPeriodTypeMonth, ""},
	{"growth", 166.667, 5000, 20000000, types.QuotaPeriodTypeMonth, ""},
	{"enterprise", 1666.667, 5000, 500000000, types.QuotaPeriodTypeMonth, ""},
}

// New returns a fake holding the plans of tiers for stage (keygate-<stage>-<tier>).
func New(stage string, tiers ...Tier) *Fake {
	f := &Fake{}
	for _, t := range tiers {
		st := stage
		if t.StageOverride != "" {
			st = t.StageOverride
		}
		_, _ = f.CreateUsagePlan(context.Background(), &apigateway.CreateUsagePlanInput{
			Name:      aws.String("keygate-" + st + "-" + t.Name),
			ApiStages: []types.ApiStage{{ApiId: Stage.ApiId, Stage: aws.String(st)}},
			Throttle:  &types.ThrottleSettings{RateLimit: t.Rate, BurstLimit: t.Burst},
			Quota:     &types.QuotaSettings{Limit: t.Quota, Period: t.Period},
		})
	}
	f.calls = nil
	return f
}

func (f *Fake) init() {
	if f.plans == nil {
		f.plans, f.keys, f.member = map[string]*types.UsagePlan{}, map[string]*types.ApiKey{}, map[string]map[string]bool{}
	}
	if f.calls == nil {
		f.calls = map[string]int{}
	}
}

// enter counts a call and returns its injected failure, if any. Callers hold f.mu.
func (f *Fake) enter(op string) error {
	f.init()
	f.calls[op]++
	if q := f.Fail[op]; len(q) > 0 {
		f.Fail[op] = q[1:]
		return q[0]
	}
	return nil
}

// Calls returns how often op was called.
func (f *Fake) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *Fake) id(prefix string) string {
	f.next++
	return prefix + strconv.Itoa(f.next)
}

// Plans returns every plan, by name.
func (f *Fake) Plans() []types.UsagePlan {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []types.UsagePlan
	for _, p := range f.plans {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return aws.ToString(out[i].Name) < aws.ToString(out[j].Name) })
	return out
}

// KeyPlans returns the names of the plans the API key named name is in, and its value ("" and
// nil when there is no such API key).
func (f *Fake) KeyPlans(name string) (value string, plans []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, k := range f.keys {
		if aws.ToString(k.Name) != name {
			continue
		}
		for pid, m := range f.member {
			if m[id] {
				plans = append(plans, aws.ToString(f.plans[pid].Name))
			}
		}
		sort.Strings(plans)
		return aws.ToString(k.Value), plans
	}
	return "", nil
}

// APIKeyNames lists every API key's name.
func (f *Fake) APIKeyNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, k := range f.keys {
		out = append(out, aws.ToString(k.Name))
	}
	sort.Strings(out)
	return out
}

func notFound(what string) error {
	return &types.NotFoundException{Message: aws.String(what + " not found")}
}

// GetUsagePlans lists plans (those holding KeyId when set), all on one page.
func (f *Fake) GetUsagePlans(_ context.Context, in *apigateway.GetUsagePlansInput, _ ...func(*apigateway.Options)) (*apigateway.GetUsagePlansOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("GetUsagePlans"); err != nil {
		return nil, err
	}
	out := &apigateway.GetUsagePlansOutput{}
	for id, p := range f.plans {
		if in.KeyId != nil && !f.member[id][*in.KeyId] {
			continue
		}
		out.Items = append(out.Items, *p)
	}
	sort.Slice(out.Items, func(i, j int) bool { return aws.ToString(out.Items[i].Id) < aws.ToString(out.Items[j].Id) })
	return out, nil
}

// CreateUsagePlan adds a plan.
func (f *Fake) CreateUsagePlan(_ context.Context, in *apigateway.CreateUsagePlanInput, _ ...func(*apigateway.Options)) (*apigateway.CreateUsagePlanOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("CreateUsagePlan"); err != nil {
		return nil, err
	}
	id := f.id("plan")
	p := &types.UsagePlan{Id: aws.String(id), Name: in.Name, Description: in.Description, ApiStages: in.ApiStages,
		Throttle: in.Throttle, Quota: in.Quota}
	f.plans[id] = p
	f.member[id] = map[string]bool{}
	return &apigateway.CreateUsagePlanOutput{Id: p.Id, Name: p.Name, ApiStages: p.ApiStages, Throttle: p.Throttle, Quota: p.Quota}, nil
}

// DeleteUsagePlan removes a plan; API Gateway refuses one that still has keys.
func (f *Fake) DeleteUsagePlan(_ context.Context, in *apigateway.DeleteUsagePlanInput, _ ...func(*apigateway.Options)) (*apigateway.DeleteUsagePlanOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("DeleteUsagePlan"); err != nil {
		return nil, err
	}
	id := aws.ToString(in.UsagePlanId)
	if f.plans[id] == nil {
		return nil, notFound("usage plan")
	}
	if len(f.member[id]) > 0 {
		return nil, &types.BadRequestException{Message: aws.String("usage plan has keys")}
	}
	delete(f.plans, id)
	delete(f.member, id)
	return &apigateway.DeleteUsagePlanOutput{}, nil
}

// GetUsagePlanKeys lists a plan's API keys.
func (f *Fake) GetUsagePlanKeys(_ context.Context, in *apigateway.GetUsagePlanKeysInput, _ ...func(*apigateway.Options)) (*apigateway.GetUsagePlanKeysOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("GetUsagePlanKeys"); err != nil {
		return nil, err
	}
	id := aws.ToString(in.UsagePlanId)
	if f.plans[id] == nil {
		return nil, notFound("usage plan")
	}
	out := &apigateway.GetUsagePlanKeysOutput{}
	for kid := range f.member[id] {
		k := f.keys[kid]
		out.Items = append(out.Items, types.UsagePlanKey{Id: k.Id, Name: k.Name, Value: k.Value, Type: aws.String("API_KEY")})
	}
	return out, nil
}

// CreateUsagePlanKey adds an API key to a plan: Conflict when it is already in it,
// BadRequest when it is in another plan of the same stage (as API Gateway).
func (f *Fake) CreateUsagePlanKey(_ context.Context, in *apigateway.CreateUsagePlanKeyInput, _ ...func(*apigateway.Options)) (*apigateway.CreateUsagePlanKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("CreateUsagePlanKey"); err != nil {
		return nil, err
	}
	pid, kid := aws.ToString(in.UsagePlanId), aws.ToString(in.KeyId)
	p, k := f.plans[pid], f.keys[kid]
	if p == nil || k == nil {
		return nil, notFound("usage plan or API key")
	}
	if f.member[pid][kid] {
		return nil, &types.ConflictException{Message: aws.String("API key already in usage plan")}
	}
	for other, m := range f.member {
		if m[kid] && sameStage(f.plans[other].ApiStages, p.ApiStages) {
			return nil, &types.BadRequestException{Message: aws.String("API Key " + kid + " cannot reference multiple Usage Plans with the same API Stage")}
		}
	}
	f.member[pid][kid] = true
	return &apigateway.CreateUsagePlanKeyOutput{Id: k.Id, Name: k.Name, Value: k.Value, Type: in.KeyType}, nil
}

func sameStage(a, b []types.ApiStage) bool {
	for _, x := range a {
		for _, y := range b {
			if aws.ToString(x.ApiId) == aws.ToString(y.ApiId) && aws.ToString(x.Stage) == aws.ToString(y.Stage) {
				return true
			}
		}
	}
	return false
}

// DeleteUsagePlanKey removes an API key from a plan.
func (f *Fake) DeleteUsagePlanKey(_ context.Context, in *apigateway.DeleteUsagePlanKeyInput, _ ...func(*apigateway.Options)) (*apigateway.DeleteUsagePlanKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("DeleteUsagePlanKey"); err != nil {
		return nil, err
	}
	pid, kid := aws.ToString(in.UsagePlanId), aws.ToString(in.KeyId)
	if !f.member[pid][kid] {
		return nil, notFound("usage plan key")
	}
	delete(f.member[pid], kid)
	return &apigateway.DeleteUsagePlanKeyOutput{}, nil
}

// GetApiKeys lists API keys whose names start with NameQuery, all on one page.
func (f *Fake) GetApiKeys(_ context.Context, in *apigateway.GetApiKeysInput, _ ...func(*apigateway.Options)) (*apigateway.GetApiKeysOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("GetApiKeys"); err != nil {
		return nil, err
	}
	out := &apigateway.GetApiKeysOutput{}
	for _, k := range f.keys {
		if !strings.HasPrefix(aws.ToString(k.Name), aws.ToString(in.NameQuery)) {
			continue
		}
		c := *k
		if !aws.ToBool(in.IncludeValues) {
			c.Value = nil
		}
		out.Items = append(out.Items, c)
	}
	sort.Slice(out.Items, func(i, j int) bool { return aws.ToString(out.Items[i].Id) < aws.ToString(out.Items[j].Id) })
	return out, nil
}

// CreateApiKey adds an API key; values are unique (Conflict).
func (f *Fake) CreateApiKey(_ context.Context, in *apigateway.CreateApiKeyInput, _ ...func(*apigateway.Options)) (*apigateway.CreateApiKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("CreateApiKey"); err != nil {
		return nil, err
	}
	for _, k := range f.keys {
		if aws.ToString(k.Value) == aws.ToString(in.Value) {
			return nil, &types.ConflictException{Message: aws.String("API Key already exists")}
		}
	}
	id := f.id("ak")
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	created := now()
	f.keys[id] = &types.ApiKey{Id: aws.String(id), Name: in.Name, Value: in.Value, Enabled: in.Enabled, Description: in.Description, CreatedDate: &created}
	return &apigateway.CreateApiKeyOutput{Id: aws.String(id), Name: in.Name, Value: in.Value, Enabled: in.Enabled}, nil
}

// DeleteApiKey removes an API key and its plan memberships.
func (f *Fake) DeleteApiKey(_ context.Context, in *apigateway.DeleteApiKeyInput, _ ...func(*apigateway.Options)) (*apigateway.DeleteApiKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("DeleteApiKey"); err != nil {
		return nil, err
	}
	id := aws.ToString(in.ApiKey)
	if f.keys[id] == nil {
		return nil, notFound("API key")
	}
	delete(f.keys, id)
	for _, m := range f.member {
		delete(m, id)
	}
	return &apigateway.DeleteApiKeyOutput{}, nil
}

// DisableAPIKey marks the API key named name disabled, as an operator could by hand.
func (f *Fake) DisableAPIKey(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.keys {
		if aws.ToString(k.Name) == name {
			k.Enabled = false
			return nil
		}
	}
	return fmt.Errorf("no API key %s", name)
}

// GetUsage answers from Usage.
func (f *Fake) GetUsage(_ context.Context, in *apigateway.GetUsageInput, _ ...func(*apigateway.Options)) (*apigateway.GetUsageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("GetUsage"); err != nil {
		return nil, err
	}
	pid := aws.ToString(in.UsagePlanId)
	if f.plans[pid] == nil {
		return nil, notFound("usage plan")
	}
	items := map[string][][]int64{}
	for kid, days := range f.Usage[pid] {
		if in.KeyId == nil || *in.KeyId == kid {
			items[kid] = days
		}
	}
	return &apigateway.GetUsageOutput{UsagePlanId: in.UsagePlanId, StartDate: in.StartDate, EndDate: in.EndDate, Items: items}, nil
}
