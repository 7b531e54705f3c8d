package ratelimit_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/emulatortest"
	"github.com/keygate/keygate/shared/ratelimit"
)

var _ ratelimit.API = (*dynamodb.Client)(nil)

// The functions count in the tokens table (shared/app passes cfg.TokensTable to ratelimit.New).
const tableID = "TokensTable"

var (
	// start is 15 s into the window [12:00, 12:01).
	start       = time.Date(2025, 6, 1, 12, 0, 15, 0, time.UTC)
	windowStart = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	windowEnd   = windowStart.Add(ratelimit.Window)
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// countingAPI counts the UpdateItem calls that reach api.
type countingAPI struct {
	api   ratelimit.API
	calls atomic.Int64
}

func (c *countingAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.calls.Add(1)
	return c.api.UpdateItem(ctx, in, optFns...)
}

// limiterOn returns a limiter on a fresh table of the DynamoDB emulator, its clock at start.
func limiterOn(t *testing.T) (*ratelimit.Limiter, *clocktest.Clock, *dynamodb.Client, string) {
	t.Helper()
	db := emulatortest.DynamoDB(t)
	table := emulatortest.Table(t, db, tableID)
	clock := clocktest.New(start)
	return ratelimit.New(db, table, clock.Now), clock, db, table
}

func take(t *testing.T, l *ratelimit.Limiter, key string, limit int) ratelimit.Decision {
	t.Helper()
	d, err := l.Take(testContext(t), key, limit)
	if err != nil {
		t.Fatalf("Take(%s, %d): %v", key, limit, err)
	}
	return d
}

func TestTakeAllowsExactlyTheLimitInAWindow(t *testing.T) {
	l, clock, _, _ := limiterOn(t)
	for _, limit := range []int{1, 3, 10} {
		t.Run("a limit of "+strconv.Itoa(limit)+" allows that many and refuses the next", func(t *testing.T) {
			clock.Set(start)
			key := emulatortest.UniqueName("key_")
			for i := range limit {
				// Spread over the window, up to its last instant: the window is the minute.
				clock.Set(start.Add(time.Duration(i) * (windowEnd.Sub(start) - time.Nanosecond) / time.Duration(max(limit-1, 1))))
				want := ratelimit.Decision{Allowed: true, Limit: limit, Remaining: limit - 1 - i, Reset: windowEnd}
				if d := take(t, l, key, limit); !equal(d, want) {
					t.Fatalf("request %d at %s = %+v, want %+v", i+1, clock.Now().Format(time.RFC3339Nano), d, want)
				}
			}
			for i := range 3 {
				// Only the window's first refusal is marked (callers audit that one).
				want := ratelimit.Decision{Allowed: false, Limit: limit, Remaining: 0, Reset: windowEnd, FirstRefusal: i == 0}
				if d := take(t, l, key, limit); !equal(d, want) {
					t.Errorf("request %d = %+v, want the refusal %+v", limit+1+i, d, want)
				}
			}
		})
	}
}

func equal(a, b ratelimit.Decision) bool {
	return a.Allowed == b.Allowed && a.Limit == b.Limit && a.Remaining == b.Remaining && a.Reset.Equal(b.Reset) &&
		a.FirstRefusal == b.FirstRefusal
}

// Window items are keyed by the window's start, so a spent window stops counting the instant
// the next one begins, whether or not DynamoDB's TTL has deleted its item yet (the emulator
// never does): every step moves the clock and takes once.
func TestEachWindowHasItsOwnBudget(t *testing.T) {
	const limit = 2
	l, clock, db, table := limiterOn(t)
	key := emulatortest.UniqueName("key_")
	take(t, l, key, limit)
	take(t, l, key, limit)
	next := windowEnd.Add(ratelimit.Window)
	steps := []struct {
		name string
		at   time.Time
		want ratelimit.Decision
	}{
		{"the last nanosecond of a spent window is still refused", windowEnd.Add(-time.Nanosecond),
			ratelimit.Decision{Allowed: false, Limit: limit, Reset: windowEnd, FirstRefusal: true}},
		{"the next window starts with the whole budget", windowEnd,
			ratelimit.Decision{Allowed: true, Limit: limit, Remaining: limit - 1, Reset: next}},
		{"a container whose clock lags is still refused in the spent window", windowEnd.Add(-time.Second),
			ratelimit.Decision{Allowed: false, Limit: limit, Reset: windowEnd}},
		{"the new window keeps its own count", windowEnd.Add(59 * time.Second),
			ratelimit.Decision{Allowed: true, Limit: limit, Remaining: 0, Reset: next}},
		{"and is spent in turn, its first refusal marked again", windowEnd.Add(59 * time.Second),
			ratelimit.Decision{Allowed: false, Limit: limit, Reset: next, FirstRefusal: true}},
		{"a window an hour later starts fresh", windowEnd.Add(time.Hour),
			ratelimit.Decision{Allowed: true, Limit: limit, Remaining: limit - 1, Reset: windowEnd.Add(time.Hour + ratelimit.Window)}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clock.Set(s.at)
			if d := take(t, l, key, limit); !equal(d, s.want) {
				t.Errorf("Take at %s = %+v, want %+v", s.at.Format(time.RFC3339Nano), d, s.want)
			}
		})
	}
	// The spent window's item is still there, full, and was not counted after its window.
	if item := windowItem(t, db, table, key, windowStart); item == nil || item["count"] != "2" {
		t.Errorf("the first window's item = %v, want it kept with count 2 (TTL deletion is DynamoDB's, later)", item)
	}
}

