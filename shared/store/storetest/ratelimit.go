package storetest

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/store"
)

// Limiter is what every rate limiter implements (memstore.Limiter and dynamo.Limiter, which
// authapi.Limiter consumes).
type Limiter interface {
	Take(ctx context.Context, keyID string, limit int) (store.RateDecision, error)
}

// LimiterStore is a rate limiter under test and a way to look at its windows.
type LimiterStore struct {
	Limiter Limiter
	// Count returns how many Takes the window of keyID starting at start allowed, and whether
	// that window is stored at all.
	Count func(ctx context.Context, keyID string, start time.Time) (count int, ok bool, err error)
}

// The limiter cases run in the window [12:00, 12:01), starting 15 s into it.
var (
	rateStart   = Start.Add(15 * time.Second)
	windowStart = Start
	windowEnd   = Start.Add(store.RateWindow)
)

type limiterHarness struct {
	t     *testing.T
	ctx   context.Context
	clock *clocktest.Clock
	l     Limiter
	count func(ctx context.Context, keyID string, start time.Time) (int, bool, error)
}

// RunLimiter runs every rate-limiter case as a subtest, each on a fresh limiter from
// newLimiter whose clock starts 15 s into a window.
func RunLimiter(t *testing.T, newLimiter func(t *testing.T, now func() time.Time) LimiterStore) {
	cases := []struct {
		name string
		fn   func(h *limiterHarness)
	}{
		{"a window allows exactly the limit and marks its first refusal only", exactLimit},
		{"each window has its own budget, and a spent window stays spent", eachWindowItsOwnBudget},
		{"keys do not share budgets", keysDoNotShareBudgets},
		{"a limit changed mid-window applies to the count so far", limitChangedMidWindow},
		{"a limit below 1 allows nothing and starts no window", limitBelowOne},
		{"of 50 concurrent Takes exactly the limit are allowed and one refusal is the first", concurrentTakes},
		{"a refusal tells the client when to come back", refusalTellsWhenToComeBack},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := clocktest.New(rateStart)
			s := newLimiter(t, clock.Now)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			t.Cleanup(cancel)
			c.fn(&limiterHarness{t: t, ctx: ctx, clock: clock, l: s.Limiter, count: s.Count})
		})
	}
}

func rateKey() string { return "key_" + random("")[:20] }

func (h *limiterHarness) take(t *testing.T, key string, limit int) store.RateDecision {
	t.Helper()
	d, err := h.l.Take(h.ctx, key, limit)
	if err != nil {
		t.Fatalf("Take(%s, %d): %v", key, limit, err)
	}
	return d
}

func sameDecision(a, b store.RateDecision) bool {
	return a.Allowed == b.Allowed && a.Limit == b.Limit && a.Remaining == b.Remaining && a.Reset.Equal(b.Reset) &&
		a.FirstRefusal == b.FirstRefusal
}

func exactLimit(h *limiterHarness) {
	for _, limit := range []int{1, 3, 10} {
		h.t.Run("a limit of "+strconv.Itoa(limit)+" allows that many and refuses the next", func(t *testing.T) {
			h.clock.Set(rateStart)
			key := rateKey()
			for i := range limit {
				// Spread over the window, up to its last instant: the window is the minute.
				h.clock.Set(rateStart.Add(time.Duration(i) * (windowEnd.Sub(rateStart) - time.Nanosecond) / time.Duration(max(limit-1, 1))))
				want := store.RateDecision{Allowed: true, Limit: limit, Remaining: limit - 1 - i, Reset: windowEnd}
				if d := h.take(t, key, limit); !sameDecision(d, want) {
					t.Fatalf("request %d at %s = %+v, want %+v", i+1, h.clock.Now().Format(time.RFC3339Nano), d, want)
				}
			}
			for i := range 3 {
				// Only the window's first refusal is marked (callers audit that one).
				want := store.RateDecision{Allowed: false, Limit: limit, Remaining: 0, Reset: windowEnd, FirstRefusal: i == 0}
				if d := h.take(t, key, limit); !sameDecision(d, want) {
					t.Errorf("request %d = %+v, want the refusal %+v", limit+1+i, d, want)
				}
			}
		})
	}
}

// Windows are keyed by their start, so a spent window stops counting the instant the next one
// begins, whether or not DynamoDB's TTL has deleted its item yet (the emulator never does):
// every step moves the clock and takes once.
func eachWindowItsOwnBudget(h *limiterHarness) {
	const limit = 2
	key := rateKey()
	h.take(h.t, key, limit)
	h.take(h.t, key, limit)
	next := windowEnd.Add(store.RateWindow)
	steps := []struct {
		name string
		at   time.Time
		want store.RateDecision
	}{
		{"the last nanosecond of a spent window is still refused", windowEnd.Add(-time.Nanosecond),
			store.RateDecision{Allowed: false, Limit: limit, Reset: windowEnd, FirstRefusal: true}},
		{"the next window starts with the whole budget", windowEnd,
			store.RateDecision{Allowed: true, Limit: limit, Remaining: limit - 1, Reset: next}},
		{"a container whose clock lags is still refused in the spent window", windowEnd.Add(-time.Second),
			store.RateDecision{Allowed: false, Limit: limit, Reset: windowEnd}},
		{"the new window keeps its own count", windowEnd.Add(59 * time.Second),
			store.RateDecision{Allowed: true, Limit: limit, Remaining: 0, Reset: next}},
		{"and is spent in turn, its first refusal marked again", windowEnd.Add(59 * time.Second),
			store.RateDecision{Allowed: false, Limit: limit, Reset: next, FirstRefusal: true}},
		{"a window an hour later starts fresh", windowEnd.Add(time.Hour),
			store.RateDecision{Allowed: true, Limit: limit, Remaining: limit - 1, Reset: windowEnd.Add(time.Hour + store.RateWindow)}},
	}
	for _, s := range steps {
		h.t.Run(s.name, func(t *testing.T) {
			h.clock.Set(s.at)
			if d := h.take(t, key, limit); !sameDecision(d, s.want) {
				t.Errorf("Take at %s = %+v, want %+v", s.at.Format(time.RFC3339Nano), d, s.want)
			}
		})
	}
	// The spent window is still stored, full, and was not counted after its window.
	if n, ok, err := h.count(h.ctx, key, windowStart); err != nil || !ok || n != 2 {
		h.t.Errorf("the first window's count = %d, %v, %v; want it kept with count 2 (TTL deletion is DynamoDB's, later)", n, ok, err)
	}
}

