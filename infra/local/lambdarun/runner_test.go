package lambdarun_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate/infra/local/lambdarun"
	"github.com/keygate/keygate/infra/test/emulatortest"
)

// fnBinary is the test function, built once for the whole test binary run.
var fnBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambdarun-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fnBinary = filepath.Join(dir, "Fn", "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", fnBinary, "./testdata/fn")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build test function:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// checkNoLeaks fails the test when goroutines started during it outlive it.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutines leaked: %d before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

type setup struct {
	fn   lambdarun.Function
	opts lambdarun.Options
}

func newRunner(t *testing.T, mutate ...func(*setup)) (*lambdarun.Runner, *emulatortest.Buffer) {
	t.Helper()
	checkNoLeaks(t)
	logs := &emulatortest.Buffer{}
	s := setup{
		fn: lambdarun.Function{ID: "Fn", Path: fnBinary, Timeout: 5 * time.Second, MemorySize: 256,
			Env: map[string]string{"KEYGATE_STAGE": "test"}},
		opts: lambdarun.Options{Logs: logs, ShutdownGrace: 500 * time.Millisecond},
	}
	for _, m := range mutate {
		m(&s)
	}
	r, err := lambdarun.New([]lambdarun.Function{s.fn}, s.opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, logs
}

type echoResponse struct {
	PID         int               `json:"pid"`
	RequestID   string            `json:"requestId"`
	FunctionARN string            `json:"functionArn"`
	DeadlineMs  int64             `json:"deadlineMs"`
	Env         map[string]string `json:"env"`
	Echo        string            `json:"echo"`
}

func invoke(t *testing.T, r *lambdarun.Runner, payload string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return r.Invoke(ctx, "Fn", []byte(payload))
}

func echo(t *testing.T, r *lambdarun.Runner) echoResponse {
	t.Helper()
	out, err := invoke(t, r, `{"action":"echo","message":"hi"}`)
	if err != nil {
		t.Fatalf("echo: %v", err)
	}
	var resp echoResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	return resp
}

func TestEchoSeesLambdaContextAndCleanEnvironment(t *testing.T) {
	t.Setenv("KEYGATE_HOST_ONLY", "must-not-leak")
	r, _ := newRunner(t, func(s *setup) {
		s.opts.ExtraEnv = map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"}
		s.opts.GoCoverDir = "/tmp/cover"
		s.opts.Region = "eu-west-1"
		s.opts.AccountID = "123456789012"
		s.fn.LogFormat, s.fn.LogLevel = "JSON", "WARN"
	})
	start := time.Now()
	resp := echo(t, r)
	if resp.Echo != "hi" || resp.RequestID == "" {
		t.Errorf("response = %+v", resp)
	}
	if want := "arn:aws:lambda:eu-west-1:123456789012:function:Fn"; resp.FunctionARN != want {
		t.Errorf("ARN = %q, want %q", resp.FunctionARN, want)
	}
	if dl := time.UnixMilli(resp.DeadlineMs); dl.Before(start.Add(4*time.Second)) || dl.After(time.Now().Add(5*time.Second)) {
		t.Errorf("deadline %v is not about 5 s from the invocation", dl)
	}

	wantEnv := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        "Fn",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/Fn",
		"AWS_REGION":                      "eu-west-1",
		"AWS_DEFAULT_REGION":              "eu-west-1",
		"AWS_ACCESS_KEY_ID":               lambdarun.DefaultCredentials().AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":           lambdarun.DefaultCredentials().SecretAccessKey,
		"AWS_SESSION_TOKEN":               lambdarun.DefaultCredentials().SessionToken,
		"_HANDLER":                        "bootstrap",
		"LAMBDA_TASK_ROOT":                filepath.Dir(fnBinary),
		"TZ":                              ":UTC",
		"KEYGATE_STAGE":                   "test",
		"AWS_ENDPOINT_URL_DYNAMODB":       "http://127.0.0.1:8000",
		"GOCOVERDIR":                      "/tmp/cover",
		"AWS_LAMBDA_LOG_FORMAT":           "JSON",
		"AWS_LAMBDA_LOG_LEVEL":            "WARN",
	}
	for k, v := range wantEnv {
		if got := resp.Env[k]; got != v {
			t.Errorf("env %s = %q, want %q", k, got, v)
		}
	}
	if !strings.HasPrefix(resp.Env["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:") {
		t.Errorf("AWS_LAMBDA_RUNTIME_API = %q", resp.Env["AWS_LAMBDA_RUNTIME_API"])
	}
	for _, k := range []string{"KEYGATE_HOST_ONLY", "HOME", "GOFLAGS", "USER"} {
		if v, ok := resp.Env[k]; ok {
			t.Errorf("host variable %s=%q leaked into the function", k, v)
		}
	}
}

// Lambda passes the log settings on only to a function whose LoggingConfig is JSON; its
// application log level defaults to INFO.
func TestTheLogSettingsFollowTheLoggingConfig(t *testing.T) {
	for _, tc := range []struct{ format, level, wantFormat, wantLevel string }{
		{"", "", "", ""},
		{"Text", "", "", ""},
		{"JSON", "", "JSON", "INFO"},
		{"JSON", "DEBUG", "JSON", "DEBUG"},
	} {
		t.Run("LogFormat "+tc.format+" LogLevel "+tc.level, func(t *testing.T) {
			r, _ := newRunner(t, func(s *setup) { s.fn.LogFormat, s.fn.LogLevel = tc.format, tc.level })
			env := echo(t, r).Env
			if env["AWS_LAMBDA_LOG_FORMAT"] != tc.wantFormat || env["AWS_LAMBDA_LOG_LEVEL"] != tc.wantLevel {
				t.Errorf("AWS_LAMBDA_LOG_FORMAT=%q AWS_LAMBDA_LOG_LEVEL=%q, want %q %q",
					env["AWS_LAMBDA_LOG_FORMAT"], env["AWS_LAMBDA_LOG_LEVEL"], tc.wantFormat, tc.wantLevel)
			}
		})
	}
}

func TestSequentialInvocationsReuseAWarmInstance(t *testing.T) {
	r, _ := newRunner(t)
	first := echo(t, r)
	for i := 0; i < 4; i++ {
		if got := echo(t, r); got.PID != first.PID {
			t.Fatalf("invocation %d ran in pid %d, want the warm %d", i, got.PID, first.PID)
		}
	}
	st := r.Stats()["Fn"]
	if st.ColdStarts != 1 || st.Invocations != 5 || st.Instances != 1 || st.Idle != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestFunctionErrors(t *testing.T) {
	tests := []struct {
		name     string
		payload  string
		wantType string
		wantMsg  string
	}{
		{"an authorizer's Unauthorized keeps its exact message", `{"action":"error","message":"Unauthorized"}`, "errorString", "Unauthorized"},
		{"a panic is a function error", `{"action":"panic","message":"boom"}`, "string", "boom"},
		{"an oversized response is refused like Lambda", `{"action":"big","size":7000000}`, "Function.ResponseSizeTooLarge", "exceeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newRunner(t)
			_, err := invoke(t, r, tc.payload)
			var fe *lambdarun.FunctionError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *FunctionError", err)
			}
			if fe.Type != tc.wantType || !strings.Contains(fe.Message, tc.wantMsg) || fe.FunctionID != "Fn" || fe.RequestID == "" {
				t.Errorf("error = %+v, want type %q message ~%q", fe, tc.wantType, tc.wantMsg)
			}
			// The function stays usable afterwards (a panicking Go runtime exits and is
			// replaced transparently).
			echo(t, r)
		})
	}
}

