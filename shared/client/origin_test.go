package client_test

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/keygate/keygate/shared/client"
)

// fakeToken is the access token the fakes of this file hand out.
const fakeToken = "eyJfake.origin.token"

// sent is what one request carried on the wire.
type sent struct{ method, url, auth, body string }

// recorder is the RoundTripper under the client: it records what every request carried and
// forwards it to next, or, when next is nil, answers without any network (a token for the
// token endpoint, {} for anything else).
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	sent []sent
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		_ = req.Body.Close()
	}
	r.mu.Lock()
	r.sent = append(r.sent, sent{req.Method, req.URL.String(), req.Header.Get("Authorization"), string(body)})
	r.mu.Unlock()
	if r.next != nil {
		out := req.Clone(req.Context())
		out.Body = io.NopCloser(bytes.NewReader(body))
		return r.next.RoundTrip(out)
	}
	answer := `{}`
	if strings.HasSuffix(req.URL.Path, "/v1/auth/token") {
		answer = `{"access_token":"` + fakeToken + `","token_type":"Bearer","expires_in":900}`
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(answer)), Request: req}, nil
}

// authFor returns the Authorization header of every recorded request for url (path included).
func (r *recorder) authFor(url string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.sent {
		if s.url == url {
			out = append(out, s.auth)
		}
	}
	return out
}

// credentialModes are the two credentials a client presents: the access token it exchanged
// the key for, and (WithoutTokenExchange, as authctl does) the long-lived API key itself.
var credentialModes = []struct {
	name   string
	opts   []client.Option
	bearer string
}{
	{"access token", nil, "Bearer " + fakeToken},
	{"API key as is", []client.Option{client.WithoutTokenExchange()}, "Bearer " + testKey},
}

func TestCredentialsGoOnlyToTheBaseURLsOrigin(t *testing.T) {
	tests := []struct {
		name, base, url string
		attached        bool
	}{
		{"the base URL's origin gets them", "https://api.example.com", "https://api.example.com/v1/customers", true},
		{"the default port spelt out is the same origin", "https://api.example.com", "https://api.example.com:443/v1/customers", true},
		{"a base with the default port spelt out matches one without", "https://api.example.com:443", "https://api.example.com/v1/customers", true},
		{"host names compare without case", "https://api.example.com", "https://API.Example.COM/v1/customers", true},
		{"a base path prefix does not narrow the origin", "https://api.example.com/auth", "https://api.example.com/v1/customers", true},
		{"a plain-HTTP base gets them over HTTP", "http://127.0.0.1:3000", "http://127.0.0.1:3000/v1/customers", true},
		{"http's default port spelt out is the same origin", "http://localhost", "http://localhost:80/v1/customers", true},
		{"plain HTTP to an HTTPS base's host never does", "https://api.example.com", "http://api.example.com/v1/customers", false},
		{"plain HTTP on port 443 never does", "https://api.example.com", "http://api.example.com:443/v1/customers", false},
		{"HTTPS to an HTTP base's host:port is another origin", "http://127.0.0.1:3000", "https://127.0.0.1:3000/v1/customers", false},
		{"another port of the same host is another origin", "https://api.example.com", "https://api.example.com:8443/v1/customers", false},
		{"another port of a plain-HTTP base's host is another origin", "http://127.0.0.1:3000", "http://127.0.0.1:3001/v1/customers", false},
		{"a host that merely starts with the API's is another origin", "https://api.example.com", "https://api.example.com.evil.test/v1/customers", false},
		{"a subdomain is another origin", "https://example.com", "https://api.example.com/v1/customers", false},
		{"a third party gets nothing", "https://api.example.com", "https://evil.test/v1/customers", false},
	}
	for _, mode := range credentialModes {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				rec := &recorder{}
				opts := append([]client.Option{client.WithHTTPClient(&http.Client{Transport: rec})}, mode.opts...)
				c, err := client.New(tt.base, testKey, opts...)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := c.HTTPClient().Get(tt.url)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				got := rec.authFor(tt.url)
				if len(got) != 1 {
					t.Fatalf("requests for %s: %q, want one", tt.url, got)
				}
				if want := map[bool]string{true: mode.bearer, false: ""}[tt.attached]; got[0] != want {
					t.Fatalf("base %s, request %s carried Authorization %q, want %q", tt.base, tt.url, got[0], want)
				}
			})
		}
	}
}

// origin is an httptest server that records what it was sent and answers by path.
type origin struct {
	*httptest.Server
	mu   sync.Mutex
	seen []sent
}

