package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/keygate/keygate/infra/local"
	"github.com/keygate/keygate/infra/local/gateway"
	"github.com/keygate/keygate/infra/local/lambdarun"
	"github.com/keygate/keygate/shared/apikey"
)

const authorizerID = "AuthorizerFunction"

// ColdResult is coldstart.json.
type ColdResult struct {
	Reps     int           `json:"reps"`
	Load     string        `json:"load_start"`
	Variants []ColdVariant `json:"variants"` // the first is the baseline
	Smoke    []SmokeResult `json:"smoke,omitempty"`
}

// ColdVariant is one authorizer bootstrap started Reps times from nothing.
type ColdVariant struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// InitMs is lambdarun's Init Duration (process start to the runtime's first request for
	// work: Go runtime, package inits, BoringCrypto's power-on self-test, app.MustLoad).
	InitMs []float64 `json:"init_ms"`
	// FirstMs is the first invocation's wall time from process start: init plus fetching the
	// signing keys and the revocation state from the emulators and one first-seen verification.
	FirstMs []float64 `json:"first_response_ms"`
}

// SmokeResult is one start of a bootstrap that cannot be timed meaningfully here (arm64
// under qemu-user): did it initialise and allow the token?
type SmokeResult struct {
	Name   string  `json:"name"`
	OK     bool    `json:"ok"`
	InitMs float64 `json:"init_ms,omitempty"`
	Detail string  `json:"detail"`
}

func runColdStart(args []string) error {
	fs := flag.NewFlagSet("coldstart", flag.ExitOnError)
	var variants, smoke namedPaths
	fs.Var(&variants, "variant", "name=bootstrap of the AuthorizerFunction to time (repeatable; the first is the baseline)")
	fs.Var(&smoke, "smoke", "name=executable to start once and check (repeatable; e.g. a qemu-aarch64 wrapper)")
	bin := fs.String("bin", "", "host bootstraps of every function, <bin>/<LogicalId>/bootstrap (the stack's token endpoint issues the token)")
	template := fs.String("template", "template.yaml", "the SAM template")
	reps := fs.Int("reps", 10, "cold starts per variant, interleaved")
	dir := fs.String("dir", ".", "where to write coldstart.json and the functions' logs")
	fs.Parse(args)
	ddb, sm := os.Getenv("KEYGATE_DYNAMODB_ENDPOINT"), os.Getenv("KEYGATE_SECRETS_ENDPOINT")
	if ddb == "" || sm == "" || *bin == "" || len(variants) == 0 {
		return errors.New("coldstart: run under infra/local/stack/with-stack.sh (KEYGATE_DYNAMODB_ENDPOINT, KEYGATE_SECRETS_ENDPOINT) with -bin and at least one -variant")
	}
	logFile, err := os.Create(filepath.Join(*dir, "functions.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	st, err := local.Start(ctx, local.Options{
		Template: *template, Params: map[string]string{"Stage": "local"}, BinDir: *bin,
		DynamoDB: ddb, Secrets: sm, Provision: true, Quiet: true, Logs: logFile,
	})
	if err != nil {
		return err
	}
	defer st.Close()
	event, err := authorizerEvent(ctx, st)
	if err != nil {
		return err
	}
	var fn lambdarun.Function
	for _, f := range lambdarun.FromTemplate(st.Template, *bin) {
		if f.ID == authorizerID {
			fn = f
		}
	}
	if fn.ID == "" {
		return fmt.Errorf("%s is not in %s", authorizerID, *template)
	}
	opts := lambdarun.Options{
		Region: st.Template.Region, AccountID: st.Template.AccountID,
		ExtraEnv: map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": ddb, "AWS_ENDPOINT_URL_SECRETS_MANAGER": sm},
	}
	start := func(path string, initTimeout time.Duration) (initMs, firstMs float64, err error) {
		reports := &initParser{w: logFile}
		o := opts
		o.Logs, o.InitTimeout = reports, initTimeout
		f := fn
		f.Path = path
		r, err := lambdarun.New([]lambdarun.Function{f}, o)
		if err != nil {
			return 0, 0, err
		}
		t := time.Now()
		out, err := r.Invoke(ctx, authorizerID, event)
		d := time.Since(t)
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, 0, err
		}
		if err := checkAllow(out); err != nil {
			return 0, 0, err
		}
		init, ok := reports.init()
		if !ok {
			return 0, 0, errors.New("no Init Duration in the REPORT line")
		}
		return init, float64(d) / float64(time.Millisecond), nil
	}

	res := &ColdResult{Reps: *reps, Load: loadAvg()}
	for _, v := range variants {
		path, err := filepath.Abs(v.Path)
		if err != nil {
			return err
		}
		res.Variants = append(res.Variants, ColdVariant{Name: v.Name, Path: path})
	}
	// One unmeasured start each first: page cache, the emulators' first requests.
	for _, v := range res.Variants {
		if _, _, err := start(v.Path, 0); err != nil {
			return fmt.Errorf("%s: %w", v.Name, err)
		}
	}
	for rep := range *reps {
		for i := range res.Variants {
			v := &res.Variants[(i+rep)%len(res.Variants)]
			init, first, err := start(v.Path, 0)
			if err != nil {
				return fmt.Errorf("%s, cold start %d: %w", v.Name, rep+1, err)
			}
			v.InitMs, v.FirstMs = append(v.InitMs, init), append(v.FirstMs, first)
		}
	}
	for _, v := range res.Variants {
		fmt.Fprintf(os.Stderr, "%-16s init median %.2f ms, first response median %.2f ms (%d cold starts)\n",
			v.Name, median(v.InitMs), median(v.FirstMs), len(v.InitMs))
	}
	for _, s := range smoke {
		r := SmokeResult{Name: s.Name}
		path, _ := filepath.Abs(s.Path)
		init, _, err := start(path, time.Minute) // emulated: give init time
		if err != nil {
			r.Detail = err.Error()
		} else {
			r.OK, r.InitMs, r.Detail = true, init, "initialised and allowed the token"
		}
		fmt.Fprintf(os.Stderr, "smoke %s: %s\n", s.Name, r.Detail)
		res.Smoke = append(res.Smoke, r)
	}
	return writeJSON(*dir, coldFile, res)
}

