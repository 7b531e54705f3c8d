package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
)

// FuzzGetUsageQuery feeds GetUsage's query parser (the local control plane's one parser of
// caller input) arbitrary query strings: it answers 200, 400 or 404 with JSON, never panics,
// and a page holds at most limit keys with a position that is a whole number ahead.
func FuzzGetUsageQuery(f *testing.F) {
	for _, q := range []string{
		"startDate=2026-11-05&endDate=2026-11-06",
		"startDate=2026-11-05&endDate=2026-11-05&keyId=k1&limit=1",
		"startDate=2026-11-05&endDate=2026-11-05&limit=1&position=1",
		"startDate=2026-11-05&endDate=2026-11-05&position=9223372036854775807&limit=500",
		"startDate=2026-11-06&endDate=2026-11-05",
		"startDate=0001-01-01&endDate=9999-12-31",
		"startDate=2026-02-30&endDate=2026-03-01",
		"limit=-1", "", "%zz", "startDate=2026-11-05&startDate=2026-11-04&endDate=2026-11-05",
	} {
		f.Add(q)
	}
	cp := newFakeControlPlane()
	cp.plan("p1", 1, 2, 3, types.QuotaPeriodTypeDay)
	cp.key("k1", value(1), true, "p1")
	cp.key("k2", value(2), true, "p1")
	e := meteredEnv(f, cp)
	h, err := e.gw.ControlPlane("http://127.0.0.1:1") // forwarding is not reached by GetUsage
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/usageplans/p1/usage", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%d %q: the body is not JSON: %s", rec.Code, query, rec.Body)
		}
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusNotFound:
			return
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, query, rec.Body)
		}
		q := req.URL.Query()
		limit := 25
		if v := q.Get("limit"); v != "" {
			limit, _ = strconv.Atoi(v)
		}
		values, _ := body["values"].(map[string]any)
		if len(values) > limit {
			t.Fatalf("%q: %d keys on a page of %d", query, len(values), limit)
		}
		if p, ok := body["position"].(string); ok && p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 {
				t.Fatalf("%q: position %q is not a whole number ahead", query, p)
			}
		}
	})
}
