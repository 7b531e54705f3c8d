package local

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// Request sends one request to a local API as a client would: Authorization: Bearer when
// bearer is set, a JSON body when body is not nil. It returns the status, headers and body;
// tests and benchmarks decide what is right.
func Request(ctx context.Context, base, method, path, bearer string, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out, err
}
