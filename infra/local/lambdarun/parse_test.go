package lambdarun_test

import (
	"testing"
	"time"

	"github.com/keygate/keygate/infra/local/lambdarun"
	"github.com/keygate/keygate/infra/local/samtpl"
)

// FuzzParseErrorBody: whatever a runtime posts to /error becomes a typed error with a type.
func FuzzParseErrorBody(f *testing.F) {
	f.Add([]byte(`{"errorMessage":"Unauthorized","errorType":"errorString"}`), "")
	f.Add([]byte(`not json`), "Runtime.Custom")
	f.Add([]byte(`{"errorMessage":7}`), "")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		fe := lambdarun.ParseErrorBody(body, header)
		if fe == nil || fe.Type == "" {
			t.Fatalf("ParseErrorBody(%q, %q) = %+v", body, header, fe)
		}
	})
}

func TestParseErrorBody(t *testing.T) {
	tests := []struct {
		body, header, wantType, wantMsg string
	}{
		{`{"errorMessage":"Unauthorized","errorType":"errorString"}`, "", "errorString", "Unauthorized"},
		{`{"errorMessage":"x"}`, "Runtime.HeaderType", "Runtime.HeaderType", "x"},
		{`plain text`, "", "Runtime.Unknown", "plain text"},
	}
	for _, tc := range tests {
		fe := lambdarun.ParseErrorBody([]byte(tc.body), tc.header)
		if fe.Type != tc.wantType || fe.Message != tc.wantMsg {
			t.Errorf("ParseErrorBody(%q) = %+v", tc.body, fe)
		}
	}
}

func TestFromTemplate(t *testing.T) {
	tpl, err := samtpl.Load("../../../template.yaml", samtpl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fns := lambdarun.FromTemplate(tpl, ".build/local")
	if len(fns) != len(tpl.Functions) {
		t.Fatalf("%d functions, want %d", len(fns), len(tpl.Functions))
	}
	var auth lambdarun.Function
	for _, f := range fns {
		if f.ID == "AuthorizerFunction" {
			auth = f
		}
	}
	if auth.Path != ".build/local/AuthorizerFunction/bootstrap" || auth.Timeout != 5*time.Second || auth.MemorySize != 1024 ||
		auth.Env["KEYGATE_STAGE"] != "dev" || auth.Handler != "bootstrap" || auth.LogFormat != "JSON" || auth.LogLevel != "INFO" {
		t.Errorf("authorizer = %+v", auth)
	}
	if _, err := lambdarun.New(fns, lambdarun.Options{}); err != nil {
		t.Errorf("the template's functions are refused: %v", err)
	}
}
