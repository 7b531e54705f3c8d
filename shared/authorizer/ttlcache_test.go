package authorizer_test

import (
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/authorizer"
)

var cacheT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestEntriesExpire(t *testing.T) {
	c := authorizer.NewTTLCache[string, int](10)
	c.Put("a", 1, cacheT0.Add(time.Minute), cacheT0)
	tests := []struct {
		at   time.Time
		want bool
	}{
		{cacheT0, true},
		{cacheT0.Add(59 * time.Second), true},
		{cacheT0.Add(time.Minute), false}, // expiry is exclusive
		{cacheT0.Add(time.Hour), false},
	}
	for _, tt := range tests {
		v, ok := c.Get("a", tt.at)
		if ok != tt.want || (ok && v != 1) {
			t.Errorf("Get at %v = %d, %v; want hit %v", tt.at.Sub(cacheT0), v, ok, tt.want)
		}
	}
	if _, ok := c.Get("missing", cacheT0); ok {
		t.Error("a missing key was found")
	}
}

func TestTheLimitHoldsAndExpiredEntriesGoFirst(t *testing.T) {
	c := authorizer.NewTTLCache[int, int](3)
	c.Put(1, 1, cacheT0.Add(time.Second), cacheT0) // expires first
	c.Put(2, 2, cacheT0.Add(time.Hour), cacheT0)
	c.Put(3, 3, cacheT0.Add(time.Hour), cacheT0)
	now := cacheT0.Add(2 * time.Second)
	c.Put(4, 4, now.Add(time.Hour), now)
	if c.Len() != 3 {
		t.Fatalf("Len = %d, want 3", c.Len())
	}
	for _, k := range []int{2, 3, 4} {
		if _, ok := c.Get(k, now); !ok {
			t.Errorf("live entry %d was evicted while an expired one could go", k)
		}
	}
	for i := 5; i < 1000; i++ {
		c.Put(i, i, now.Add(time.Hour), now)
		if c.Len() > 3 {
			t.Fatalf("Len = %d after %d puts, limit 3", c.Len(), i)
		}
	}
	if v, ok := c.Get(999, now); !ok || v != 999 {
		t.Error("the newest entry is not there")
	}
}

func TestReplacingAnEntryDoesNotEvict(t *testing.T) {
	c := authorizer.NewTTLCache[int, int](2)
	c.Put(1, 1, cacheT0.Add(time.Hour), cacheT0)
	c.Put(2, 2, cacheT0.Add(time.Hour), cacheT0)
	c.Put(2, 20, cacheT0.Add(time.Hour), cacheT0)
	if v, ok := c.Get(1, cacheT0); !ok || v != 1 {
		t.Error("updating entry 2 evicted entry 1")
	}
	if v, _ := c.Get(2, cacheT0); v != 20 {
		t.Errorf("entry 2 = %d, want 20", v)
	}
	c.Delete(2)
	if _, ok := c.Get(2, cacheT0); ok {
		t.Error("deleted entry still there")
	}
}

func TestConcurrentUse(t *testing.T) {
	c := authorizer.NewTTLCache[int, int](64)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				c.Put(g*10000+i, i, cacheT0.Add(time.Minute), cacheT0)
				c.Get(g*10000+i/2, cacheT0)
			}
		}(g)
	}
	wg.Wait()
	if c.Len() > 64 {
		t.Fatalf("Len = %d over the limit", c.Len())
	}
}

// A value that is already expired takes no room (it would evict a live entry of a full cache)
// and removes what k held before.
func TestAnAlreadyExpiredPutTakesNoRoom(t *testing.T) {
	c := authorizer.NewTTLCache[string, int](2)
	c.Put("a", 1, cacheT0.Add(time.Minute), cacheT0)
	c.Put("b", 2, cacheT0.Add(time.Minute), cacheT0)
	c.Put("c", 3, cacheT0, cacheT0)                   // expired as it is stored
	c.Put("d", 4, cacheT0.Add(-time.Second), cacheT0) // long expired
	for _, k := range []string{"a", "b"} {
		if _, ok := c.Get(k, cacheT0); !ok {
			t.Errorf("live entry %q was evicted for an expired one", k)
		}
	}
	c.Put("a", 5, cacheT0, cacheT0)
	if v, ok := c.Get("a", cacheT0); ok {
		t.Errorf("an expired replacement left %q = %d", "a", v)
	}
}