func TestErrorKeepsInstance(t *testing.T) {
	r, _ := newRunner(t)
	before := echo(t, r)
	if _, err := invoke(t, r, `{"action":"error","message":"nope"}`); err == nil {
		t.Fatal("want an error")
	}
	if after := echo(t, r); after.PID != before.PID {
		t.Errorf("a handled error replaced the instance (pid %d → %d)", before.PID, after.PID)
	}
}

func TestTimeoutKillsTheInstance(t *testing.T) {
	r, logs := newRunner(t, func(s *setup) { s.fn.Timeout = 300 * time.Millisecond })
	warm := echo(t, r)
	start := time.Now()
	_, err := invoke(t, r, `{"action":"sleep","sleepMs":5000}`)
	var te *lambdarun.TimeoutError
	if !errors.As(err, &te) || te.Init || te.Timeout != 300*time.Millisecond {
		t.Fatalf("err = %v, want an invocation *TimeoutError", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %v", d)
	}
	waitGone(t, warm.PID)
	if next := echo(t, r); next.PID == warm.PID {
		t.Error("the timed-out instance was reused")
	}
	if st := r.Stats()["Fn"]; st.Timeouts != 1 || st.ColdStarts != 2 {
		t.Errorf("stats = %+v", st)
	}
	if !strings.Contains(logs.String(), "Task timed out after 0.30 seconds") {
		t.Errorf("logs lack the timeout notice:\n%s", logs)
	}
}

func TestCrashDuringInvocation(t *testing.T) {
	r, _ := newRunner(t)
	_, err := invoke(t, r, `{"action":"exit","code":7}`)
	var ce *lambdarun.CrashError
	if !errors.As(err, &ce) || ce.ExitStatus != "exit status 7" {
		t.Fatalf("err = %v, want *CrashError with exit status 7", err)
	}
	echo(t, r)
	if st := r.Stats()["Fn"]; st.Crashes != 1 || st.ColdStarts != 2 || st.Instances != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestInitFailures(t *testing.T) {
	tests := []struct {
		name  string
		init  string
		check func(t *testing.T, err error)
	}{
		{"a process that exits during init", "exit", func(t *testing.T, err error) {
			var ie *lambdarun.InitError
			if !errors.As(err, &ie) || !strings.Contains(ie.Message, "exit status 3") {
				t.Errorf("err = %v, want *InitError with exit status 3", err)
			}
		}},
		{"a process that reports /init/error", "initerror", func(t *testing.T, err error) {
			var ie *lambdarun.InitError
			if !errors.As(err, &ie) || ie.Type != "InitConfigError" || ie.Message != "config missing" {
				t.Errorf("err = %v, want the reported *InitError", err)
			}
		}},
		{"a process that never asks for work", "hang", func(t *testing.T, err error) {
			var te *lambdarun.TimeoutError
			if !errors.As(err, &te) || !te.Init {
				t.Errorf("err = %v, want an init *TimeoutError", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newRunner(t, func(s *setup) {
				s.fn.Env = map[string]string{"TESTFN_INIT": tc.init}
				s.opts.InitTimeout = 500 * time.Millisecond
			})
			_, err := invoke(t, r, `{"action":"echo"}`)
			tc.check(t, err)
			if st := r.Stats()["Fn"]; st.Instances != 0 {
				// The watcher removes the instance right after failing the invocation.
				waitFor(t, func() bool { return r.Stats()["Fn"].Instances == 0 })
			}
		})
	}
}

func TestParallelInvocationsStartParallelInstances(t *testing.T) {
	const n = 4
	r, _ := newRunner(t)
	pids := parallel(t, r, n, `{"action":"sleep","sleepMs":400}`)
	if len(pids) != n {
		t.Errorf("%d distinct instances served %d parallel invocations, want %d", len(pids), n, n)
	}
	for i := 0; i < 3; i++ {
		echo(t, r)
	}
	if st := r.Stats()["Fn"]; st.ColdStarts != n || st.Instances != n || st.Invocations != n+3 {
		t.Errorf("stats = %+v", st)
	}
}

func TestMaxInstancesMakesInvocationsWait(t *testing.T) {
	r, _ := newRunner(t, func(s *setup) { s.fn.MaxInstances = 2 })
	pids := parallel(t, r, 5, `{"action":"sleep","sleepMs":200}`)
	if len(pids) > 2 {
		t.Errorf("%d instances, want at most 2", len(pids))
	}
	if st := r.Stats()["Fn"]; st.ColdStarts != 2 || st.Invocations != 5 {
		t.Errorf("stats = %+v", st)
	}
}

func TestWaitingForAnInstanceHonoursTheContext(t *testing.T) {
	r, _ := newRunner(t, func(s *setup) { s.fn.MaxInstances = 1 })
	done := make(chan error, 1)
	go func() {
		_, err := r.Invoke(context.Background(), "Fn", []byte(`{"action":"sleep","sleepMs":800}`))
		done <- err
	}()
	waitFor(t, func() bool { return r.Stats()["Fn"].Invocations == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := r.Invoke(ctx, "Fn", []byte(`{"action":"echo"}`)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if err := <-done; err != nil {
		t.Errorf("first invocation: %v", err)
	}
}

func TestLogsArePrefixedWithTheFunctionID(t *testing.T) {
	r, logs := newRunner(t)
	if _, err := invoke(t, r, `{"action":"log","message":"hello from the function"}`); err != nil {
		t.Fatal(err)
	}
	_ = r.Close() // flushes the unterminated last line
	out := logs.String()
	for _, want := range []string{"[Fn] hello from the function\n", "[Fn] partial line without newline\n", "[Fn] REPORT RequestId: ", "Init Duration: "} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
}

func TestQuietDropsLifecycleLines(t *testing.T) {
	r, logs := newRunner(t, func(s *setup) { s.opts.Quiet = true })
	echo(t, r)
	if strings.Contains(logs.String(), "REPORT") {
		t.Errorf("quiet runner logged lifecycle lines:\n%s", logs)
	}
}

func TestCloseStopsEveryProcess(t *testing.T) {
	r, _ := newRunner(t)
	pids := parallel(t, r, 3, `{"action":"sleep","sleepMs":200}`)
	inflight := make(chan error, 1)
	go func() {
		_, err := r.Invoke(context.Background(), "Fn", []byte(`{"action":"sleep","sleepMs":10000}`))
		inflight <- err
	}()
	waitFor(t, func() bool { return r.Stats()["Fn"].Invocations == 4 })
	start := time.Now()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	for pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d is still alive after Close", pid)
		}
	}
	if err := <-inflight; err == nil {
		t.Error("the in-flight invocation succeeded after Close")
	}
	if _, err := invoke(t, r, `{"action":"echo"}`); !errors.Is(err, lambdarun.ErrClosed) {
		t.Errorf("Invoke after Close: %v, want ErrClosed", err)
	}
	if st := r.Stats()["Fn"]; st.Instances != 0 {
		t.Errorf("stats after Close = %+v", st)
	}
}

func TestConfigurationErrors(t *testing.T) {
	tests := []struct {
		name    string
		fns     []lambdarun.Function
		opts    lambdarun.Options
		wantErr string
	}{
		{"a reserved variable in the template", []lambdarun.Function{{ID: "A", Path: "x", Env: map[string]string{"AWS_REGION": "x"}}}, lambdarun.Options{}, "reserved"},
		{"a function without a path", []lambdarun.Function{{ID: "A"}}, lambdarun.Options{}, "required"},
		{"a duplicate function", []lambdarun.Function{{ID: "A", Path: "x"}, {ID: "A", Path: "y"}}, lambdarun.Options{}, "twice"},
		{"an extra variable replacing the Runtime API", nil, lambdarun.Options{ExtraEnv: map[string]string{"AWS_LAMBDA_RUNTIME_API": "x"}}, "may not set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lambdarun.New(tc.fns, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestUnknownFunctionAndMissingBinary(t *testing.T) {
	checkNoLeaks(t)
	r, err := lambdarun.New([]lambdarun.Function{{ID: "Missing", Path: filepath.Join(t.TempDir(), "nope", "bootstrap")}}, lambdarun.Options{Logs: &emulatortest.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Invoke(context.Background(), "Other", nil); !errors.Is(err, lambdarun.ErrUnknownFunction) {
		t.Errorf("unknown function: %v", err)
	}
	var ie *lambdarun.InitError
	if _, err := r.Invoke(context.Background(), "Missing", nil); !errors.As(err, &ie) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing binary: %v, want an *InitError wrapping fs.ErrNotExist", err)
	}
}

// parallel runs n invocations at once and returns the distinct pids that served them (the
// test function reports its pid after any action that returns normally).
func parallel(t *testing.T, r *lambdarun.Runner, n int, payload string) map[int]bool {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		pids = map[int]bool{}
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := r.Invoke(context.Background(), "Fn", []byte(payload))
			if err != nil {
				t.Errorf("parallel invocation: %v", err)
				return
			}
			var resp echoResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Errorf("decode %s: %v", out, err)
				return
			}
			mu.Lock()
			pids[resp.PID] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	return pids
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	waitFor(t, func() bool { return !alive(pid) })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func BenchmarkInvokeWarm(b *testing.B) {
	r, err := lambdarun.New([]lambdarun.Function{{ID: "Fn", Path: fnBinary}}, lambdarun.Options{Logs: &emulatortest.Buffer{}, Quiet: true})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	payload := []byte(`{"action":"sleep","sleepMs":0}`)
	if _, err := r.Invoke(context.Background(), "Fn", payload); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Invoke(context.Background(), "Fn", payload); err != nil {
			b.Fatal(err)
		}
	}
}