// authorizerEvent mints an API key, has the stack's token endpoint issue an access token for
// it and returns the event API Gateway hands the authorizer for a request carrying it.
func authorizerEvent(ctx context.Context, st *local.Stack) ([]byte, error) {
	key, err := st.MintKey(ctx, apikey.Spec{Name: "boringcrypto", Scopes: []string{"customers:read"}, RateLimit: 1_000_000, Tier: "enterprise"}, "boringcrypto experiment")
	if err != nil {
		return nil, err
	}
	rec := &recorder{next: st}
	gw, err := gateway.New(gateway.Config{Template: st.Template, Invoker: rec})
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	body, _ := json.Marshal(map[string]string{"api_key": key})
	status, _, out, err := local.Request(ctx, srv.URL, http.MethodPost, "/v1/auth/token", "", body)
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("POST /v1/auth/token: %d %s %v", status, out, err)
	}
	var pair struct {
		Access string `json:"access_token"`
	}
	if err := json.Unmarshal(out, &pair); err != nil || pair.Access == "" {
		return nil, fmt.Errorf("token response %s: %v", out, err)
	}
	if status, _, out, err = local.Request(ctx, srv.URL, http.MethodGet, "/v1/customers", pair.Access, nil); err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/customers: %d %s %v", status, out, err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.authorizer == nil {
		return nil, errors.New("the gateway did not call the authorizer")
	}
	return rec.authorizer, nil
}

// recorder keeps the last payload the gateway sent the authorizer.
type recorder struct {
	next       gateway.Invoker
	mu         sync.Mutex
	authorizer []byte
}

func (r *recorder) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, error) {
	if fn == authorizerID {
		r.mu.Lock()
		r.authorizer = bytes.Clone(payload)
		r.mu.Unlock()
	}
	return r.next.Invoke(ctx, fn, payload)
}

func checkAllow(out []byte) error {
	var resp struct {
		PolicyDocument struct {
			Statement []struct{ Effect string }
		} `json:"policyDocument"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.PolicyDocument.Statement) == 0 ||
		resp.PolicyDocument.Statement[0].Effect != "Allow" {
		return fmt.Errorf("the authorizer answered %.300s", out)
	}
	return nil
}

// initParser passes lambdarun's output through to w and keeps the Init Duration of its REPORT
// line ("[Fn] REPORT RequestId: … Init Duration: 12.34 ms").
type initParser struct {
	w   io.Writer
	mu  sync.Mutex
	buf []byte
	ms  float64
	ok  bool
}

var reportLine = regexp.MustCompile(`\] REPORT RequestId: .* Init Duration: ([0-9.]+) ms`)

func (p *initParser) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		if m := reportLine.FindSubmatch(p.buf[:i]); m != nil {
			if v, err := strconv.ParseFloat(string(m[1]), 64); err == nil {
				p.ms, p.ok = v, true
			}
		}
		p.buf = p.buf[i+1:]
	}
	return p.w.Write(b)
}

func (p *initParser) init() (float64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ms, p.ok
}
