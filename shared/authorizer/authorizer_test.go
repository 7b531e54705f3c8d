package authorizer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/authorizer"
	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/signing/signingtest"

	"github.com/keygate/keygate/shared/signing"

	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/secret/secrettest"

	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/memstore"
	"github.com/keygate/keygate/shared/token"
	"github.com/keygate/keygate/shared/usageplan"
)

const (
	issuer          = "https://auth.keygate.test"
	audience        = "https://api.keygate.test"
	stage           = "arn:aws:execute-api:us-east-1:123456789012:abc123defg/prod"
	signingSecretID = "keygate/test/signing"
)

var (
	ctx    = context.Background()
	pepper = []byte("0123456789abcdef0123456789abcdef")
	start  = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

// fixture loads an API Gateway REQUEST authorizer event from testdata; credential, when not
// empty, replaces the CREDENTIAL placeholder of the Authorization header.
func fixture(t testing.TB, name, credential string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if credential != "" {
		b = bytes.ReplaceAll(b, []byte("CREDENTIAL"), []byte(credential))
	}
	var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// secretsWith is a Secrets Manager holding one secret, name, whose AWSCURRENT is current.
func secretsWith(name string, current []byte) *secrettest.SecretsManager {
	sm := secrettest.New(name)
	sm.Set(secret.StageCurrent, current)
	return sm
}

type staticPepper struct{ err error }

func (p staticPepper) Get(context.Context) ([]byte, error) { return pepper, p.err }

// failingUsage cannot name usage-plan buckets (the pepper is unavailable).
type failingUsage struct{}

func (failingUsage) UsageIdentifier(context.Context, string) (string, error) {
	return "", errors.New("AccessDeniedException")
}

// assertUsageKey checks that an answer names the key's usage-plan bucket, so API Gateway
// applies the key's usage plan to the call.
func assertUsageKey(t *testing.T, e *env, resp events.APIGatewayCustomAuthorizerResponse, keyID string) {
	t.Helper()
	if want := usageplan.Identifier(e.hasher, keyID); resp.UsageIdentifierKey != want {
		t.Errorf("usageIdentifierKey = %q, want the usage identifier of %s (%q)", resp.UsageIdentifierKey, keyID, want)
	}
}

// failingFinder is a key store that is down.
type failingFinder struct{}

func (failingFinder) KeyByHash(context.Context, string) (store.Key, error) {
	return store.Key{}, errors.New("dynamodb: RequestLimitExceeded")
}

// signingSecret is the package's signing key, generated once per test binary.
func signingSecret(t testing.TB) []byte { return signingtest.Secret(t, signing.EdDSA, start) }

type env struct {
	clock  *clocktest.Clock
	denied *fakeDenied
	verify *countingVerifier
	sm     *secrettest.SecretsManager
	keys   *memstore.Keys
	hasher *apikey.Hasher
	issuer *token.Issuer
	authz  *authorizer.Authorizer
	logs   *bytes.Buffer
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{clock: clocktest.New(start), sm: secretsWith(signingSecretID, signingSecret(t)), logs: &bytes.Buffer{}}
	e.keys = memstore.NewKeys(e.clock.Now)
	var err error
	if e.hasher, err = apikey.NewHasher(pepper); err != nil {
		t.Fatal(err)
	}
	ring := signing.New(e.sm, signingSecretID, signing.Options{Now: e.clock.Now})
	e.issuer = token.NewIssuer(ring, issuer, audience, e.clock.Now)
	v, err := token.NewVerifier(ring, issuer, audience, token.DefaultLeeway, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	e.denied = &fakeDenied{m: map[string]map[string]time.Time{}}
	e.verify = &countingVerifier{v: v}
	opts := authorizer.CacheOptions{MaxAge: maxAge, Now: e.clock.Now}
	keys := apikey.NewAuthenticator("kg_live", staticPepper{}, authorizer.NewKeyCache(e.keys, opts), e.clock.Now)
	e.authz = &authorizer.Authorizer{
		Keys:     keys,
		Tokens:   e.verify,
		Revoked:  authorizer.NewChecker(e.keys, e.denied, opts),
		Usage:    &usageplan.Identifiers{Hashers: keys},
		Log:      slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:      e.clock.Now,
		Remember: maxAge,
	}
	return e
}

// maxAge is the revocation bound the tests run with.
const maxAge = 30 * time.Second

// fakeDenied is the deny-list store.
type fakeDenied struct {
	mu  sync.Mutex
	m   map[string]map[string]time.Time
	err error
}

func (f *fakeDenied) DeniedTokens(_ context.Context, keyID string) (map[string]time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := map[string]time.Time{}
	for j, e := range f.m[keyID] {
		out[j] = e
	}
	return out, nil
}

func (f *fakeDenied) deny(keyID, jti string, exp time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m[keyID] == nil {
		f.m[keyID] = map[string]time.Time{}
	}
	f.m[keyID][jti] = exp
}

// countingVerifier counts full verifications (signature checks).
type countingVerifier struct {
	v     *token.Verifier
	calls atomic.Int64
}

func (c *countingVerifier) Verify(ctx context.Context, raw string) (*token.Claims, error) {
	c.calls.Add(1)
	return c.v.Verify(ctx, raw)
}

// tokenFor stores a key with scopes and issues a token minted from it.
func (e *env) tokenFor(t testing.TB, g token.Grant, scopes ...string) (string, store.Key) {
	t.Helper()
	_, k := e.addKey(t, func(k *store.Key) { k.Scopes = scopes })
	g.KeyID, g.KeyGen, g.OwnerID, g.Scopes = k.KeyID, k.KeyGen, k.OwnerID, scopes
	return e.issue(t, g), k
}

// withDeny adds the context keys the ACCESS_DENIED gateway response reads.
func withDeny(m map[string]string, required, code string) map[string]string {
	m["required_scope"] = required
	m["deny_code"] = code
	switch code {
	case "insufficient_permissions":
		m["deny_message"] = httpapi.InsufficientPermissions("").Message
	case "ip_not_allowed":
		m["deny_message"] = httpapi.IPNotAllowed().Message
	}
	m["deny_type"] = httpapi.TypeAuthorization
	return m
}

func (e *env) addKey(t testing.TB, tweak func(*store.Key)) (string, store.Key) {
	t.Helper()
	raw, err := apikey.Generate("kg_live", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := apikey.NewKeyID(rand.Reader)
	k := store.Key{Hash: e.hasher.Hash(raw), KeyID: id, Name: "test", Scopes: []string{"customers:read"},
		RateLimit: 120, Tier: "pro", Status: store.StatusActive, CreatedAt: start, KeyGen: 1, OwnerID: "team-7"}
	if tweak != nil {
		tweak(&k)
	}
	if err := e.keys.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	return raw, k
}

func (e *env) issue(t testing.TB, g token.Grant) string {
	t.Helper()
	if g.TTL == 0 {
		g.TTL = time.Hour
	}
	raw, _, err := e.issuer.Issue(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// assertUnauthorized checks API Gateway's 401 contract: exactly the error "Unauthorized" and
// no policy.
func assertUnauthorized(t *testing.T, resp events.APIGatewayCustomAuthorizerResponse, err error) {
	t.Helper()
	if err == nil || err.Error() != "Unauthorized" {
		t.Fatalf("error = %v, want exactly \"Unauthorized\"", err)
	}
	if resp.PrincipalID != "" || len(resp.PolicyDocument.Statement) != 0 || resp.Context != nil {
		t.Errorf("a refusal carries a policy or context: %+v", resp)
	}
}

func TestCredentialsThatAreNotAcceptedAreUnauthorized(t *testing.T) {
	e := newEnv(t)
	expired := e.issue(t, token.Grant{KeyID: "key_1", Scopes: []string{"customers:read"}, TTL: time.Minute})
	revokedKey, _ := e.addKey(t, func(k *store.Key) { k.Status = store.StatusRevoked })
	otherIssuer := token.NewIssuer(signing.New(secretsWith("other", mustGenerate(t)), "other", signing.Options{Now: e.clock.Now}), issuer, audience, e.clock.Now)
	forged, _, err := otherIssuer.Issue(ctx, token.Grant{KeyID: "key_1", Scopes: []string{"admin:full"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	unknownKey, _ := apikey.Generate("kg_live", rand.Reader)
	e.clock.Advance(2 * time.Minute) // the short-lived token is now expired

	tests := []struct {
		name    string
		fixture string
		cred    string
	}{
		{"no Authorization header", "request-no-authorization.json", ""},
		{"a Basic credential", "request-basic.json", ""},
		{"a garbage bearer token", "request-garbage.json", ""},
		{"an empty bearer credential", "request-empty-bearer.json", ""},
		{"an expired token", "request.json", expired},
		{"a token signed by another key", "request.json", forged},
		{"alg none", "request.json", "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzY29wZSI6ImFkbWluOmZ1bGwifQ."},
		{"an unknown API key", "request.json", unknownKey},
		{"a revoked API key", "request.json", revokedKey},
		{"a 1 MB credential", "request.json", strings.Repeat("A", 1<<20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := e.authz.Handle(ctx, fixture(t, tt.fixture, tt.cred))
			assertUnauthorized(t, resp, err)
			if tt.cred != "" && strings.Contains(e.logs.String(), tt.cred[:min(len(tt.cred), 40)]) {
				t.Errorf("the log contains the credential")
			}
		})
	}
}

// Two different Authorization values are refused, whichever is valid: API Gateway's cache key
// and the credential checked here could otherwise be different ones.
func TestTwoDifferentAuthorizationValuesAreUnauthorized(t *testing.T) {
	e := newEnv(t)
	tok, _ := e.tokenFor(t, token.Grant{}, "customers:read")
	other, _ := e.tokenFor(t, token.Grant{}, "admin:full")
	tests := []struct {
		name  string
		multi []string
		ok    bool
	}{
		{"the same value twice is one credential", []string{"Bearer " + tok, "Bearer " + tok}, true},
		{"a second, different token", []string{"Bearer " + tok, "Bearer " + other}, false},
		{"a second, garbage value", []string{"Bearer " + tok, "Basic Zm9vOmJhcg=="}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := fixture(t, "request.json", tok)
			ev.MultiValueHeaders = map[string][]string{"Authorization": tt.multi}
			resp, err := e.authz.Handle(ctx, ev)
			if !tt.ok {
				assertUnauthorized(t, resp, err)
			} else if err != nil {
				t.Errorf("Handle = %v, want the token's policy", err)
			}
		})
	}
}

func mustGenerate(t testing.TB) []byte {
	b, err := signing.Generate(signing.EdDSA, rand.Reader, start)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAValidAccessTokenGetsAPolicyOfItsScopesAndAFlatContext(t *testing.T) {
	e := newEnv(t)
	tok, k := e.tokenFor(t, token.Grant{CustomerID: "cus_42", Tier: "pro", RateLimit: 600}, "customers:read")
	for _, fx := range []string{"request.json", "request-lowercase-header.json"} {
		t.Run(fx, func(t *testing.T) {
			resp, err := e.authz.Handle(ctx, fixture(t, fx, tok))
			if err != nil {
				t.Fatalf("Handle = %v", err)
			}
			// The customer id is the caller's choice: the identity is the key.
			if resp.PrincipalID != k.KeyID {
				t.Errorf("principalId = %q, want the key id %s, never the caller-chosen customer id", resp.PrincipalID, k.KeyID)
			}
			assertPolicyIsExactly(t, resp.PolicyDocument, "customers", []string{"GET", "HEAD", "OPTIONS"})
			assertUsageKey(t, e, resp, k.KeyID)
			// The answer remembered for the token (the warm path) names it too.
			again, err := e.authz.Handle(ctx, fixture(t, fx, tok))
			if err != nil {
				t.Fatal(err)
			}
			assertUsageKey(t, e, again, k.KeyID)
			assertFlatContext(t, resp, withDeny(map[string]string{
				"key_id": k.KeyID, "customer_id": "cus_42", "owner_id": "team-7", "scope": "customers:read",
				"tier": "pro", "token_type": "access_token", "rate_limit": "600",
			}, "customers:read", "insufficient_permissions"), tok)
		})
	}
}

func TestAValidAPIKeyGetsAPolicyOfItsScopes(t *testing.T) {
	e := newEnv(t)
	key, k := e.addKey(t, nil)
	resp, err := e.authz.Handle(ctx, fixture(t, "request.json", key))
	if err != nil {
		t.Fatalf("Handle = %v", err)
	}
	if resp.PrincipalID != k.KeyID {
		t.Errorf("principalId = %q, want the key id", resp.PrincipalID)
	}
	assertPolicyIsExactly(t, resp.PolicyDocument, "customers", []string{"GET", "HEAD", "OPTIONS"})
	assertUsageKey(t, e, resp, k.KeyID)
	assertFlatContext(t, resp, withDeny(map[string]string{
		"key_id": k.KeyID, "customer_id": "", "owner_id": "team-7", "scope": "customers:read",
		"tier": "pro", "token_type": "api_key", "rate_limit": "120",
	}, "customers:read", "insufficient_permissions"), key)
}

// The policy depends on the credential only, so the same Allow comes back whatever route is
// being called (it is cached per Authorization header); the route check is IAM's, by ARN.
func TestThePolicyDoesNotDependOnTheCalledRoute(t *testing.T) {
	e := newEnv(t)
	key, _ := e.addKey(t, nil)
	a, errA := e.authz.Handle(ctx, fixture(t, "request.json", key))
	b, errB := e.authz.Handle(ctx, fixture(t, "request-admin-route.json", key))
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	ja, _ := json.Marshal(a.PolicyDocument)
	jb, _ := json.Marshal(b.PolicyDocument)
	if !bytes.Equal(ja, jb) {
		t.Errorf("policies differ by route:\n%s\n%s", ja, jb)
	}
	for _, st := range b.PolicyDocument.Statement {
		for _, r := range st.Resource {
			if strings.Contains(r, "/v1/keys") || strings.HasSuffix(r, "/*/*") {
				t.Errorf("a customers:read policy grants %s", r)
			}
		}
	}
}

func TestAKeyWithNoScopesGetsAnExplicitDeny(t *testing.T) {
	e := newEnv(t)
	key, _ := e.addKey(t, func(k *store.Key) { k.Scopes = nil })
	resp, err := e.authz.Handle(ctx, fixture(t, "request.json", key))
	if err != nil {
		t.Fatalf("Handle = %v", err)
	}
	if len(resp.PolicyDocument.Statement) != 1 || resp.PolicyDocument.Statement[0].Effect != "Deny" {
		t.Errorf("policy = %+v, want an explicit Deny", resp.PolicyDocument)
	}
}

func assertPolicyIsExactly(t *testing.T, doc events.APIGatewayCustomAuthorizerPolicy, resource string, methods []string) {
	t.Helper()
	if doc.Version != "2012-10-17" || len(doc.Statement) != 1 {
		t.Fatalf("policy = %+v", doc)
	}
	st := doc.Statement[0]
	if st.Effect != "Allow" || !slices.Equal(st.Action, []string{"execute-api:Invoke"}) {
		t.Errorf("statement = %+v", st)
	}
	var want []string
	for _, m := range methods {
		want = append(want, stage+"/"+m+"/v1/"+resource, stage+"/"+m+"/v1/"+resource+"/*")
	}
	got := slices.Clone(st.Resource)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("resources = %v\nwant %v", got, want)
	}
}

func assertFlatContext(t *testing.T, resp events.APIGatewayCustomAuthorizerResponse, want map[string]string, credential string) {
	t.Helper()
	if len(resp.Context) != len(want) {
		t.Errorf("context keys = %v, want %v", keys(resp.Context), keys(want))
	}
	for k, v := range resp.Context {
		s, ok := v.(string)
		if !ok {
			t.Errorf("context[%q] is a %T; API Gateway wants flat values and backends get strings", k, v)
			continue
		}
		if want[k] != s {
			t.Errorf("context[%q] = %q, want %q", k, s, want[k])
		}
	}
	b, _ := json.Marshal(resp)
	if strings.Contains(string(b), credential) {
		t.Errorf("the response carries the credential")
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Outside its allowlist a key gets an explicit Deny of everything whose context makes the
// ACCESS_DENIED gateway response a 403 ip_not_allowed (API Gateway caches it per source IP,
// an identity source).
func TestAKeyUsedOutsideItsAllowedIPsIsDeniedWithIPNotAllowed(t *testing.T) {
	e := newEnv(t)
	key, k := e.addKey(t, func(k *store.Key) { k.AllowedIPs = []string{"203.0.113.0/24"} })
	if _, err := e.authz.Handle(ctx, fixture(t, "request.json", key)); err != nil {
		t.Fatalf("from inside the allowlist: %v", err)
	}
	// X-Forwarded-For in the fixture names 203.0.113.7 too: it must not count.
	resp, err := e.authz.Handle(ctx, fixture(t, "request-other-source.json", key))
	if err != nil {
		t.Fatalf("Handle = %v", err)
	}
	if len(resp.PolicyDocument.Statement) != 1 || resp.PolicyDocument.Statement[0].Effect != "Deny" ||
		!slices.Equal(resp.PolicyDocument.Statement[0].Resource, []string{stage + "/*/*"}) {
		t.Errorf("policy = %+v, want an explicit Deny of everything", resp.PolicyDocument)
	}
	assertFlatContext(t, resp, withDeny(map[string]string{
		"key_id": k.KeyID, "customer_id": "", "owner_id": "team-7", "scope": "customers:read",
		"tier": "pro", "token_type": "api_key", "rate_limit": "120",
	}, "customers:read", "ip_not_allowed"), key)
}

func TestDependencyFailuresAreNotUnauthorizedAndYieldNoPolicy(t *testing.T) {
	tok := func(e *env) string {
		c, _ := e.tokenFor(t, token.Grant{}, "customers:read")
		return c
	}
	tests := []struct {
		name string
		cred func(t *testing.T, e *env) string
	}{
		{"Secrets Manager down at cold start", func(t *testing.T, e *env) string {
			c := tok(e)
			cold := newEnv(t)
			cold.sm.Fail(errors.New("dial tcp: i/o timeout"))
			*e = *cold
			return c
		}},
		{"Secrets Manager down beyond MaxStale", func(t *testing.T, e *env) string {
			c := tok(e)
			if _, err := e.authz.Handle(ctx, fixture(t, "request.json", c)); err != nil {
				t.Fatal(err)
			}
			e.sm.Fail(errors.New("ThrottlingException"))
			e.clock.Advance(time.Hour + time.Second)
			return e.issueFromStale(t)
		}},
		{"the key store down", func(t *testing.T, e *env) string {
			key, _ := e.addKey(t, nil)
			e.authz.Keys = apikey.NewAuthenticator("kg_live", staticPepper{}, failingFinder{}, e.clock.Now)
			return key
		}},
		{"the revocation store down", func(t *testing.T, e *env) string {
			c, _ := e.tokenFor(t, token.Grant{}, "customers:read")
			e.denied.err = errors.New("ProvisionedThroughputExceededException")
			return c
		}},
		{"the usage identifier unavailable (API key)", func(t *testing.T, e *env) string {
			key, _ := e.addKey(t, nil)
			e.authz.Usage = failingUsage{}
			return key
		}},
		{"the usage identifier unavailable (access token)", func(t *testing.T, e *env) string {
			c := tok(e)
			e.authz.Usage = failingUsage{}
			return c
		}},
		{"the pepper unavailable", func(t *testing.T, e *env) string {
			key, _ := e.addKey(t, nil)
			e.authz.Keys = apikey.NewAuthenticator("kg_live", staticPepper{err: errors.New("AccessDeniedException")}, e.keys, e.clock.Now)
			return key
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			cred := tt.cred(t, e)
			resp, err := e.authz.Handle(ctx, fixture(t, "request.json", cred))
			if err == nil || err.Error() == "Unauthorized" {
				t.Fatalf("error = %v, want a non-Unauthorized error (AUTHORIZER_FAILURE → 503, not cached)", err)
			}
			if len(resp.PolicyDocument.Statement) != 0 || resp.PrincipalID != "" {
				t.Errorf("an outage produced a policy: %+v", resp)
			}
			if strings.Contains(e.logs.String(), cred[:min(len(cred), 40)]) {
				t.Errorf("the log contains the credential")
			}
		})
	}
}

// issueFromStale returns a token signed with the (still current) key without touching the
// keyring, for the MaxStale case: the verifier must refuse to use its stale cache.
func (e *env) issueFromStale(t *testing.T) string {
	t.Helper()
	ring := signing.New(secretsWith("x", signingSecret(t)), "x", signing.Options{Now: e.clock.Now})
	raw, _, err := token.NewIssuer(ring, issuer, audience, e.clock.Now).Issue(ctx, token.Grant{KeyID: "key_1", Scopes: []string{"customers:read"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestAMalformedMethodARNIsAnErrorWithoutAPolicy(t *testing.T) {
	e := newEnv(t)
	key, _ := e.addKey(t, nil)
	for _, arn := range []string{"", "arn:aws:lambda:us-east-1:123456789012:function:keygate-authorizer", "arn:aws:execute-api:us-east-1:1:api", "*"} {
		ev := fixture(t, "request.json", key)
		ev.MethodArn = arn
		resp, err := e.authz.Handle(ctx, ev)
		if err == nil || len(resp.PolicyDocument.Statement) != 0 {
			t.Errorf("methodArn %q: %+v, %v; want an error and no policy", arn, resp, err)
		}
	}
	resp, err := e.authz.Handle(ctx, fixture(t, "request-bad-methodarn.json", key))
	if err == nil || len(resp.PolicyDocument.Statement) != 0 {
		t.Errorf("bad-methodarn fixture: %+v, %v", resp, err)
	}
}

// A token whose kid the keyring has not loaded may be signed by a key rotated in since: if
// Secrets Manager fails the reload, the answer is a dependency failure, never the 401 API
// Gateway would cache for that token.
func TestAnOutageOnTheUnknownKidReloadIsNotUnauthorized(t *testing.T) {
	e := newEnv(t)
	tok1, k := e.tokenFor(t, token.Grant{}, "customers:read")
	if _, err := e.authz.Handle(ctx, fixture(t, "request.json", tok1)); err != nil {
		t.Fatal(err)
	}
	next, err := signing.Generate(signing.EdDSA, rand.Reader, start)
	if err != nil {
		t.Fatal(err)
	}
	rotated := token.NewIssuer(signing.New(secretsWith("rotated", next), "rotated", signing.Options{Now: e.clock.Now}), issuer, audience, e.clock.Now)
	tok2, _, err := rotated.Issue(ctx, token.Grant{KeyID: k.KeyID, KeyGen: k.KeyGen, Scopes: []string{"customers:read"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.sm.Fail(errors.New("ThrottlingException: Rate exceeded"))
	e.sm.Rotate(next)
	e.clock.Advance(time.Second)
	_, err = e.authz.Handle(ctx, fixture(t, "request.json", tok2))
	if err == nil || errors.Is(err, authorizer.ErrUnauthorized) || err.Error() == "Unauthorized" {
		t.Fatalf("Handle = %v, want a dependency failure (AUTHORIZER_FAILURE, not cached)", err)
	}
}
