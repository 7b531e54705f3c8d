package lambdarun

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// pool holds the instances of one function.
type pool struct {
	r  *Runner
	fn Function

	mu      sync.Mutex
	idle    []*instance // LIFO: the most recently used (warmest) first
	all     map[*instance]struct{}
	live    int           // started or starting instances
	changed chan struct{} // closed and replaced whenever an instance frees up or dies
	closed  bool
	seq     int

	coldStarts, invocations, errors, timeouts, crashes atomic.Int64
}

func newPool(r *Runner, fn Function) *pool {
	return &pool{r: r, fn: fn, all: map[*instance]struct{}{}, changed: make(chan struct{})}
}

// broadcast wakes every waiter; callers hold p.mu.
func (p *pool) broadcast() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// acquire returns an idle instance, or starts one when fewer than the maximum are live,
// or waits until one of those becomes possible.
func (p *pool) acquire(ctx context.Context) (*instance, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		for len(p.idle) > 0 {
			in := p.idle[len(p.idle)-1]
			p.idle = p.idle[:len(p.idle)-1]
			if !in.isDead() {
				p.mu.Unlock()
				return in, nil
			}
		}
		if p.live < p.fn.MaxInstances {
			p.live++
			p.seq++
			n := p.seq
			p.mu.Unlock()
			in, err := startInstance(p, n)
			if errors.Is(err, ErrClosed) {
				// The process started and was stopped again; its exit watcher has
				// already given the slot back.
				return nil, err
			}
			if err != nil {
				p.mu.Lock()
				p.live--
				p.broadcast()
				p.mu.Unlock()
				p.crashes.Add(1)
				return nil, err
			}
			p.coldStarts.Add(1)
			return in, nil
		}
		wait := p.changed
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.r.closed:
			return nil, ErrClosed
		}
	}
}

// register records a started instance; it reports false when the pool closed meanwhile.
func (p *pool) register(in *instance) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.all[in] = struct{}{}
	return true
}

// release returns a healthy instance to the idle list after an invocation.
func (p *pool) release(in *instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || in.isDead() {
		return
	}
	p.idle = append(p.idle, in)
	p.broadcast()
}

// remove forgets an instance whose process has exited.
func (p *pool) remove(in *instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.all, in)
	for i, x := range p.idle {
		if x == in {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
	p.live--
	p.broadcast()
}

// close stops every instance and waits until all are gone.
func (p *pool) close(grace time.Duration) {
	p.mu.Lock()
	p.closed = true
	instances := make([]*instance, 0, len(p.all))
	for in := range p.all {
		instances = append(instances, in)
	}
	p.idle = nil
	p.broadcast()
	p.mu.Unlock()

	var wg sync.WaitGroup
	for _, in := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.stop(grace)
		}()
	}
	wg.Wait()

	// Instances that were starting while the pool closed stop themselves on register;
	// wait for their exit watchers too.
	for {
		p.mu.Lock()
		live, wait := p.live, p.changed
		p.mu.Unlock()
		if live == 0 {
			return
		}
		<-wait
	}
}

func (p *pool) stats() FunctionStats {
	p.mu.Lock()
	instances, idle := len(p.all), len(p.idle)
	p.mu.Unlock()
	return FunctionStats{
		ColdStarts:  p.coldStarts.Load(),
		Invocations: p.invocations.Load(),
		Errors:      p.errors.Load(),
		Timeouts:    p.timeouts.Load(),
		Crashes:     p.crashes.Load(),
		Instances:   instances,
		Idle:        idle,
	}
}