func newOrigin(t *testing.T, tls bool, routes func(o *origin, w http.ResponseWriter, r *http.Request)) *origin {
	o := &origin{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		o.mu.Lock()
		o.seen = append(o.seen, sent{r.Method, r.URL.Path, r.Header.Get("Authorization"), string(b)})
		o.mu.Unlock()
		if r.URL.Path == "/v1/auth/token" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"access_token":"`+fakeToken+`","token_type":"Bearer","expires_in":900}`)
			return
		}
		routes(o, w, r)
	})
	o.Server = httptest.NewUnstartedServer(h)
	o.Config.ErrorLog = log.New(io.Discard, "", 0) // "client sent an HTTP request to an HTTPS server" is expected
	if tls {
		o.StartTLS()
	} else {
		o.Start()
	}
	t.Cleanup(o.Close)
	return o
}

// requests returns what the origin saw, token requests left out.
func (o *origin) requests() []sent {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []sent
	for _, s := range o.seen {
		if s.url != "/v1/auth/token" {
			out = append(out, s)
		}
	}
	return out
}

func (o *origin) reset() {
	o.mu.Lock()
	o.seen = nil
	o.mu.Unlock()
}

func TestNoCredentialsReachTheAPIThroughARedirectFromAnotherOrigin(t *testing.T) {
	var other *origin
	api := newOrigin(t, false, func(o *origin, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/bounce":
			http.Redirect(w, r, "/v1/echo", http.StatusFound)
		case "/v1/away":
			http.Redirect(w, r, other.URL+"/landing", http.StatusFound)
		}
	})
	// Another origin: the same host on another port.
	other = newOrigin(t, false, func(o *origin, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-api":
			http.Redirect(w, r, api.URL+"/v1/echo", http.StatusFound)
		case "/to-api-307":
			http.Redirect(w, r, api.URL+"/v1/echo", http.StatusTemporaryRedirect)
		case "/to-api-308":
			http.Redirect(w, r, api.URL+"/v1/echo", http.StatusPermanentRedirect)
		case "/to-api-bounce":
			http.Redirect(w, r, api.URL+"/v1/bounce", http.StatusFound)
		}
	})
	tests := []struct {
		name      string
		method    string
		url       string
		body      string
		wantAPI   []sent // method, path, whether credentialed ("cred" or ""), body
		wantOther []sent
	}{
		{"a request for the API's origin carries the credential", "GET", api.URL + "/v1/echo", "",
			[]sent{{"GET", "/v1/echo", "cred", ""}}, nil},
		{"a redirect within the API's origin keeps it", "GET", api.URL + "/v1/bounce", "",
			[]sent{{"GET", "/v1/bounce", "cred", ""}, {"GET", "/v1/echo", "cred", ""}}, nil},
		{"a redirect from another origin to the API does not get it", "GET", other.URL + "/to-api", "",
			[]sent{{"GET", "/v1/echo", "", ""}}, []sent{{"GET", "/to-api", "", ""}}},
		{"a 307 from another origin replays the body to the API without it", "POST", other.URL + "/to-api-307", `{"n":1}`,
			[]sent{{"POST", "/v1/echo", "", `{"n":1}`}}, []sent{{"POST", "/to-api-307", "", `{"n":1}`}}},
		{"a 308 from another origin replays the body to the API without it", "PUT", other.URL + "/to-api-308", `{"n":2}`,
			[]sent{{"PUT", "/v1/echo", "", `{"n":2}`}}, []sent{{"PUT", "/to-api-308", "", `{"n":2}`}}},
		{"a chain that passed through another origin stays without it, API hops included", "GET", other.URL + "/to-api-bounce", "",
			[]sent{{"GET", "/v1/bounce", "", ""}, {"GET", "/v1/echo", "", ""}}, []sent{{"GET", "/to-api-bounce", "", ""}}},
		{"the API redirecting elsewhere gives the other origin nothing", "GET", api.URL + "/v1/away", "",
			[]sent{{"GET", "/v1/away", "cred", ""}}, []sent{{"GET", "/landing", "", ""}}},
	}
	for _, mode := range credentialModes {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				api.reset()
				other.reset()
				c, err := client.New(api.URL, testKey, mode.opts...)
				if err != nil {
					t.Fatal(err)
				}
				req, err := http.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
				if err != nil {
					t.Fatal(err)
				}
				resp, err := c.HTTPClient().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				for _, side := range []struct {
					name string
					got  []sent
					want []sent
				}{{"the API", api.requests(), tt.wantAPI}, {"the other origin", other.requests(), tt.wantOther}} {
					if len(side.got) != len(side.want) {
						t.Fatalf("%s saw %q, want %q", side.name, side.got, side.want)
					}
					for i, w := range side.want {
						if w.auth == "cred" {
							w.auth = mode.bearer
						}
						if side.got[i] != w {
							t.Fatalf("%s saw %q as request %d, want %q", side.name, side.got[i], i+1, w)
						}
					}
				}
			})
		}
	}
}

func TestAnHTTPSBaseNeverSendsCredentialsOverPlainHTTP(t *testing.T) {
	api := newOrigin(t, true, func(*origin, http.ResponseWriter, *http.Request) {})
	plainURL := "http://" + strings.TrimPrefix(api.URL, "https://") + "/v1/customers" // same host and port, http
	other := newOrigin(t, false, func(o *origin, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plainURL, http.StatusFound)
	})
	for _, mode := range credentialModes {
		t.Run(mode.name, func(t *testing.T) {
			rec := &recorder{next: api.Client().Transport} // trusts the test server's certificate
			opts := append([]client.Option{client.WithHTTPClient(&http.Client{Transport: rec})}, mode.opts...)
			c, err := client.New(api.URL, testKey, opts...)
			if err != nil {
				t.Fatal(err)
			}
			hc := c.HTTPClient()
			for _, u := range []string{api.URL + "/v1/customers", plainURL, other.URL + "/to-plain"} {
				if resp, err := hc.Get(u); err == nil {
					resp.Body.Close()
				}
			}
			if got := rec.authFor(api.URL + "/v1/customers"); len(got) != 1 || got[0] != mode.bearer {
				t.Fatalf("HTTPS request to the API carried %q, want %q", got, mode.bearer)
			}
			// Once asked for directly, once reached through the other origin's redirect.
			if got := rec.authFor(plainURL); len(got) != 2 || got[0] != "" || got[1] != "" {
				t.Fatalf("plain-HTTP requests to the API's host and port carried %q, want no credential", got)
			}
		})
	}
}

func TestWithAPIOriginsAddsOriginsNotHosts(t *testing.T) {
	const base = "https://api.example.com"
	tests := []struct {
		name     string
		origins  []string
		url      string
		attached bool
	}{
		{"a named origin gets the credential", []string{"https://api2.example.com"}, "https://api2.example.com/v1/customers", true},
		{"a trailing slash is allowed", []string{"https://api2.example.com/"}, "https://api2.example.com:443/v1/customers", true},
		{"a named port is part of the origin", []string{"https://api2.example.com:8443"}, "https://api2.example.com:8443/v1/customers", true},
		{"the named origin's host on another port gets nothing", []string{"https://api2.example.com:8443"}, "https://api2.example.com/v1/customers", false},
		{"the named origin's host over plain HTTP gets nothing", []string{"https://api2.example.com"}, "http://api2.example.com/v1/customers", false},
		{"the base URL's origin still gets it", []string{"https://api2.example.com"}, base + "/v1/customers", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			c, err := client.New(base, testKey, client.WithoutTokenExchange(), client.WithHTTPClient(&http.Client{Transport: rec}),
				client.WithAPIOrigins(tt.origins...))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.HTTPClient().Get(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := rec.authFor(tt.url); len(got) != 1 || (got[0] != "") != tt.attached {
				t.Fatalf("%s carried %q, want attached = %v", tt.url, got, tt.attached)
			}
		})
	}
}

func TestNewRefusesOriginsThatAreNotOrigins(t *testing.T) {
	tests := []struct{ name, base, origin string }{
		{"a bare host (which scheme?)", "https://api.example.com", "api2.example.com"},
		{"a host and port without a scheme", "https://api.example.com", "api2.example.com:8443"},
		{"a path", "https://api.example.com", "https://api2.example.com/v1"},
		{"a query", "https://api.example.com", "https://api2.example.com?x=1"},
		{"another scheme", "https://api.example.com", "ftp://api2.example.com"},
		{"no host", "https://api.example.com", "https://"},
		{"a port out of range", "https://api.example.com", "https://api2.example.com:70000"},
		{"plain HTTP beside an HTTPS base", "https://api.example.com", "http://api2.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := client.New(tt.base, testKey, client.WithAPIOrigins(tt.origin)); err == nil {
				t.Fatalf("New(%q, WithAPIOrigins(%q)) succeeded", tt.base, tt.origin)
			} else if strings.Contains(err.Error(), testKey) {
				t.Fatalf("the error shows the key: %v", err)
			}
		})
	}
	if _, err := client.New("http://127.0.0.1:3000", testKey, client.WithAPIOrigins("http://127.0.0.1:3001", "https://api.example.com")); err != nil {
		t.Fatalf("an HTTP base with HTTP and HTTPS origins: %v", err)
	}
}
