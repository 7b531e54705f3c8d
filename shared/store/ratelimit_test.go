package store_test

import (
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/store"
)

// windowEnd is the end of the window [12:00, 12:01).
var windowEnd = time.Date(2025, 6, 1, 12, 1, 0, 0, time.UTC)

func TestRetryAfterRoundsUpToWholeSecondsOfAtLeastOne(t *testing.T) {
	tests := []struct {
		name   string
		before time.Duration // how long before the reset RetryAfter is asked
		want   int
	}{
		{name: "a fifth of a second is one second", before: 200 * time.Millisecond, want: 1},
		{name: "59.1 seconds are 60", before: 59100 * time.Millisecond, want: 60},
		{name: "a whole second is one", before: time.Second, want: 1},
		{name: "a whole window is 60", before: store.RateWindow, want: 60},
		{name: "a nanosecond is one second", before: time.Nanosecond, want: 1},
		{name: "the reset instant itself is one second", before: 0, want: 1},
		{name: "a reset already past is one second", before: -5 * time.Second, want: 1},
		{name: "a reset long past is one second", before: -time.Hour, want: 1},
		{name: "half a millisecond past a whole second rounds up", before: 30*time.Second + 500*time.Microsecond, want: 31},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := store.RateDecision{Reset: windowEnd}
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
		d    store.RateDecision
		want map[string]string
	}{
		{"an allowed request shows what is left", store.RateDecision{Allowed: true, Limit: 20, Remaining: 7, Reset: windowEnd},
			map[string]string{"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "7", "X-RateLimit-Reset": reset}},
		{"a refused request shows nothing left", store.RateDecision{Limit: 20, Reset: windowEnd},
			map[string]string{"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}},
		{"the reset is in Unix seconds whatever the location", store.RateDecision{Limit: 1, Reset: windowEnd.In(time.FixedZone("UTC+5", 5*3600))},
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
