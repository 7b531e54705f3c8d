package awsproxy_test

import (
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/local/awsproxy"
)

// Names are rewritten both ways, the caller's request is observed as sent, and a rewritten
// answer carries a CRC32 of what it now says.
func TestRenamingRewritesBothWaysAndFixesTheChecksum(t *testing.T) {
	var seen, seenQuery string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen, seenQuery = string(b), r.URL.RawQuery
		answer := `{"TableName":"own-keys"}`
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(answer))), 10))
		io.WriteString(w, answer)
	}))
	defer upstream.Close()
	var observed string
	p := httptest.NewServer(awsproxy.Renaming(upstream.URL, strings.NewReplacer("stage-", "own-"), strings.NewReplacer("own-", "stage-"),
		func(_ *http.Request, body []byte) { observed = string(body) }))
	defer p.Close()

	// API Gateway's control plane names things in the query string too.
	resp, err := http.Post(p.URL+"/apikeys?name=stage-key_1&includeValues=true", "application/x-amz-json-1.0", strings.NewReader(`{"TableName":"stage-keys"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if seen != `{"TableName":"own-keys"}` || observed != `{"TableName":"stage-keys"}` {
		t.Fatalf("upstream saw %s, the observer %s", seen, observed)
	}
	if seenQuery != "name=own-key_1&includeValues=true" {
		t.Fatalf("upstream saw the query %q, want the name renamed", seenQuery)
	}
	if string(b) != `{"TableName":"stage-keys"}` {
		t.Fatalf("answer %s, want the stage's name back", b)
	}
	if got, want := resp.Header.Get("X-Amz-Crc32"), strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10); got != want {
		t.Fatalf("X-Amz-Crc32 %s, want %s (the checksum of the rewritten answer)", got, want)
	}
}
