package webhook_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/webhook"
)

var t0 = time.Unix(1_767_225_600, 0) // 2026-01-01T00:00:00Z

func signed(t *testing.T, secret, id string, ts time.Time, body string) http.Header {
	t.Helper()
	h, err := webhook.Headers(secret, id, ts, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestVerifierWithAReplayGuard(t *testing.T) {
	other, _ := webhook.NewSecret()
	const body = `{"type":"key.revoked"}`
	c := clocktest.New(t0)
	g := webhook.NewMemoryGuard(0)
	v, err := webhook.NewVerifier([]string{specSecret}, webhook.WithClock(c.Now), webhook.WithReplayGuard(g))
	if err != nil {
		t.Fatal(err)
	}
	// One sequence: each step sees what the steps before it remembered.
	steps := []struct {
		name    string
		at      time.Duration // clock, from t0
		headers http.Header
		body    string
		want    error
	}{
		{"the first delivery verifies", 0, signed(t, specSecret, "msg_1", t0, body), body, nil},
		{"the same delivery again is a replay", time.Second, signed(t, specSecret, "msg_1", t0, body), body, webhook.ErrReplayed},
		{"the same id re-signed later (a sender's retry) is a replay too", 2 * time.Minute, signed(t, specSecret, "msg_1", t0.Add(2*time.Minute), body), body, webhook.ErrReplayed},
		{"a different id verifies", 2 * time.Minute, signed(t, specSecret, "msg_2", t0, body), body, nil},
		{"a delivery signed with another secret does not burn its id", 3 * time.Minute, signed(t, other, "msg_3", t0, body), body, webhook.ErrNoMatch},
		{"a tampered body does not burn its id", 3 * time.Minute, signed(t, specSecret, "msg_3", t0, body), `{"type":"key.created"}`, webhook.ErrNoMatch},
		{"an unsigned delivery does not burn its id", 3 * time.Minute, http.Header{"Webhook-Id": {"msg_3"}}, body, webhook.ErrMissingHeaders},
		{"a stale delivery does not burn its id", 3 * time.Minute, signed(t, specSecret, "msg_3", t0.Add(-6*time.Minute), body), body, webhook.ErrTimestampTooOld},
		{"so the genuine delivery of that id verifies", 3 * time.Minute, signed(t, specSecret, "msg_3", t0, body), body, nil},
		{"a replay is refused up to the last instant its timestamp passes", 5 * time.Minute, signed(t, specSecret, "msg_2", t0, body), body, webhook.ErrReplayed},
		{"after that the timestamp check refuses it anyway", 5*time.Minute + time.Nanosecond, signed(t, specSecret, "msg_2", t0, body), body, webhook.ErrTimestampTooOld},
		{"the retry signed later keeps its id remembered through its own window", 7 * time.Minute, signed(t, specSecret, "msg_1", t0.Add(2*time.Minute), body), body, webhook.ErrReplayed},
		{"and is refused by its timestamp after that", 7*time.Minute + time.Second, signed(t, specSecret, "msg_1", t0.Add(2*time.Minute), body), body, webhook.ErrTimestampTooOld},
		{"a new id verifies after every window has passed", 8 * time.Minute, signed(t, specSecret, "msg_4", t0.Add(8*time.Minute), body), body, nil},
	}
	for _, s := range steps {
		c.Set(t0.Add(s.at))
		if err := v.Verify(s.headers, []byte(s.body)); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("%s: Verify = %v, want %v", s.name, err, s.want)
		}
	}
	if n := g.Len(); n != 1 {
		t.Errorf("the guard holds %d ids after every earlier window passed, want 1 (msg_4)", n)
	}
}

func TestReplayProtectionIsOptIn(t *testing.T) {
	const body = `{"type":"ping"}`
	h := signed(t, specSecret, "msg_1", t0, body)
	tests := []struct {
		name       string
		opts       []webhook.Option
		headers    http.Header
		wantSecond error
	}{
		{"without a guard the same delivery verifies twice", nil, h, nil},
		{"with a guard it is refused the second time", []webhook.Option{webhook.WithReplayGuard(webhook.NewMemoryGuard(0))}, h, webhook.ErrReplayed},
		{"a nil guard turns the check off", []webhook.Option{webhook.WithReplayGuard(nil)}, h, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := webhook.NewVerifier([]string{specSecret}, append([]webhook.Option{webhook.WithClock(func() time.Time { return t0 })}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(tt.headers, []byte(body)); err != nil {
				t.Fatalf("first delivery: %v", err)
			}
			if err := v.Verify(tt.headers, []byte(body)); !errors.Is(err, tt.wantSecond) || (tt.wantSecond == nil && err != nil) {
				t.Fatalf("second delivery: %v, want %v", err, tt.wantSecond)
			}
		})
	}
}

// Run with -race: of N concurrent deliveries of one id exactly one passes.
func TestConcurrentDeliveriesOfOneIDPassOnce(t *testing.T) {
	const body, n, rounds = `{"type":"ping"}`, 32, 20
	v, err := webhook.NewVerifier([]string{specSecret}, webhook.WithClock(func() time.Time { return t0 }),
		webhook.WithReplayGuard(webhook.NewMemoryGuard(0)))
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < rounds; round++ {
		h := signed(t, specSecret, fmt.Sprintf("msg_%d", round), t0, body)
		start := make(chan struct{})
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs <- v.Verify(h.Clone(), []byte(body))
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		passed, replayed := 0, 0
		for err := range errs {
			switch {
			case err == nil:
				passed++
			case errors.Is(err, webhook.ErrReplayed):
				replayed++
			default:
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if passed != 1 || replayed != n-1 {
			t.Fatalf("round %d: %d passed and %d were refused as replays, want 1 and %d", round, passed, replayed, n-1)
		}
	}
}

func TestMemoryGuard(t *testing.T) {
	type step struct {
		name     string
		op       string // "remember" or "forget"
		id       string
		at       time.Duration // now, from t0
		until    time.Duration // from t0
		wantSeen bool
		wantErr  error
	}
	const m = time.Minute
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{"an id is seen until its window ends, then forgotten", 10, []step{
			{"first", "remember", "a", 0, m, false, nil},
			{"again", "remember", "a", 30 * time.Second, m, true, nil},
			{"at until, inclusive", "remember", "a", m, m, true, nil},
			{"just after until it is new again", "remember", "a", m + time.Nanosecond, 2 * m, false, nil},
		}},
		{"remembering again extends and never shortens", 10, []step{
			{"first", "remember", "a", 0, m, false, nil},
			{"extended", "remember", "a", 0, 3 * m, true, nil},
			{"not shortened", "remember", "a", 0, 30 * time.Second, true, nil},
			{"still seen past the first until", "remember", "a", 2 * m, 2 * m, true, nil},
			{"gone after the extended until", "remember", "a", 3*m + time.Second, 4 * m, false, nil},
		}},
		{"a full guard refuses a new id rather than forget a live one", 3, []step{
			{"a", "remember", "a", 0, m, false, nil},
			{"b", "remember", "b", 0, 2 * m, false, nil},
			{"c", "remember", "c", 0, 2 * m, false, nil},
			{"d does not fit", "remember", "d", 30 * time.Second, 2 * m, false, webhook.ErrGuardFull},
			{"a is still remembered", "remember", "a", 30 * time.Second, m, true, nil},
			{"b is still remembered", "remember", "b", 30 * time.Second, 2 * m, true, nil},
			{"c is still remembered", "remember", "c", 30 * time.Second, 2 * m, true, nil},
			{"d fits once a's window has passed", "remember", "d", m + time.Second, 2 * m, false, nil},
			{"and then e does not", "remember", "e", m + time.Second, 2 * m, false, webhook.ErrGuardFull},
		}},
		{"a forgotten id can be remembered again", 10, []step{
			{"first", "remember", "a", 0, m, false, nil},
			{"forget", "forget", "a", 0, 0, false, nil},
			{"new again", "remember", "a", 0, m, false, nil},
			{"forgetting an unknown id is harmless", "forget", "zzz", 0, 0, false, nil},
			{"seen", "remember", "a", 0, m, true, nil},
		}},
		{"an id whose window is already over is not kept", 1, []step{
			{"past", "remember", "a", m, 0, false, nil},
			{"so it takes no room", "remember", "b", m, 2 * m, false, nil},
			{"and is not seen", "remember", "a", m, 0, false, nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := webhook.NewMemoryGuard(tt.max)
			for _, s := range tt.steps {
				if s.op == "forget" {
					g.Forget(s.id)
					continue
				}
				seen, err := g.Remember(s.id, t0.Add(s.at), t0.Add(s.until))
				if seen != s.wantSeen || !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
					t.Fatalf("%s: Remember(%q) = %v, %v; want %v, %v", s.name, s.id, seen, err, s.wantSeen, s.wantErr)
				}
				if g.Len() > tt.max {
					t.Fatalf("%s: Len = %d over the bound %d", s.name, g.Len(), tt.max)
				}
			}
		})
	}
}

func TestMemoryGuardBound(t *testing.T) {
	const max = 100
	g := webhook.NewMemoryGuard(max)
	now := t0
	accepted := 0
	// 10 000 distinct ids, one a second, each remembered 5 minutes: the guard fills, refuses
	// while full, and makes room as windows pass; it never holds more than max.
	for i := 0; i < 10_000; i++ {
		now = now.Add(time.Second)
		seen, err := g.Remember(fmt.Sprintf("msg_%d", i), now, now.Add(5*time.Minute))
		switch {
		case seen:
			t.Fatalf("id %d reported seen", i)
		case err == nil:
			accepted++
		case !errors.Is(err, webhook.ErrGuardFull):
			t.Fatalf("id %d: %v", i, err)
		}
		if n := g.Len(); n > max {
			t.Fatalf("after %d ids Len = %d, bound %d", i+1, n, max)
		}
	}
	// 301 seconds after an id's arrival its window has passed: at most max ids per 301 s.
	if want := 10_000 / 301 * max; accepted < want {
		t.Errorf("accepted %d ids, want at least %d (full capacity)", accepted, want)
	}
	if g.Len() != max {
		t.Errorf("Len = %d at the end of a steady stream, want %d", g.Len(), max)
	}
	// NewMemoryGuard(0) takes the default bound.
	d := webhook.NewMemoryGuard(0)
	for i := 0; i < webhook.DefaultMaxRemembered; i++ {
		if _, err := d.Remember(fmt.Sprint(i), t0, t0.Add(time.Minute)); err != nil {
			t.Fatalf("default guard refused id %d: %v", i, err)
		}
	}
	if _, err := d.Remember("one more", t0, t0.Add(time.Minute)); !errors.Is(err, webhook.ErrGuardFull) {
		t.Fatalf("default guard past DefaultMaxRemembered: %v, want ErrGuardFull", err)
	}
}

func TestAFullGuardRefusesWithoutBurningTheID(t *testing.T) {
	const body = `{"type":"ping"}`
	c := clocktest.New(t0)
	v, err := webhook.NewVerifier([]string{specSecret}, webhook.WithClock(c.Now), webhook.WithReplayGuard(webhook.NewMemoryGuard(1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(signed(t, specSecret, "msg_a", t0, body), []byte(body)); err != nil {
		t.Fatal(err)
	}
	h := signed(t, specSecret, "msg_b", t0.Add(time.Minute), body)
	c.Set(t0.Add(time.Minute))
	err = v.Verify(h, []byte(body))
	if !errors.Is(err, webhook.ErrReplayCheck) || !errors.Is(err, webhook.ErrGuardFull) || errors.Is(err, webhook.ErrReplayed) {
		t.Fatalf("full guard: %v, want ErrReplayCheck wrapping ErrGuardFull", err)
	}
	c.Set(t0.Add(5*time.Minute + time.Second)) // msg_a's window is over
	if err := v.Verify(h, []byte(body)); err != nil {
		t.Fatalf("the refused delivery, retried once there is room: %v", err)
	}
}

func TestMiddlewareWithAReplayGuard(t *testing.T) {
	const panics = -1 // as a handler status: the handler panics
	tests := []struct {
		name         string
		guardMax     int
		ids          []string // delivered in order, each signed afresh at t0
		handler      []int    // the status the handler answers for each delivery that reaches it
		wantStatuses []int
	}{
		{"a replayed delivery gets 401 invalid_signature", 0, []string{"msg_1", "msg_1"}, []int{204}, []int{204, 401}},
		{"distinct ids all reach the handler", 0, []string{"msg_1", "msg_2"}, []int{204, 204}, []int{204, 204}},
		{"a delivery the handler failed on (5xx) can be retried", 0, []string{"msg_1", "msg_1", "msg_1"}, []int{503, 200}, []int{503, 200, 401}},
		{"a delivery the handler refused (4xx) stays remembered", 0, []string{"msg_1", "msg_1"}, []int{400}, []int{400, 401}},
		{"a handler that writes only a body counts as 200", 0, []string{"msg_1", "msg_1"}, []int{0}, []int{200, 401}},
		{"a handler that panics releases the id", 0, []string{"msg_1", "msg_1"}, []int{panics, 204}, []int{panics, 204}},
		{"a full guard gets 503 service_unavailable, not 401", 1, []string{"msg_1", "msg_2"}, []int{204}, []int{204, 503}},
	}
	const body = `{"type":"ping"}`
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := webhook.NewVerifier([]string{specSecret}, webhook.WithClock(func() time.Time { return t0 }),
				webhook.WithReplayGuard(webhook.NewMemoryGuard(tt.guardMax)))
			if err != nil {
				t.Fatal(err)
			}
			calls := 0
			h := webhook.Middleware(v, 0)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				status := tt.handler[calls]
				calls++
				switch status {
				case panics:
					panic("handler failed")
				case 0:
					_, _ = w.Write([]byte("ok"))
				default:
					w.WriteHeader(status)
				}
			}))
			for i, id := range tt.ids {
				req := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(body))
				req.Header = signed(t, specSecret, id, t0, body)
				rec := httptest.NewRecorder()
				before := calls
				got := serve(h, rec, req)
				if got != tt.wantStatuses[i] {
					t.Fatalf("delivery %d (%s): status %d, want %d; body %s", i+1, id, got, tt.wantStatuses[i], rec.Body)
				}
				if calls == before { // refused by the middleware
					checkRefusal(t, rec, got)
				}
			}
			if calls != len(tt.handler) {
				t.Fatalf("the handler ran %d times, want %d", calls, len(tt.handler))
			}
		})
	}
}

// serve runs h and returns the status it answered, or -1 if it panicked.
func serve(h http.Handler, rec *httptest.ResponseRecorder, req *http.Request) (status int) {
	defer func() {
		if recover() != nil {
			status = -1
		}
	}()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func checkRefusal(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message, Type string } `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("body %s is not the error shape: %v", rec.Body, err)
	}
	switch status {
	case http.StatusUnauthorized:
		if e.Error.Code != "invalid_signature" || !strings.Contains(e.Error.Message, "already delivered") {
			t.Fatalf("a replay answered %s, want invalid_signature saying the id was already delivered", rec.Body)
		}
	case http.StatusServiceUnavailable:
		if e.Error.Code != "service_unavailable" || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("a full guard answered %s (Retry-After %q), want service_unavailable with Retry-After", rec.Body, rec.Header().Get("Retry-After"))
		}
	default:
		t.Fatalf("the middleware refused with %d %s", status, rec.Body)
	}
}
