package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/keygate/keygate/infra/local"
	"github.com/keygate/keygate/infra/local/provision"
	"github.com/keygate/keygate/shared/rotation"
)

// Profile is one function serving requests of one kind on one container: its own process,
// one request at a time, with its DynamoDB and Secrets Manager calls logged by proxies. Each
// request is a Sample; the memory and cost model (model.go) is computed from them, so a run's
// results.json can be rendered again under other assumptions.
type Profile struct {
	Function string `json:"function"`
	Case     string `json:"case,omitempty"` // what the requests are, when a function has several kinds
	// MemoryMB is the template's MemorySize for the function today.
	MemoryMB int `json:"template_memory_mb"`
	// PeakRSS is the process's peak resident memory (VmHWM) after the run.
	PeakRSS int64 `json:"peak_rss_bytes"`
	// Cold is the container's first request: CPU from process start (init included) to the
	// response, and its calls (the pepper, the signing keys). Nil for a function's second case.
	Cold *Sample  `json:"cold,omitempty"`
	Warm []Sample `json:"warm"`
}

// Sample is one request: the CPU the function process used for it (all its threads, the
// runtime client and the SDK included), the wall time against the emulators, and its calls.
type Sample struct {
	CPU   time.Duration `json:"cpu_ns"`
	Wall  time.Duration `json:"wall_ns"`
	Calls []Call        `json:"calls,omitempty"`
}

// Name is the profile's label: the function, and its case when it has one.
func (p Profile) Name() string {
	if p.Case == "" {
		return p.Function
	}
	return p.Function + " (" + p.Case + ")"
}

// profileWarmups are the unmeasured requests before each case's measured ones.
const profileWarmups = 20

// profileCase is one kind of request to profile.
type profileCase struct {
	fn, name string
	// next returns the event of the i-th request (warm-ups included), given the last response.
	next     func(i int, prev []byte) ([]byte, error)
	requests int // 0: c.profileRequests
}

