package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/infra/local"
)

// endpoint is one token endpoint: its function and how to build the next request.
type endpoint struct {
	fn, route string
	// next returns the event for the next request, given the previous response body.
	next func(prev []byte) ([]byte, error)
}

// handlerThroughput drives the token and refresh functions against the moto emulators (DynamoDB, Secrets Manager),
// one request at a time as one Lambda container serves them: the functions' own bootstraps
// (their real handlers, DynamoDB store and AWS SDK clients, wired by their mains) under
// lambdarun, fed the events the local API Gateway produced. A second, fresh container whose
// endpoints are recording proxies (observe.go) logs the DynamoDB and Secrets Manager calls and
// when each started and ended, for the round trips and the sequential depth (not on the timed
// path).
func handlerThroughput(ctx context.Context, c *config, b *benchStack) ([]HandlerResult, error) {
	tokenEvent := b.events["TokenFunction"]
	refreshEvent := b.events["RefreshFunction"]
	first, err := b.newPair(ctx, b.server.URL)
	if err != nil {
		return nil, err
	}
	eps := []endpoint{
		{
			fn: "TokenFunction", route: "POST /v1/auth/token (API key → access + refresh token)",
			next: func([]byte) ([]byte, error) { return tokenEvent, nil },
		},
		{
			fn: "RefreshFunction", route: "POST /v1/auth/refresh (spend refresh token → new pair)",
			// A chain: each request spends the refresh token the previous one returned.
			next: func(prev []byte) ([]byte, error) {
				rt := first.Refresh
				if prev != nil {
					var p tokenPair
					if err := json.Unmarshal(prev, &p); err != nil || p.Refresh == "" {
						return nil, fmt.Errorf("refresh response %s: %v", tail(string(prev), 200), err)
					}
					rt = p.Refresh
				}
				return withBody(refreshEvent, map[string]string{"refresh_token": rt})
			},
		},
	}
	var out []HandlerResult
	for _, ep := range eps {
		res, err := measureEndpoint(ctx, c, b, ep)
		if err != nil {
			return out, fmt.Errorf("%s: %w", ep.fn, err)
		}
		out = append(out, res)
	}
	return out, nil
}

func measureEndpoint(ctx context.Context, c *config, b *benchStack, ep endpoint) (HandlerResult, error) {
	res := HandlerResult{Route: ep.route}
	var prev []byte
	step := func(st *local.Stack) (time.Duration, error) {
		payload, err := ep.next(prev)
		if err != nil {
			return 0, err
		}
		t := time.Now()
		out, err := st.Invoke(ctx, ep.fn, payload)
		d := time.Since(t)
		if err != nil {
			return 0, err
		}
		var resp events.APIGatewayProxyResponse
		if err := json.Unmarshal(out, &resp); err != nil || resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("status %d, %v: %s", resp.StatusCode, err, tail(string(out), 300))
		}
		prev = []byte(resp.Body)
		return d, nil
	}
	// The timed container is the bench stack's own, talking to the emulators directly.
	for range 5 { // warm: keyring, pepper, connections
		if _, err := step(b.stack); err != nil {
			return res, err
		}
	}
	c.logf("handler: %s for %s", ep.fn, c.handlerDuration)
	var lat []time.Duration
	start := time.Now()
	for time.Since(start) < c.handlerDuration {
		d, err := step(b.stack)
		if err != nil {
			return res, err
		}
		lat = append(lat, d)
	}
	res.Elapsed = time.Since(start)
	res.Requests = len(lat)
	slices.Sort(lat)
	res.P50, res.P99 = percentile(lat, 0.5), percentile(lat, 0.99)

	// A fresh container behind recording proxies: its first request, then warm ones.
	ddbLog := startCallLog(c.ddb, svcDynamoDB, nil)
	defer ddbLog.Close()
	smLog := startCallLog(c.sm, svcSecrets, nil)
	defer smLog.Close()
	o := c.stackOptions(benchParams(nil), true, c.functionLogs)
	o.DynamoDB, o.Secrets = ddbLog.URL, smLog.URL
	counted, err := local.Start(ctx, o)
	if err != nil {
		return res, err
	}
	defer counted.Close()
	observed := func() ([]Call, error) {
		m1, m2, t0 := ddbLog.mark(), smLog.mark(), time.Now()
		if _, err := step(counted); err != nil {
			return nil, err
		}
		return append(ddbLog.since(m1, t0), smLog.since(m2, t0)...), nil
	}
	first, err := observed()
	if err != nil {
		return res, err
	}
	for _, call := range first {
		if call.Service == svcDynamoDB {
			res.FirstDynamoDB++
		} else {
			res.FirstSecrets++
		}
	}
	res.FirstDepth = depth(first)
	const n = 50
	ddbOps, smOps := map[string]int{}, map[string]int{}
	depths := make([]int, 0, n)
	for range n {
		calls, err := observed()
		if err != nil {
			return res, err
		}
		depths = append(depths, depth(calls))
		for _, call := range calls {
			if call.Service == svcDynamoDB {
				ddbOps[call.Op]++
			} else {
				smOps[call.Op]++
			}
		}
	}
	slices.Sort(depths)
	res.Depth, res.MaxDepth = depths[n/2], depths[n-1]
	res.DynamoDB = perRequest(ddbOps, n)
	res.Secrets = perRequest(smOps, n)
	return res, nil
}

func perRequest(m map[string]int, n int) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = float64(v) / float64(n)
	}
	return out
}