// windowItem reads the window item of key starting at ws as strings, or nil when there is none.
func windowItem(t *testing.T, db *dynamodb.Client, table, key string, ws time.Time) map[string]string {
	t.Helper()
	out, err := db.GetItem(testContext(t), &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "rl#" + key},
			"sk": &types.AttributeValueMemberS{Value: strconv.FormatInt(ws.Unix(), 10)},
		},
	})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	if out.Item == nil {
		return nil
	}
	item := map[string]string{}
	for k, v := range out.Item {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			item[k] = v.Value
		case *types.AttributeValueMemberN:
			item[k] = v.Value
		default:
			item[k] = "?"
		}
	}
	return item
}

func TestKeysDoNotShareBudgets(t *testing.T) {
	l, _, _, _ := limiterOn(t)
	a, b := emulatortest.UniqueName("key_"), emulatortest.UniqueName("key_")
	for range 3 {
		take(t, l, a, 3)
	}
	if d := take(t, l, a, 3); d.Allowed {
		t.Fatalf("key a's fourth request was allowed: %+v", d)
	}
	for i := range 3 {
		if d := take(t, l, b, 3); !d.Allowed || d.Remaining != 2-i {
			t.Errorf("key b's request %d after key a spent its budget = %+v, want allowed with %d remaining", i+1, d, 2-i)
		}
	}
}

// The limit is the caller's (a key's plan may change); the count is the window's.
func TestALimitChangedMidWindowAppliesToTheCountSoFar(t *testing.T) {
	l, _, _, _ := limiterOn(t)
	key := emulatortest.UniqueName("key_")
	for range 3 {
		take(t, l, key, 5)
	}
	steps := []struct {
		name  string
		limit int
		want  ratelimit.Decision
	}{
		{"a limit lowered below the count refuses at once", 2, ratelimit.Decision{Allowed: false, Limit: 2, Reset: windowEnd, FirstRefusal: true}},
		{"a limit equal to the count refuses", 3, ratelimit.Decision{Allowed: false, Limit: 3, Reset: windowEnd}},
		{"a raised limit allows the difference", 10, ratelimit.Decision{Allowed: true, Limit: 10, Remaining: 6, Reset: windowEnd}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if d := take(t, l, key, s.limit); !equal(d, s.want) {
				t.Errorf("Take with limit %d = %+v, want %+v", s.limit, d, s.want)
			}
		})
	}
}

