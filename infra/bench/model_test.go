package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

func ddbCall(op string, start, end time.Duration) Call {
	return Call{Service: svcDynamoDB, Op: op, Start: start, End: end}
}

func TestDepthCountsCallsThatOverlapOnce(t *testing.T) {
	tests := []struct {
		name  string
		calls []Call
		want  int
	}{
		{"no calls", nil, 0},
		{"one after the other", []Call{ddbCall("GetItem", 0, 5*ms), ddbCall("TransactWriteItems", 6*ms, 18*ms), ddbCall("UpdateItem", 19*ms, 24*ms)}, 3},
		{"two sent together, then one", []Call{ddbCall("GetItem", 0, 5*ms), ddbCall("GetItem", ms, 7*ms), ddbCall("UpdateItem", 8*ms, 12*ms)}, 2},
		{"one beside a chain of two", []Call{ddbCall("Query", 0, 20*ms), ddbCall("GetItem", ms, 5*ms), ddbCall("PutItem", 6*ms, 10*ms)}, 2},
		{"a call that starts as another ends follows it", []Call{ddbCall("GetItem", 0, 5*ms), ddbCall("PutItem", 5*ms, 9*ms)}, 2},
	}
	for _, tc := range tests {
		if got := depth(tc.calls); got != tc.want {
			t.Errorf("%s: depth %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestTheCriticalPathIsTheHeaviestChainAtAWSLatencies(t *testing.T) {
	// A Query (8 ms at p50) beside a GetItem then a PutItem (5 + 5 ms): the chain of two weighs
	// more although the Query took longer on the emulator.
	s := Sample{Calls: []Call{ddbCall("Query", 0, 20*ms), ddbCall("GetItem", ms, 5*ms), ddbCall("PutItem", 6*ms, 10*ms)}}
	if got := s.ioWait(false); got != 10*ms {
		t.Errorf("p50 I/O wait %v, want 10ms", got)
	}
	// At p99 one call of the chain is slow (+10 ms), not both.
	if got := s.ioWait(true); got != 20*ms {
		t.Errorf("p99 I/O wait %v, want 20ms", got)
	}
	sm := Sample{Calls: []Call{{Service: svcSecrets, Op: "GetSecretValue", End: ms}, {Service: svcSecrets, Op: "GetSecretValue", End: ms}}}
	if got := sm.ioWait(false); got != latSecretsManager.p50 {
		t.Errorf("two Secrets Manager calls in parallel wait %v, want one call's %v", got, latSecretsManager.p50)
	}
}

func TestCPUStretchesWithTheShareOfAVCPUAndIOWaitDoesNot(t *testing.T) {
	s := Sample{CPU: ms, Calls: []Call{ddbCall("GetItem", 0, ms), ddbCall("TransactWriteItems", 2*ms, 3*ms)}}
	stretched := func(k float64, mem int) time.Duration { return time.Duration(k * 1769 / float64(mem) * float64(ms)) }
	tests := []struct {
		mem  int
		p99  bool
		k    float64
		want time.Duration
	}{
		{128, false, 1, stretched(1, 128) + 17*ms},
		{1024, false, 1, stretched(1, 1024) + 17*ms},
		{1769, false, 1, 18 * ms},
		{3008, false, 1, 18 * ms}, // more than one vCPU does not speed up one request
		{128, true, 1, stretched(1, 128) + 35*ms},
		{128, true, 2, stretched(2, 128) + 35*ms},
	}
	for _, tc := range tests {
		if got := s.modelled(tc.mem, tc.p99, tc.k); (got - tc.want).Abs() > time.Microsecond {
			t.Errorf("%d MB (p99 %v, %v× CPU): %v, want %v", tc.mem, tc.p99, tc.k, got, tc.want)
		}
	}
	if billedDuration(0) != ms || billedDuration(ms) != ms || billedDuration(ms+1) != 2*ms {
		t.Error("Lambda bills each request rounded up to the millisecond, 1 ms at least")
	}
}

// modelProfiles: a token function of 1 ms CPU with a GetItem and a transaction, an authorizer
// of 200 µs CPU without calls.
func modelProfiles() []Profile {
	token := Profile{Function: "TokenFunction", MemoryMB: 256, PeakRSS: 20 << 20}
	auth := Profile{Function: "AuthorizerFunction", Case: "first-seen token", MemoryMB: 512, PeakRSS: 20 << 20}
	repeated := Profile{Function: "AuthorizerFunction", Case: "repeated token", MemoryMB: 512, PeakRSS: 20 << 20}
	for range 100 {
		token.Warm = append(token.Warm, Sample{CPU: ms, Calls: []Call{
			{Service: svcDynamoDB, Op: "GetItem", End: 5 * ms, RRU: 1},
			{Service: svcDynamoDB, Op: "TransactWriteItems", Start: 6 * ms, End: 18 * ms, WRU: 4},
		}})
		auth.Warm = append(auth.Warm, Sample{CPU: 200 * time.Microsecond})
		repeated.Warm = append(repeated.Warm, Sample{CPU: 100 * time.Microsecond})
	}
	return []Profile{token, repeated, auth}
}

func TestTheRecommendationIsTheCheapestSizeThatKeepsTheBudgetAtTwiceTheCPU(t *testing.T) {
	recs := recommend(modelProfiles())
	if len(recs) != 2 {
		t.Fatalf("%d recommendations: %+v", len(recs), recs)
	}
	// Token: at 128 MB the p99 with 2× CPU is 2 × 13.8 ms + 35 ms > 50 ms; at 256 MB 48.8 ms.
	tok := recs[0]
	if tok.Function != "TokenFunction" || tok.MemoryMB != 256 || !tok.Fits || tok.Template != 256 || len(tok.Sizes) != len(memorySizes) {
		t.Errorf("token: %+v", tok)
	}
	// The authorizer fits in 128 MB; its first-seen case is the heavier one.
	auth := recs[1]
	if auth.Function != "AuthorizerFunction" || auth.MemoryMB != 128 || !auth.Fits || auth.Case != "first-seen token" {
		t.Errorf("authorizer: %+v", auth)
	}

	// A budget no size keeps: the size that comes closest, marked as not fitting.
	ps := modelProfiles()
	for i := range ps[0].Warm {
		ps[0].Warm[i].CPU = 20 * ms
	}
	if r := recommend(ps)[0]; r.Fits || r.MemoryMB != 1024 {
		t.Errorf("20 ms of CPU: %+v, want 1024 MB, not fitting", r)
	}
	// The process must leave half the memory free.
	ps = modelProfiles()
	ps[0].PeakRSS = 200 << 20
	if r := recommend(ps)[0]; r.MemoryMB != 512 {
		t.Errorf("200 MB peak RSS: %d MB, want 512", r.MemoryMB)
	}
}

func TestCostsPerMillionAddUpTheObservedCallsAtListPrices(t *testing.T) {
	r := &Results{Profiles: modelProfiles()}
	costs := r.Costs()
	if len(costs) != 1+len(cacheHitRatios) {
		t.Fatalf("%d cost lines: %+v", len(costs), costs)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	// Token at 256 MB: billed ceil(6.91 + 17 ms) = 24 ms → 0.25 GB × 0.024 s per request.
	tok := costs[0]
	duration := 0.25 * 0.024 * prices.LambdaArm64PerGBSecond * 1e6
	if !near(tok.APIGateway, prices.APIGatewayRESTPerMillion) || !near(tok.LambdaRequests, prices.LambdaRequestsPerMillion) ||
		!near(tok.LambdaDuration, duration) || !near(tok.DynamoDBRead, prices.DynamoDBReadPerMillionRRU) ||
		!near(tok.DynamoDBWrite, 4*prices.DynamoDBWritePerMillionWRU) || tok.SecretsManager != 0 {
		t.Errorf("token line %+v", tok)
	}
	if !near(tok.Total(), 3.5+0.2+duration+0.125+2.5) {
		t.Errorf("token total %v", tok.Total())
	}
	if !strings.Contains(tok.Detail, "depth 2") || !strings.Contains(tok.Detail, "256 MB") {
		t.Errorf("token detail %q", tok.Detail)
	}
	// Protected calls: API Gateway on every call, the authorizer (128 MB, 3 ms billed) on misses.
	invocation := prices.LambdaRequestsPerMillion + 0.125*0.003*prices.LambdaArm64PerGBSecond*1e6
	for i, hit := range cacheHitRatios {
		l := costs[1+i]
		if want := prices.APIGatewayRESTPerMillion + (1-hit)*invocation; !near(l.Total(), want) {
			t.Errorf("%s: %v, want %v", l.Name, l.Total(), want)
		}
	}
	if costs[2].Name != "protected calls, authorizer cache hit 90 %" {
		t.Errorf("name %q", costs[2].Name)
	}
}

func TestTheModelSectionsAppearOnlyWhenFunctionsWereProfiled(t *testing.T) {
	r := sample()
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Cost per million") {
		t.Error("cost section without profiles")
	}
	r.Profiles = modelProfiles()
	b.Reset()
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"| TokenFunction | 256 MB (template 256 MB) |",
		"| AuthorizerFunction (first-seen token) | 128 MB (template 512 MB) |",
		"| p99 ≤ 50.0 ms ✅ |",
		"| token requests (POST /v1/auth/token) | $6.41 |",
		"| for comparison: Amazon Cognito M2M token requests | $2,250 |",
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
	var svg bytes.Buffer
	if err := r.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(svg.String(), "Cognito M2M token requests") || !strings.Contains(svg.String(), "$6.41") {
		t.Error("the chart lacks the cost panel")
	}
}

// ddb builds a DynamoDB JSON request body.
func ddb(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func s(v string) map[string]string { return map[string]string{"S": v} }

func TestRequestUnitsFollowDynamoDBsRules(t *testing.T) {
	tables := map[string]tableSchema{
		"keys":   {Key: []string{"pk"}, GSIs: [][]string{{"list_pk", "list_sk"}}},
		"tokens": {Key: []string{"pk", "sk"}},
	}
	big := strings.Repeat("x", 5000)
	tests := []struct {
		name     string
		op       string
		req      any
		resp     any
		rru, wru float64
	}{
		{"an eventually consistent read of a small item", "GetItem",
			map[string]any{"TableName": "tokens", "Key": map[string]any{"pk": s("a"), "sk": s("b")}},
			map[string]any{"Item": map[string]any{"pk": s("a"), "sk": s("b")}}, 0.5, 0},
		{"a strongly consistent read of a 5 KB item", "GetItem",
			map[string]any{"TableName": "keys", "Key": map[string]any{"pk": s("big")}, "ConsistentRead": true},
			map[string]any{"Item": map[string]any{"pk": s("big"), "v": s(big)}}, 2, 0},
		{"a read that finds nothing", "GetItem",
			map[string]any{"TableName": "keys", "Key": map[string]any{"pk": s("none")}, "ConsistentRead": true},
			map[string]any{}, 1, 0},
		{"a put of 1.5 KB", "PutItem",
			map[string]any{"TableName": "tokens", "Item": map[string]any{"pk": s("p"), "sk": s("q"), "v": s(strings.Repeat("y", 1500))}},
			map[string]any{}, 0, 2},
		{"a put of an item in the index writes the index too", "PutItem",
			map[string]any{"TableName": "keys", "Item": map[string]any{"pk": s("head"), "list_pk": s("k"), "list_sk": s("1")}},
			map[string]any{}, 0, 2},
		{"an update of that item, never read, knows it is in the index", "UpdateItem",
			map[string]any{"TableName": "keys", "Key": map[string]any{"pk": s("head")}, "UpdateExpression": "SET last_used_at = :t",
				"ExpressionAttributeValues": map[string]any{":t": map[string]string{"N": "1700000000"}}},
			map[string]any{}, 0, 2},
		{"a transaction costs two units per item", "TransactWriteItems",
			map[string]any{"TransactItems": []any{
				map[string]any{"Put": map[string]any{"TableName": "tokens", "Item": map[string]any{"pk": s("f"), "sk": s("fam")}}},
				map[string]any{"Update": map[string]any{"TableName": "tokens", "Key": map[string]any{"pk": s("p"), "sk": s("q")}, "UpdateExpression": "SET #s = :s",
					"ExpressionAttributeNames": map[string]string{"#s": "status"}, "ExpressionAttributeValues": map[string]any{":s": s("used")}}},
			}},
			map[string]any{}, 0, 2 + 4}, // the updated item is the 1.5 KB one put above
		{"a query adds up the items before rounding", "Query",
			map[string]any{"TableName": "tokens"},
			map[string]any{"Items": []any{
				map[string]any{"pk": s("a"), "sk": s("1"), "v": s(strings.Repeat("z", 3000))},
				map[string]any{"pk": s("a"), "sk": s("2"), "v": s(strings.Repeat("z", 3000))},
			}, "Count": 2, "ScannedCount": 2}, 1, 0},
		{"a delete of an item never seen", "DeleteItem",
			map[string]any{"TableName": "tokens", "Key": map[string]any{"pk": s("gone"), "sk": s("x")}},
			map[string]any{}, 0, 1},
		{"a call that is not a read or a write", "DescribeTable", map[string]any{"TableName": "keys"}, map[string]any{}, 0, 0},
	}
	c := newCapacity(tables)
	for _, tc := range tests {
		rru, wru := c.count(tc.op, ddb(t, tc.req), ddb(t, tc.resp))
		if rru != tc.rru || wru != tc.wru {
			t.Errorf("%s: %v RRU, %v WRU; want %v, %v", tc.name, rru, wru, tc.rru, tc.wru)
		}
	}
}

func TestItemSizesFollowDynamoDBsRules(t *testing.T) {
	tests := []struct {
		value string
		want  int
	}{
		{`{"S":"héllo"}`, 6},
		{`{"N":"123"}`, 3},
		{`{"N":"-0.00120"}`, 2},
		{`{"N":"1700000000"}`, 2}, // trailing zeros trimmed
		{`{"B":"AAEC"}`, 3},
		{`{"BOOL":true}`, 1},
		{`{"NULL":true}`, 1},
		{`{"SS":["ab","c"]}`, 3},
		{`{"L":[{"S":"ab"},{"N":"1"}]}`, 3 + 1 + 2 + 1 + 2},
		{`{"M":{"k":{"S":"ab"}}}`, 3 + 1 + 1 + 2},
	}
	for _, tc := range tests {
		if got := valueSize(json.RawMessage(tc.value)); got != tc.want {
			t.Errorf("%s: %d bytes, want %d", tc.value, got, tc.want)
		}
	}
}

// The call log passes every call through unchanged and records it with its timing and units.
func TestTheCallLogRecordsEachCallAndPassesItThrough(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		io.WriteString(w, `{"Item":{"pk":{"S":"a"}}}`)
	}))
	defer backend.Close()
	l := startCallLog(backend.URL, svcDynamoDB, newCapacity(map[string]tableSchema{"t": {Key: []string{"pk"}}}))
	defer l.Close()
	m, t0 := l.mark(), time.Now()
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, l.URL, strings.NewReader(`{"TableName":"t","Key":{"pk":{"S":"a"}}}`))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != `{"Item":{"pk":{"S":"a"}}}` {
			t.Fatalf("answer %q", body)
		}
	}
	calls := l.since(m, t0)
	if len(calls) != 2 || calls[0].Op != "GetItem" || calls[0].Service != svcDynamoDB || calls[0].RRU != 0.5 {
		t.Fatalf("calls %+v", calls)
	}
	if calls[0].End-calls[0].Start < 2*time.Millisecond || calls[1].Start < calls[0].End {
		t.Errorf("timing %+v", calls)
	}
	if depth(calls) != 2 {
		t.Errorf("two calls one after the other: depth %d", depth(calls))
	}
}
