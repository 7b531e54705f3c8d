// Package clocktest is the manual clock tests inject wherever code takes its time from a
// `now func() time.Time`, so that expiry, leeway, grace periods and TTLs are then tested
// by moving the clock, never by sleeping. It is safe for concurrent use, because the code under
// test reads the time from other goroutines (singleflight refreshes, concurrent requests).
//
// It is for tests only; production code takes time.Now.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a time that moves only when told to.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock that reads start until moved.
func New(start time.Time) *Clock { return &Clock{t: start} }

// Now returns the clock's time; pass the method value (clk.Now) as the code's clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d (backwards when d is negative, to test clock skew).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