func TestALimitBelowOneAllowsNothingAndMakesNoCall(t *testing.T) {
	db := emulatortest.DynamoDB(t)
	api := &countingAPI{api: db}
	l := ratelimit.New(api, emulatortest.Table(t, db, tableID), clocktest.New(start).Now)
	for _, limit := range []int{0, -1, -1000} {
		t.Run("a limit of "+strconv.Itoa(limit), func(t *testing.T) {
			d, err := l.Take(testContext(t), emulatortest.UniqueName("key_"), limit)
			want := ratelimit.Decision{Allowed: false, Limit: limit, Remaining: 0, Reset: windowEnd}
			if err != nil || !equal(d, want) {
				t.Errorf("Take = %+v, %v; want %+v", d, err, want)
			}
		})
	}
	if n := api.calls.Load(); n != 0 {
		t.Errorf("%d UpdateItem calls for limits below 1, want none", n)
	}
}

// Every container counts in the same item: the conditional update must let exactly limit
// requests through however they interleave, each seeing its own remaining count.
func TestConcurrentTakesAllowExactlyTheLimit(t *testing.T) {
	const requests, limit = 50, 20
	l, _, _, _ := limiterOn(t)
	key := emulatortest.UniqueName("key_")
	var (
		mu        sync.Mutex
		remaining []int
		refused   int
		first     int
		wg        sync.WaitGroup
	)
	ctx := testContext(t)
	for range requests {
		wg.Go(func() {
			d, err := l.Take(ctx, key, limit)
			if err != nil {
				t.Errorf("Take: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if d.Allowed {
				remaining = append(remaining, d.Remaining)
			} else {
				refused++
			}
			if d.FirstRefusal {
				first++
			}
		})
	}
	wg.Wait()
	slices.Sort(remaining)
	want := make([]int, limit)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(remaining, want) || refused != requests-limit {
		t.Errorf("%d concurrent requests, limit %d: %d allowed with remaining %v, %d refused; want %d allowed with remaining 0…%d each once, %d refused",
			requests, limit, len(remaining), remaining, refused, limit, limit-1, requests-limit)
	}
	// However the refusals interleave, one of them is the window's first: the audit trail
	// gets one item per key and window, not one per refused request.
	if first != 1 {
		t.Errorf("%d refusals marked FirstRefusal, want exactly 1", first)
	}
}

func TestTheWindowItemExpiresOneWindowAfterTheWindowEnds(t *testing.T) {
	l, clock, db, table := limiterOn(t)
	key := emulatortest.UniqueName("key_")
	wantTTL := strconv.FormatInt(windowEnd.Add(ratelimit.Window).Unix(), 10)
	for i, at := range []time.Time{start, windowEnd.Add(-time.Second)} {
		clock.Set(at)
		take(t, l, key, 10)
		item := windowItem(t, db, table, key, windowStart)
		want := map[string]string{
			"pk": "rl#" + key, "sk": strconv.FormatInt(windowStart.Unix(), 10),
			"count": strconv.Itoa(i + 1), "ttl": wantTTL, // the window's, whenever in it a request comes
		}
		if !maps.Equal(item, want) {
			t.Errorf("after request %d the item = %v, want %v", i+1, item, want)
		}
	}
}

// A limiter that cannot count must say so: the caller answers 503, never 429 nor an allow.
func TestAFailedUpdateIsAnErrorNeverADecision(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (ratelimit.API, string)
	}{
		{"nothing listening at the endpoint", func(t *testing.T) (ratelimit.API, string) {
			return emulatortest.UnreachableDynamoDB(t), "keygate-test-tokens"
		}},
		{"a table that does not exist", func(t *testing.T) (ratelimit.API, string) {
			return emulatortest.DynamoDB(t), emulatortest.UniqueName("keygate-test-missing-")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api, table := tt.setup(t)
			l := ratelimit.New(api, table, clocktest.New(start).Now)
			d, err := l.Take(testContext(t), emulatortest.UniqueName("key_"), 10)
			if err == nil {
				t.Fatalf("Take = %+v, nil; want an error", d)
			}
			if d != (ratelimit.Decision{}) {
				t.Errorf("Take failed with %v but returned the decision %+v", err, d)
			}
			var ccf *types.ConditionalCheckFailedException
			if errors.As(err, &ccf) {
				t.Errorf("the error is a refusal: %v", err)
			}
		})
	}
}