func keysDoNotShareBudgets(h *limiterHarness) {
	a, b := rateKey(), rateKey()
	for range 3 {
		h.take(h.t, a, 3)
	}
	if d := h.take(h.t, a, 3); d.Allowed {
		h.t.Fatalf("key a's fourth request was allowed: %+v", d)
	}
	for i := range 3 {
		if d := h.take(h.t, b, 3); !d.Allowed || d.Remaining != 2-i {
			h.t.Errorf("key b's request %d after key a spent its budget = %+v, want allowed with %d remaining", i+1, d, 2-i)
		}
	}
}

// The limit is the caller's (a key's plan may change); the count is the window's.
func limitChangedMidWindow(h *limiterHarness) {
	key := rateKey()
	for range 3 {
		h.take(h.t, key, 5)
	}
	steps := []struct {
		name  string
		limit int
		want  store.RateDecision
	}{
		{"a limit lowered below the count refuses at once", 2, store.RateDecision{Allowed: false, Limit: 2, Reset: windowEnd, FirstRefusal: true}},
		{"a limit equal to the count refuses", 3, store.RateDecision{Allowed: false, Limit: 3, Reset: windowEnd}},
		{"a raised limit allows the difference", 10, store.RateDecision{Allowed: true, Limit: 10, Remaining: 6, Reset: windowEnd}},
	}
	for _, s := range steps {
		h.t.Run(s.name, func(t *testing.T) {
			if d := h.take(t, key, s.limit); !sameDecision(d, s.want) {
				t.Errorf("Take with limit %d = %+v, want %+v", s.limit, d, s.want)
			}
		})
	}
}

func limitBelowOne(h *limiterHarness) {
	for _, limit := range []int{0, -1, -1000} {
		h.t.Run("a limit of "+strconv.Itoa(limit), func(t *testing.T) {
			key := rateKey()
			d, err := h.l.Take(h.ctx, key, limit)
			want := store.RateDecision{Allowed: false, Limit: limit, Remaining: 0, Reset: windowEnd}
			if err != nil || !sameDecision(d, want) {
				t.Errorf("Take = %+v, %v; want %+v", d, err, want)
			}
			if n, ok, err := h.count(h.ctx, key, windowStart); err != nil || ok {
				t.Errorf("after a Take with limit %d the window is stored with count %d (err %v), want no window", limit, n, err)
			}
		})
	}
}

// Every container counts in the same window: exactly limit requests get through however they
// interleave, each seeing its own remaining count.
func concurrentTakes(h *limiterHarness) {
	const requests, limit = 50, 20
	key := rateKey()
	var (
		mu        sync.Mutex
		remaining []int
		refused   int
		first     int
		wg        sync.WaitGroup
	)
	for range requests {
		wg.Go(func() {
			d, err := h.l.Take(h.ctx, key, limit)
			if err != nil {
				h.t.Errorf("Take: %v", err)
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
		h.t.Errorf("%d concurrent requests, limit %d: %d allowed with remaining %v, %d refused; want %d allowed with remaining 0…%d each once, %d refused",
			requests, limit, len(remaining), remaining, refused, limit, limit-1, requests-limit)
	}
	// However the refusals interleave, one of them is the window's first: the audit trail
	// gets one item per key and window, not one per refused request.
	if first != 1 {
		h.t.Errorf("%d refusals marked FirstRefusal, want exactly 1", first)
	}
}

// Take's decisions carry the headers a client needs to back off: from a live refusal, the
// reset and the wait agree with the window.
func refusalTellsWhenToComeBack(h *limiterHarness) {
	key := rateKey()
	h.take(h.t, key, 1)
	h.clock.Set(windowEnd.Add(-44900 * time.Millisecond)) // 15.1 s into the window
	d := h.take(h.t, key, 1)
	if d.Allowed {
		h.t.Fatalf("the second request of a limit of 1 was allowed: %+v", d)
	}
	if got := d.RetryAfter(h.clock.Now()); got != 45 {
		h.t.Errorf("RetryAfter = %d, want 45 (44.9 s rounded up)", got)
	}
	if hd := d.Headers(); hd["X-RateLimit-Reset"] != strconv.FormatInt(windowEnd.Unix(), 10) || hd["X-RateLimit-Remaining"] != "0" {
		h.t.Errorf("Headers = %v", hd)
	}
}