// profileFunctions profiles every function of the template on a stack of its own whose
// DynamoDB and Secrets Manager endpoints are recording proxies (observe.go). Every function
// serves its recorded event; the refresh function spends the refresh token its previous
// answer returned; the authorizer serves a repeated token (what a warm authorizer mostly
// sees) and first-seen tokens (a signature check each); the rotation function runs whole
// rotations, the four steps Secrets Manager invokes, key generation included, so this part
// runs last: it changes the signing key.
func profileFunctions(ctx context.Context, c *config, b *benchStack) ([]Profile, error) {
	schemas, err := describeTables(ctx, b.stack.DynamoDB)
	if err != nil {
		return nil, err
	}
	ddb := startCallLog(c.ddb, svcDynamoDB, newCapacity(schemas))
	defer ddb.Close()
	sm := startCallLog(c.sm, svcSecrets, nil)
	defer sm.Close()
	// Every item there is, read once through the proxy: the count then knows the size and
	// the indexes of items the functions update without reading (a key's head item).
	seed, _ := provision.NewClients(provision.Endpoints{DynamoDB: ddb.URL, SecretsManager: sm.URL}, b.stack.Template.Region)
	for name := range schemas {
		pages := dynamodb.NewScanPaginator(seed, &dynamodb.ScanInput{TableName: aws.String(name)})
		for pages.HasMorePages() {
			if _, err := pages.NextPage(ctx); err != nil {
				return nil, fmt.Errorf("scan %s: %w", name, err)
			}
		}
	}
	o := c.stackOptions(benchParams(nil), true, c.functionLogs)
	o.DynamoDB, o.Secrets = ddb.URL, sm.URL
	st, err := local.Start(ctx, o)
	if err != nil {
		return nil, err
	}
	defer st.Close()

	n, warmups := c.profileRequests, profileWarmups
	replay := func(fn string) func(int, []byte) ([]byte, error) {
		return func(int, []byte) ([]byte, error) { return b.events[fn], nil }
	}
	// First-seen tokens: one new access token per request, minted through the bench stack.
	c.logf("profiles: minting %d access tokens for the first-seen authorizer case", n+warmups+1)
	fresh := make([]string, n+warmups+1)
	for i := range fresh {
		p, err := b.newPair(ctx, b.server.URL)
		if err != nil {
			return nil, err
		}
		fresh[i] = p.Access
	}
	signingSecret := st.Env("RotateFunction")["KEYGATE_SIGNING_SECRET"]
	var rotationToken string

	var cases []profileCase
	for _, fn := range templateOrder(st, st.Functions()) {
		switch fn {
		case "RefreshFunction":
			first, err := b.newPair(ctx, b.server.URL)
			if err != nil {
				return nil, err
			}
			cases = append(cases, profileCase{fn: fn, next: func(_ int, prev []byte) ([]byte, error) {
				rt := first.Refresh
				if prev != nil {
					var p tokenPair
					if err := json.Unmarshal(prev, &p); err != nil || p.Refresh == "" {
						return nil, fmt.Errorf("refresh response %s: %v", tail(string(prev), 200), err)
					}
					rt = p.Refresh
				}
				return withBody(b.events[fn], map[string]string{"refresh_token": rt})
			}})
		case "AuthorizerFunction":
			if !bytes.Contains(b.events[fn], []byte(b.access)) {
				return nil, errors.New("the recorded authorizer event does not carry the bench's access token")
			}
			cases = append(cases,
				profileCase{fn: fn, name: "repeated token", next: replay(fn)},
				profileCase{fn: fn, name: "first-seen token", next: func(i int, _ []byte) ([]byte, error) {
					return bytes.ReplaceAll(b.events[fn], []byte(b.access), []byte(fresh[i])), nil
				}})
		case "RotateFunction":
			steps := []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest, rotation.StepFinish}
			cases = append(cases, profileCase{fn: fn, name: "rotation steps", requests: 4 * c.profileRotations,
				next: func(i int, _ []byte) ([]byte, error) {
					if i <= warmups { // the cold request and the warm-ups: the recorded no-op step
						return b.events[fn], nil
					}
					step := (i - 1 - warmups) % len(steps)
					if step == 0 {
						rotationToken = newRotationToken()
					}
					return json.Marshal(rotation.Event{SecretID: signingSecret, ClientRequestToken: rotationToken, Step: steps[step]})
				}})
		default:
			cases = append(cases, profileCase{fn: fn, next: replay(fn)})
		}
	}

	var out []Profile
	pids := map[string]int{}
	for _, pc := range cases {
		p, err := profileOne(ctx, c, st, ddb, sm, pc, pids)
		if err != nil {
			return out, fmt.Errorf("profile %s: %w", pc.fn, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func newRotationToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// profileOne runs one case: the function's first request (its cold start, when its process is
// new), warm-ups, then the measured requests.
func profileOne(ctx context.Context, c *config, st *local.Stack, ddb, sm *callLog, pc profileCase, pids map[string]int) (Profile, error) {
	p := Profile{Function: pc.fn, Case: pc.name}
	for _, f := range st.Template.Functions {
		if f.LogicalID == pc.fn {
			p.MemoryMB = f.MemorySize
		}
	}
	n := pc.requests
	if n == 0 {
		n = c.profileRequests
	}
	c.logf("profile: %s, %d requests", p.Name(), n)
	bin, err := filepath.Abs(filepath.Join(c.bin, pc.fn, "bootstrap"))
	if err != nil {
		return p, err
	}
	if bin, err = filepath.EvalSymlinks(bin); err != nil { // /proc/<pid>/exe has them resolved
		return p, err
	}
	var prev []byte
	i := 0
	invoke := func(pid int) (Sample, error) {
		ev, err := pc.next(i, prev)
		if err != nil {
			return Sample{}, err
		}
		i++
		var cpu0 time.Duration
		if pid > 0 {
			cpu0, _ = threadCPU(pid)
		}
		m1, m2 := ddb.mark(), sm.mark()
		t0 := time.Now()
		out, err := st.Invoke(ctx, pc.fn, ev)
		wall := time.Since(t0)
		if err != nil {
			return Sample{}, err
		}
		if err := checkInvocation(pc.fn, out); err != nil {
			return Sample{}, err
		}
		var resp events.APIGatewayProxyResponse
		if json.Unmarshal(out, &resp) == nil {
			prev = []byte(resp.Body)
		}
		s := Sample{Wall: wall, Calls: append(ddb.since(m1, t0), sm.since(m2, t0)...)}
		if pid > 0 {
			cpu1, _ := threadCPU(pid)
			s.CPU = cpu1 - cpu0
		}
		return s, nil
	}

	pid, warm := pids[pc.fn]
	if !warm {
		before := childrenRunning(bin)
		s, err := invoke(0)
		if err != nil {
			return p, err
		}
		for q := range childrenRunning(bin) {
			if !before[q] {
				pid = q
			}
		}
		if pid == 0 {
			return p, fmt.Errorf("no new process of %s after its first invocation", bin)
		}
		pids[pc.fn] = pid
		s.CPU, _ = threadCPU(pid) // since exec: init and the first request
		p.Cold = &s
	}
	for range profileWarmups {
		if _, err := invoke(pid); err != nil {
			return p, err
		}
	}
	for range n {
		s, err := invoke(pid)
		if err != nil {
			return p, err
		}
		p.Warm = append(p.Warm, s)
	}
	p.PeakRSS = peakRSS(pid)
	return p, nil
}

// describeTables reads the key schema and global secondary indexes of every table on the
// emulator, for the capacity count.
func describeTables(ctx context.Context, db *dynamodb.Client) (map[string]tableSchema, error) {
	out := map[string]tableSchema{}
	list, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		return nil, err
	}
	for _, name := range list.TableNames {
		d, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return nil, err
		}
		var s tableSchema
		for _, k := range d.Table.KeySchema {
			s.Key = append(s.Key, aws.ToString(k.AttributeName))
		}
		for _, g := range d.Table.GlobalSecondaryIndexes {
			var names []string
			for _, k := range g.KeySchema {
				names = append(names, aws.ToString(k.AttributeName))
			}
			s.GSIs = append(s.GSIs, names)
		}
		out[name] = s
	}
	return out, nil
}

// childrenRunning returns the pids of this process's children that run exe.
func childrenRunning(exe string) map[int]bool {
	out := map[int]bool{}
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if x, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err != nil || x != exe {
			continue
		}
		if parentPID(pid) == self {
			out[pid] = true
		}
	}
	return out
}

// parentPID reads field 4 of /proc/<pid>/stat (0 when it cannot).
func parentPID(pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// threadCPU is the CPU time of every thread of pid, in nanoseconds from each thread's
// /proc/<pid>/task/<tid>/schedstat (first field); where schedstat is missing, the process's
// utime+stime in clock ticks (procCPU), too coarse for one request but right on average.
func threadCPU(pid int) (time.Duration, bool) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, false
	}
	var total time.Duration
	read := 0
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue // a thread that just exited, or no schedstat at all
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		total += time.Duration(ns)
		read++
	}
	if read == 0 {
		return procCPU(pid)
	}
	return total, true
}

// peakRSS is VmHWM of /proc/<pid>/status in bytes (0 when unknown).
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
