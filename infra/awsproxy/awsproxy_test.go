package awsproxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/infra/awsproxy"
)

func TestCountsAndFaults(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}") }))
	defer backend.Close()
	p, err := awsproxy.Start(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	send := func(op string) (*http.Response, error) {
		req, _ := http.NewRequest("POST", p.URL, strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
		return (&http.Client{Timeout: time.Second}).Do(req)
	}
	before := p.Snapshot()
	for _, op := range []string{"GetItem", "GetItem", "Query"} {
		resp, err := send(op)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", op, resp, err)
		}
		resp.Body.Close()
	}
	if ops, n := p.Since(before); n != 3 || ops["GetItem"] != 2 || ops["Query"] != 1 {
		t.Fatalf("Since = %v, %d", ops, n)
	}
	tests := []struct {
		f      awsproxy.Fault
		status int // 0: a transport error
	}{
		{awsproxy.Fault{Kind: awsproxy.Unreachable}, 0},
		{awsproxy.Fault{Kind: awsproxy.Throttled, ThrottleType: "ThrottlingException"}, 400},
		{awsproxy.Fault{Kind: awsproxy.Slow, Delay: 2 * time.Second}, 0}, // beyond the client timeout
	}
	for _, tt := range tests {
		p.Inject(tt.f)
		resp, err := send("GetItem")
		switch {
		case tt.status == 0 && err == nil:
			t.Errorf("fault %v: answered %d", tt.f.Kind, resp.StatusCode)
		case tt.status != 0 && (err != nil || resp.StatusCode != tt.status || resp.Header.Get("X-Amzn-ErrorType") != tt.f.ThrottleType):
			t.Errorf("fault %v: %v %v", tt.f.Kind, resp, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	p.Clear()
	if resp, err := send("GetItem"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after Clear: %v %v", resp, err)
	}
}
