package webhook_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/webhook"
)

// Interop: deliveries signed here verify with the `standardwebhooks` package from PyPI (an
// implementation sharing no code with this one), and its signatures verify here, for bodies
// from empty to multi-byte UTF-8 and for several secrets; tampered deliveries fail on both
// sides. The package lives in the venv infra/local/stack/install.sh builds (requirements.txt).

// pythonVenv locates the project venv's python (infra/local/stack/install.sh) and checks it has
// standardwebhooks.
func pythonVenv(t *testing.T) string {
	t.Helper()
	py := filepath.Join(emulatortest.Tool(t, "KEYGATE_VENV"), "bin", "python")
	if out, err := exec.Command(py, "-c", "import standardwebhooks").CombinedOutput(); err != nil {
		emulatortest.MissingTool(t, fmt.Sprintf("%s cannot import standardwebhooks (is infra/local/stack/requirements.txt installed?): %v\n%s", py, err, out))
	}
	return py
}

type pyVector struct {
	Secret    string            `json:"secret"`
	ID        string            `json:"id,omitempty"`
	Timestamp int64             `json:"timestamp,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	BodyB64   string            `json:"body_b64"`
}

type pyResult struct {
	Signatures []string `json:"signatures"`
	Verdicts   []struct {
		Valid bool   `json:"valid"`
		Error string `json:"error"`
	} `json:"verdicts"`
}

func runPython(t *testing.T, py string, sign, verify []pyVector) pyResult {
	t.Helper()
	in, err := json.Marshal(map[string]any{"sign": sign, "verify": verify})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join("..", "..", "infra", "test", "interop", "standardwebhooks_vectors.py"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("standardwebhooks_vectors.py: %v\n%s", err, stderr.String())
	}
	var res pyResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("standardwebhooks_vectors.py printed %q: %v", out, err)
	}
	if len(res.Signatures) != len(sign) || len(res.Verdicts) != len(verify) {
		t.Fatalf("standardwebhooks_vectors.py answered %d signatures and %d verdicts for %d and %d", len(res.Signatures), len(res.Verdicts), len(sign), len(verify))
	}
	return res
}

func TestInteropWithStandardWebhooksPython(t *testing.T) {
	py := pythonVenv(t)
	s1, _ := webhook.NewSecret()
	s2, _ := webhook.NewSecret()
	bodies := [][]byte{
		[]byte(``),
		[]byte(`{"type":"key.revoked","data":{"key_id":"key_01234567890123456789"}}`),
		[]byte("{\"name\":\"Zoë – 東京 🚀\",\"n\":1.50}\n"),
		[]byte(`{"nested":{"a":[1,2,3],"b":"` + strings.Repeat("x", 4096) + `"}}`),
	}
	now := time.Now()
	type vec struct {
		secret, id string
		ts         time.Time
		body       []byte
	}
	var vecs []vec
	for i, b := range bodies {
		secret := s1
		if i%2 == 1 {
			secret = s2
		}
		vecs = append(vecs, vec{secret, "msg_" + strconv.Itoa(i) + "_2Kx9", now.Add(-time.Duration(i) * time.Minute), b})
	}
	// The specification's example, pinned to its own timestamp: Python only signs it (its
	// verify would refuse the 2021 timestamp, as it should).
	specVec := vec{specSecret, specID, time.Unix(specTimestamp, 0), []byte(specBody)}

	t.Run("signatures made here verify with standardwebhooks", func(t *testing.T) {
		var verify []pyVector
		for _, v := range vecs {
			h, err := webhook.Headers(v.secret, v.id, v.ts, v.body)
			if err != nil {
				t.Fatal(err)
			}
			verify = append(verify, pyVector{Secret: v.secret, Headers: flat(h), BodyB64: b64(v.body)})
		}
		// Negative controls: a tampered body, another secret, a stale timestamp.
		h, _ := webhook.Headers(s1, "msg_tampered", now, []byte(`{"amount":1}`))
		verify = append(verify, pyVector{Secret: s1, Headers: flat(h), BodyB64: b64([]byte(`{"amount":9}`))})
		verify = append(verify, pyVector{Secret: s2, Headers: flat(h), BodyB64: b64([]byte(`{"amount":1}`))})
		h, _ = webhook.Headers(s1, "msg_stale", now.Add(-6*time.Minute), []byte(`{}`))
		verify = append(verify, pyVector{Secret: s1, Headers: flat(h), BodyB64: b64([]byte(`{}`))})

		res := runPython(t, py, nil, verify)
		for i, v := range res.Verdicts {
			wantValid := i < len(vecs)
			if v.Valid != wantValid {
				t.Errorf("vector %d: standardwebhooks valid=%v (%s), want %v", i, v.Valid, v.Error, wantValid)
			}
		}
		t.Logf("standardwebhooks verified %d Go-signed deliveries and refused %d tampered ones", len(vecs), len(verify)-len(vecs))
	})

	t.Run("signatures made by standardwebhooks verify here", func(t *testing.T) {
		var sign []pyVector
		for _, v := range append(vecs, specVec) {
			sign = append(sign, pyVector{Secret: v.secret, ID: v.id, Timestamp: v.ts.Unix(), BodyB64: b64(v.body)})
		}
		res := runPython(t, py, sign, nil)
		if got := res.Signatures[len(vecs)]; got != specSignature {
			t.Errorf("standardwebhooks signs the spec example as %q, want %q", got, specSignature)
		}
		for i, v := range vecs {
			h := http.Header{}
			h.Set(webhook.HeaderID, v.id)
			h.Set(webhook.HeaderTimestamp, strconv.FormatInt(v.ts.Unix(), 10))
			h.Set(webhook.HeaderSignature, res.Signatures[i])
			// With both secrets configured (a rotation), as a receiver would.
			if err := webhook.Verify(h, v.body, s2, s1); err != nil {
				t.Errorf("vector %d: Python's signature does not verify here: %v", i, err)
			}
			if err := webhook.Verify(h, append(bytes.Clone(v.body), ' '), s1, s2); !errors.Is(err, webhook.ErrNoMatch) {
				t.Errorf("vector %d with a changed body: %v, want ErrNoMatch", i, err)
			}
			if want, _ := webhook.Sign(v.secret, v.id, v.ts, v.body); want != res.Signatures[i] {
				t.Errorf("vector %d: Python signed %q, Go signs %q", i, res.Signatures[i], want)
			}
		}
		t.Logf("verified %d standardwebhooks-signed deliveries; both sides agree byte for byte", len(vecs))
	})
}

func flat(h http.Header) map[string]string {
	m := map[string]string{}
	for k := range h {
		m[strings.ToLower(k)] = h.Get(k)
	}
	return m
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
