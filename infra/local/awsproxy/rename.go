package awsproxy

import (
	"bytes"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Renaming forwards to target with resource names rewritten: in on requests (body and query
// string), out on answers
// (for example a stage's tables to names of a test's own, so two stacks of one stage share the
// emulators but no table). DynamoDB signs each answer with a CRC32 of its body, so a changed
// answer gets its checksum recomputed; the SDK would otherwise refuse it. observe, if set, sees
// each request and its body as the caller sent it (before renaming).
func Renaming(target string, in, out *strings.Replacer, observe func(r *http.Request, body []byte)) http.Handler {
	client := &http.Client{Timeout: time.Minute}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if observe != nil {
			observe(r, body)
		}
		body = []byte(in.Replace(string(body)))
		// API Gateway's control plane (REST) also names things in the query string
		// (GetApiKeys?name=…), so the query is renamed like the body.
		u := *r.URL
		u.RawQuery = in.Replace(u.RawQuery)
		req, err := http.NewRequestWithContext(r.Context(), r.Method, strings.TrimSuffix(target, "/")+u.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		req.Header.Del("Accept-Encoding") // the body is rewritten: it must arrive uncompressed
		req.ContentLength = int64(len(body))
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		rb, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if renamed := out.Replace(string(rb)); renamed != string(rb) {
			rb = []byte(renamed)
			if resp.Header.Get("X-Amz-Crc32") != "" {
				resp.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(rb)), 10))
			}
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(rb)))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(rb)
	})
}
