package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/keygate/keygate/infra/local"
)

// coldStarts starts every function c.coldStarts times from nothing (a fresh process per
// repetition, as after a deployment) and replays its recorded event: Init is the runtime's
// own measure (process start to its first request for work, Lambda's "Init Duration"),
// FirstResponse is the wall time of that first invocation from the moment the runner starts
// the process. Medians over the repetitions.
func coldStarts(ctx context.Context, c *config, b *benchStack) ([]FunctionResult, error) {
	reports := &reportParser{w: c.functionLogs, init: map[string][]time.Duration{}}
	st, err := local.Start(ctx, c.stackOptions(benchParams(nil), false, reports))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	fns := st.Functions()

	// Refresh tokens are single use: one per repetition.
	refreshes := make([][]byte, c.coldStarts)
	for i := range refreshes {
		p, err := b.newPair(ctx, b.server.URL)
		if err != nil {
			return nil, err
		}
		if refreshes[i], err = withBody(b.events["RefreshFunction"], map[string]string{"refresh_token": p.Refresh}); err != nil {
			return nil, err
		}
	}

	first := map[string][]time.Duration{}
	c.logf("cold starts: %d functions × %d", len(fns), c.coldStarts)
	for rep := range c.coldStarts {
		if rep > 0 {
			if err := st.Restart(); err != nil {
				return nil, err
			}
		}
		for _, fn := range fns {
			payload := b.events[fn]
			if fn == "RefreshFunction" {
				payload = refreshes[rep]
			}
			t := time.Now()
			out, err := st.Invoke(ctx, fn, payload)
			d := time.Since(t)
			if err != nil {
				return nil, fmt.Errorf("cold start of %s: %w", fn, err)
			}
			if err := checkInvocation(fn, out); err != nil {
				return nil, err
			}
			first[fn] = append(first[fn], d)
		}
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	reports.flush()

	out := make([]FunctionResult, 0, len(fns))
	for _, fn := range templateOrder(st, fns) {
		inits := reports.inits(fn)
		if len(inits) != c.coldStarts {
			return nil, fmt.Errorf("%s: %d Init Duration reports for %d cold starts", fn, len(inits), c.coldStarts)
		}
		r := FunctionResult{ID: fn, Init: median(inits), FirstResponse: median(first[fn])}
		fi, err := os.Stat(filepath.Join(c.bin, fn, "bootstrap"))
		if err != nil {
			return nil, err
		}
		r.HostBytes = fi.Size()
		out = append(out, r)
	}
	return out, nil
}

// templateOrder lists the functions in the template's order (token first, …).
func templateOrder(st *local.Stack, fns []string) []string {
	var out []string
	for _, f := range st.Template.Functions {
		if slices.Contains(fns, f.LogicalID) {
			out = append(out, f.LogicalID)
		}
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// reportParser passes function output through to w and collects the Init Duration of each
// REPORT line lambdarun writes ("[Fn] REPORT RequestId: … Init Duration: 12.34 ms").
type reportParser struct {
	w    io.Writer
	mu   sync.Mutex
	buf  []byte
	init map[string][]time.Duration
}

var reportLine = regexp.MustCompile(`^\[([A-Za-z0-9]+)\] REPORT RequestId: .* Init Duration: ([0-9.]+) ms`)

func (p *reportParser) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.line(p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	return p.w.Write(b)
}

func (p *reportParser) line(l []byte) {
	m := reportLine.FindSubmatch(l)
	if m == nil {
		return
	}
	v, err := strconv.ParseFloat(string(m[2]), 64)
	if err != nil {
		return
	}
	fn := string(m[1])
	p.init[fn] = append(p.init[fn], time.Duration(v*float64(time.Millisecond)))
}

func (p *reportParser) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.line(p.buf)
		p.buf = nil
	}
}

func (p *reportParser) inits(fn string) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.init[fn])
}

// arm64Sizes builds every function for Lambda (linux/arm64) with the Makefile's
// build-<LogicalId> targets, the ones `sam build` runs, into dir, and fills in the sizes.
func arm64Sizes(ctx context.Context, c *config, fns []FunctionResult, dir string) error {
	c.logf("arm64 builds (make build-<LogicalId>, as sam build) into %s", dir)
	for i, f := range fns {
		out := filepath.Join(dir, f.ID)
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "make", "-s", "--no-print-directory", "build-"+f.ID, "ARTIFACTS_DIR="+out, "GO="+c.goCmd)
		cmd.Dir = c.root
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("make build-%s: %w\n%s", f.ID, err, stderr.String())
		}
		fi, err := os.Stat(filepath.Join(out, "bootstrap"))
		if err != nil {
			return err
		}
		fns[i].Arm64Bytes = fi.Size()
	}
	return nil
}