func TestRetryAfterRoundsUpToWholeSecondsOfAtLeastOne(t *testing.T) {
	tests := []struct {
		name   string
		before time.Duration // how long before the reset RetryAfter is asked
		want   int
	}{
		{name: "a fifth of a second is one second", before: 200 * time.Millisecond, want: 1},
		{name: "59.1 seconds are 60", before: 59100 * time.Millisecond, want: 60},
		{name: "a whole second is one", before: time.Second, want: 1},
		{name: "a whole window is 60", before: ratelimit.Window, want: 60},
		{name: "a nanosecond is one second", before: time.Nanosecond, want: 1},
		{name: "the reset instant itself is one second", before: 0, want: 1},
		{name: "a reset already past is one second", before: -5 * time.Second, want: 1},
		{name: "a reset long past is one second", before: -time.Hour, want: 1},
		{name: "half a millisecond past a whole second rounds up", before: 30*time.Second + 500*time.Microsecond, want: 31},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ratelimit.Decision{Reset: windowEnd}
			if got := d.RetryAfter(windowEnd.Add(-tt.before)); got != tt.want {
				t.Errorf("RetryAfter %v before the reset = %d, want %d", tt.before, got, tt.want)
			}
		})
	}
}

func TestHeadersCarryTheDecision(t *testing.T) {
	reset := strconv.FormatInt(windowEnd.Unix(), 10)
	tests := []struct {
		name string
		d    ratelimit.Decision
		want map[string]string
	}{
		{"an allowed request shows what is left", ratelimit.Decision{Allowed: true, Limit: 20, Remaining: 7, Reset: windowEnd},
			map[string]string{"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "7", "X-RateLimit-Reset": reset}},
		{"a refused request shows nothing left", ratelimit.Decision{Limit: 20, Reset: windowEnd},
			map[string]string{"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}},
		{"the reset is in Unix seconds whatever the location", ratelimit.Decision{Limit: 1, Reset: windowEnd.In(time.FixedZone("UTC+5", 5*3600))},
			map[string]string{"X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.Headers(); !maps.Equal(got, tt.want) {
				t.Errorf("Headers = %v, want %v", got, tt.want)
			}
		})
	}
}

// Take's decisions carry the headers a client needs to back off: from a live refusal, the
// reset and the wait agree with the window.
func TestARefusalTellsTheClientWhenToComeBack(t *testing.T) {
	l, clock, _, _ := limiterOn(t)
	key := emulatortest.UniqueName("key_")
	take(t, l, key, 1)
	clock.Set(windowEnd.Add(-44900 * time.Millisecond)) // 15.1 s into the window
	d := take(t, l, key, 1)
	if d.Allowed {
		t.Fatalf("the second request of a limit of 1 was allowed: %+v", d)
	}
	if got := d.RetryAfter(clock.Now()); got != 45 {
		t.Errorf("RetryAfter = %d, want 45 (44.9 s rounded up)", got)
	}
	if h := d.Headers(); h["X-RateLimit-Reset"] != strconv.FormatInt(windowEnd.Unix(), 10) || h["X-RateLimit-Remaining"] != "0" {
		t.Errorf("Headers = %v", h)
	}
}
