package clocktest_test

import (
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/clocktest"
)

var start = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestClockMovesOnlyWhenTold(t *testing.T) {
	tests := []struct {
		name string
		move func(c *clocktest.Clock)
		want time.Time
	}{
		{"a new clock reads its start", func(*clocktest.Clock) {}, start},
		{"Advance moves it forward", func(c *clocktest.Clock) { c.Advance(90 * time.Second) }, start.Add(90 * time.Second)},
		{"a negative Advance moves it back", func(c *clocktest.Clock) { c.Advance(-time.Minute) }, start.Add(-time.Minute)},
		{"Set moves it anywhere", func(c *clocktest.Clock) { c.Set(start.Add(48 * time.Hour)) }, start.Add(48 * time.Hour)},
		{"moves add up", func(c *clocktest.Clock) { c.Advance(time.Hour); c.Advance(time.Hour) }, start.Add(2 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clocktest.New(start)
			tt.move(c)
			if got := c.Now(); !got.Equal(tt.want) {
				t.Errorf("Now() = %v, want %v", got, tt.want)
			}
			time.Sleep(time.Millisecond)
			if got := c.Now(); !got.Equal(tt.want) {
				t.Errorf("the clock moved by itself: %v, want %v", got, tt.want)
			}
		})
	}
}

// Code under test reads the clock from other goroutines; -race proves that is safe.
func TestClockIsSafeForConcurrentUse(t *testing.T) {
	c := clocktest.New(start)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(2)
		go func() { defer wg.Done(); c.Advance(time.Second) }()
		go func() { defer wg.Done(); _ = c.Now() }()
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(8*time.Second); !got.Equal(want) {
		t.Errorf("after 8 concurrent one-second moves Now() = %v, want %v", got, want)
	}
}
