package usageplan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"

	"github.com/keygate/keygate/shared/store"
)

// OrphanGrace is how old an API key without a keygate key must be before Sync deletes it: the
// admin API stores a key right after making its API key, and the listing that Sync reads keys
// from (a secondary index) may lag behind by a moment.
const OrphanGrace = 10 * time.Minute

// Report is what Sync found and did.
type Report struct {
	Keys          int      // keygate keys read
	Ensured       int      // usable keys whose API key and plan were checked (and repaired)
	Removed       int      // API keys of revoked, expired or deleted keygate keys deleted
	PlansDeleted  int      // duplicate or unused (tier, rate_limit) plans deleted
	Failed        []string // key ids (or plan names) that could not be repaired, with why
	UnknownTiers  []string // key ids whose tier has no plan: they stay refused until fixed
	OrphanAPIKeys []string // API key names without a keygate key, deleted
}

// Sync repairs the stage after a crash, an outage half-way through an admin call, or keys made
// before usage plans: every usable key gets its API key in its plan (Ensure), API keys of keys
// that are revoked, expired or gone are deleted, and (tier, rate_limit) plans that no key uses,
// or that a race created twice, are deleted. keys yields every keygate key of the stage. It
// carries on past one key's failure and reports it; the error is for failures that stop it.
func (m *Manager) Sync(ctx context.Context, keys func(yield func(store.Key) bool) error) (Report, error) {
	var r Report
	// API keys first, then the keys table: an API key made after this listing is not judged at
	// all, and one made just before it (its keygate key not yet visible in the list index,
	// which lags) is spared by OrphanGrace.
	all, err := m.apiKeys(ctx, m.prefix+"key_")
	if err != nil {
		return r, err
	}
	had := map[string]bool{}
	for _, ak := range all {
		had[aws.ToString(ak.Name)] = true
	}
	seen := map[string]bool{} // every key of the table: Ensure handles its API key
	err = keys(func(k store.Key) bool {
		r.Keys++
		name := m.APIKeyName(k.KeyID)
		seen[name] = true
		switch err := m.Ensure(ctx, k); {
		case errors.Is(err, ErrUnknownTier):
			r.UnknownTiers = append(r.UnknownTiers, k.KeyID+" (tier "+k.Tier+")")
		case err != nil:
			r.Failed = append(r.Failed, k.KeyID+": "+err.Error())
		case k.Status == store.StatusActive && k.Usable(m.now()):
			r.Ensured++
		case had[name]: // revoked or expired: Ensure deleted its API key
			r.Removed++
		}
		return ctx.Err() == nil
	})
	if err != nil {
		return r, fmt.Errorf("usageplan: sync: read keys: %w", err)
	}
	for _, ak := range all {
		name := aws.ToString(ak.Name)
		if seen[name] {
			continue
		}
		if ak.CreatedDate != nil && m.now().Sub(*ak.CreatedDate) < OrphanGrace {
			continue // a create in flight: its key is stored right after its API key
		}
		if err := m.deleteAPIKey(ctx, aws.ToString(ak.Id)); err != nil {
			r.Failed = append(r.Failed, name+": "+err.Error())
			continue
		}
		r.Removed++
		r.OrphanAPIKeys = append(r.OrphanAPIKeys, name)
	}
	return r, m.prunePlans(ctx, &r)
}

// prunePlans deletes (tier, rate_limit) plans without keys, and every copy but the first of a
// plan a race created twice (moving its keys to the first).
func (m *Manager) prunePlans(ctx context.Context, r *Report) error {
	plans, err := m.list(ctx, true)
	if err != nil {
		return err
	}
	seen := map[string]Plan{}
	for _, p := range plans {
		if !p.Custom {
			continue
		}
		keys, err := m.planKeys(ctx, p.ID)
		if err != nil {
			r.Failed = append(r.Failed, p.Name+": "+err.Error())
			continue
		}
		first, dup := seen[p.Name]
		if !dup {
			seen[p.Name] = p
		}
		if dup {
			for _, id := range keys {
				if err := m.move(ctx, id, first); err != nil {
					r.Failed = append(r.Failed, p.Name+": "+err.Error())
				}
			}
		} else if len(keys) > 0 {
			continue
		}
		if _, err := m.gw.DeleteUsagePlan(ctx, &apigateway.DeleteUsagePlanInput{UsagePlanId: aws.String(p.ID)}); err != nil && !isNotFound(err) {
			r.Failed = append(r.Failed, p.Name+": "+gatewayErr("delete usage plan", err).Error())
			continue
		}
		r.PlansDeleted++
	}
	if r.PlansDeleted > 0 {
		_, err = m.list(ctx, true)
	}
	return err
}

// planKeys lists the ids of the API keys in a plan.
func (m *Manager) planKeys(ctx context.Context, planID string) ([]string, error) {
	var out []string
	pages := apigateway.NewGetUsagePlanKeysPaginator(m.gw, &apigateway.GetUsagePlanKeysInput{UsagePlanId: aws.String(planID), Limit: aws.Int32(500)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, gatewayErr("list a plan's keys", err)
		}
		for _, k := range page.Items {
			out = append(out, aws.ToString(k.Id))
		}
	}
	return out, nil
}

// String is the report in a few lines, for authctl.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "keys read: %d, in their plans: %d, API keys removed: %d, plans deleted: %d\n",
		r.Keys, r.Ensured, r.Removed, r.PlansDeleted)
	for _, s := range r.UnknownTiers {
		fmt.Fprintf(&b, "unknown tier (key refused until its tier is changed): %s\n", s)
	}
	for _, s := range r.Failed {
		fmt.Fprintf(&b, "failed: %s\n", s)
	}
	return b.String()
}
