package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
)

// ControlPlane returns API Gateway's control plane (the REST API the AWS SDK's apigateway
// client speaks) as the functions see it locally. Every request is forwarded to upstream,
// the emulator, except GetUsage (GET /usageplans/{usageplanId}/usage), which moto does not
// implement: this gateway answers it from its own per-key counters, in API Gateway's format.
// Every mutating request (POST, PUT, PATCH, DELETE) makes the gateway reload the usage plans
// before its next metered request, once the emulator has answered and before the caller
// sees that answer, so a key created, disabled, moved to another plan or deleted takes effect
// at once. Without UsagePlans in the Config, GetUsage is forwarded like the rest.
func (g *Gateway) ControlPlane(upstream string) (http.Handler, error) {
	u, err := url.Parse(upstream)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("gateway: control plane upstream %q is not an absolute URL", upstream)
	}
	invalidate := func(method string) {
		if g.plans != nil && method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions {
			g.plans.invalidate()
		}
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		ModifyResponse: func(resp *http.Response) error {
			invalidate(resp.Request.Method)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			invalidate(r.Method) // the emulator may have applied it before the connection broke
			g.logger.Warn("control plane: forwarding failed", "method", r.Method, "path", r.URL.Path, "error", err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	mux := http.NewServeMux()
	mux.Handle("/", rp)
	mux.HandleFunc("GET /usageplans/{id}/usage", func(w http.ResponseWriter, r *http.Request) {
		if g.plans == nil {
			rp.ServeHTTP(w, r)
			return
		}
		g.serveUsage(w, r)
	})
	return mux, nil
}

// InvalidateUsagePlans makes the next metered request reload the API keys and usage plans
// (for changes made to the emulator without going through ControlPlane).
func (g *Gateway) InvalidateUsagePlans() {
	if g.plans != nil {
		g.plans.invalidate()
	}
}

// usageOutput is GetUsage's answer on the wire: "values" (the SDK's Items) maps each API key
// id to one [used, remaining] pair per day from startDate to endDate.
type usageOutput struct {
	UsagePlanID string                `json:"usagePlanId"`
	StartDate   string                `json:"startDate"`
	EndDate     string                `json:"endDate"`
	Values      map[string][][2]int64 `json:"values"`
	Position    string                `json:"position,omitempty"`
}

const (
	usageDateLayout = "2006-01-02"
	// maxUsageRange bounds the days one GetUsage may ask for, so an answer stays small.
	maxUsageRange = 3660
)

// serveUsage answers GetUsage from the counters. Per day: the requests of that UTC day that
// counted (throttled and over-quota requests do not), and what is left of the quota of the
// period holding that day after it (0 for a plan without a quota).
// maxUsagePosition bounds GetUsage's position: far more keys than a usage plan holds.
const maxUsagePosition = 1 << 30

func (g *Gateway) serveUsage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, err1 := time.Parse(usageDateLayout, q.Get("startDate"))
	end, err2 := time.Parse(usageDateLayout, q.Get("endDate"))
	switch {
	case err1 != nil || err2 != nil:
		controlPlaneError(w, http.StatusBadRequest, "BadRequestException", "startDate and endDate are required, as YYYY-MM-DD")
		return
	case end.Before(start):
		controlPlaneError(w, http.StatusBadRequest, "BadRequestException", "endDate is before startDate")
		return
	case end.Sub(start) > maxUsageRange*24*time.Hour:
		controlPlaneError(w, http.StatusBadRequest, "BadRequestException", "the date range is too long")
		return
	}
	limit, offset := 25, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			controlPlaneError(w, http.StatusBadRequest, "BadRequestException", "limit must be between 1 and 500")
			return
		}
		limit = n
	}
	if v := q.Get("position"); v != "" {
		n, err := strconv.Atoi(v)
		// Positions are the ones this answers (an offset into the keys): bounded, so that
		// offset+limit cannot overflow into a negative next position.
		if err != nil || n < 0 || n > maxUsagePosition {
			controlPlaneError(w, http.StatusBadRequest, "BadRequestException", "invalid position")
			return
		}
		offset = n
	}
	values, err := g.plans.usage(r.Context(), r.PathValue("id"), q.Get("keyId"), start, end)
	switch {
	case errors.Is(err, errUnknownUsagePlan):
		controlPlaneError(w, http.StatusNotFound, "NotFoundException", "Invalid Usage Plan ID specified")
		return
	case err != nil:
		g.logger.Warn("control plane: GetUsage failed", "error", err)
		controlPlaneError(w, http.StatusInternalServerError, "InternalServerErrorException", "internal error")
		return
	}
	ids := make([]string, 0, len(values))
	for id := range values {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := usageOutput{UsagePlanID: r.PathValue("id"), StartDate: start.Format(usageDateLayout), EndDate: end.Format(usageDateLayout),
		Values: map[string][][2]int64{}}
	for i := offset; i < len(ids) && i < offset+limit; i++ {
		out.Values[ids[i]] = values[ids[i]]
	}
	if offset+limit < len(ids) {
		out.Position = strconv.Itoa(offset + limit)
	}
	body, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// controlPlaneError writes an error the way API Gateway's control plane does: the type in
// x-amzn-ErrorType (which the SDK reads) and {"message": ...}.
func controlPlaneError(w http.ResponseWriter, status int, typ, message string) {
	body, _ := json.Marshal(map[string]string{"message": message})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", typ)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

var errUnknownUsagePlan = errors.New("gateway: no such usage plan")

// usage returns, for each API key of the plan (only keyID when it is set), its daily
// [used, remaining] pairs from start to end (UTC days).
func (u *usagePlans) usage(ctx context.Context, planID, keyID string, start, end time.Time) (map[string][][2]int64, error) {
	s, _ := u.current(ctx)
	if s == nil || s.plans[planID] == nil {
		var err error
		if s, err = u.fresh(ctx); s == nil {
			return nil, err
		}
	}
	plan, keys := s.plans[planID], s.planKeys[planID]
	if plan == nil {
		// Not a plan of this stage: it has no requests here. Ask the emulator whether it
		// exists at all, and which keys it holds.
		p, err := u.src.Client.GetUsagePlan(ctx, &apigateway.GetUsagePlanInput{UsagePlanId: aws.String(planID)})
		if err != nil {
			var nf *types.NotFoundException
			if errors.As(err, &nf) {
				return nil, errUnknownUsagePlan
			}
			return nil, err
		}
		plan = limitsOf(types.UsagePlan{Id: p.Id, Throttle: p.Throttle, Quota: p.Quota})
		kp := apigateway.NewGetUsagePlanKeysPaginator(u.src.Client, &apigateway.GetUsagePlanKeysInput{UsagePlanId: aws.String(planID)})
		for kp.HasMorePages() {
			page, err := kp.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, k := range page.Items {
				keys = append(keys, aws.ToString(k.Id))
			}
		}
	}
	want := map[string]bool{}
	for _, id := range keys {
		want[id] = true
	}
	counters := map[string]*usageCounter{}
	u.cmu.Lock()
	for k, c := range u.counters {
		if k.planID == planID {
			counters[k.keyID] = c
			want[k.keyID] = true // a key moved away keeps its history in the plan
		}
	}
	u.cmu.Unlock()
	out := map[string][][2]int64{}
	for id := range want {
		if keyID != "" && id != keyID {
			continue
		}
		out[id] = dailyUsage(plan, counters[id], start, end)
	}
	return out, nil
}

func dailyUsage(p *planLimits, c *usageCounter, start, end time.Time) [][2]int64 {
	if c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
	}
	used := func(day int64) int64 {
		if c == nil {
			return 0
		}
		return c.days[day]
	}
	var out [][2]int64
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		day := dayNumber(d)
		remaining := int64(0)
		if p.hasQuota {
			var inPeriod int64
			for pd := dayNumber(periodStart(p.period, d)); pd <= day; pd++ {
				inPeriod += used(pd)
			}
			remaining = max(p.quota-inPeriod, 0)
		}
		out = append(out, [2]int64{used(day), remaining})
	}
	return out
}
