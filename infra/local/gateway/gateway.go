package gateway

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	smithyrand "github.com/aws/smithy-go/rand"

	"github.com/keygate/keygate/infra/local/lambdarun"
	"github.com/keygate/keygate/infra/local/samtpl"
	"github.com/keygate/keygate/shared/httpapi"
)

// Defaults, API Gateway's where it has one.
const (
	DefaultAPIID              = "keygatelcl"
	DefaultIntegrationTimeout = 29 * time.Second
	DefaultMaxBodyBytes       = 10 << 20
	// MaxInvokePayloadBytes is Lambda's limit on a synchronous invocation's request (6 MB);
	// an event above it never reaches the function, whatever API Gateway's own 10 MB allows.
	MaxInvokePayloadBytes = 6 << 20
)

// Invoker runs a function; *lambdarun.Runner is one.
type Invoker interface {
	Invoke(ctx context.Context, functionID string, payload []byte) ([]byte, error)
}

var _ Invoker = (*lambdarun.Runner)(nil)

// Config configures a Gateway.
type Config struct {
	// Template provides the routes, the API (stage, authorizers, gateway responses),
	// region and account.
	Template *samtpl.Template
	// Invoker runs the functions.
	Invoker Invoker
	// APIID appears in methodArn and requestContext.apiId; default "keygatelcl".
	APIID string
	// IntegrationTimeout bounds each function call (API Gateway's 29 s by default). A
	// backend that does not answer in time gets INTEGRATION_TIMEOUT (504). A function that
	// hits its own, shorter Lambda timeout fails like any function error (502), as in AWS.
	IntegrationTimeout time.Duration
	// MaxBodyBytes is the payload limit (API Gateway's 10 MB by default).
	MaxBodyBytes int64
	// Now is the clock (authorizer cache expiry, request times); default time.Now.
	Now func() time.Time
	// AccessLog, when set, receives one JSON line per request.
	AccessLog io.Writer
	// Logger receives internal failures (authorizer errors, malformed results) that the
	// client only sees as a gateway response; default discards them.
	Logger *slog.Logger
	// UsagePlans, when set, makes routes with ApiKeyRequired (and the Api's
	// ApiKeySourceType AUTHORIZER) need an API key of a usage plan on the stage, named by the
	// authorizer's usageIdentifierKey, and meters each key by its plan's throttle and quota,
	// reading the keys and plans from API Gateway's control plane (moto locally). nil: such
	// routes are served without a key, as if the stage had no usage plans.
	UsagePlans *UsagePlanSource
}

// Gateway is the local API Gateway. It is safe for concurrent use.
type Gateway struct {
	invoker            Invoker
	router             *Router
	api                samtpl.API
	region, accountID  string
	apiID              string
	integrationTimeout time.Duration
	maxBody            int64
	now                func() time.Time
	logger             *slog.Logger
	uuid               *smithyrand.UUID

	caches map[string]*authCache // by authorizer name
	plans  *usagePlans           // nil without Config.UsagePlans

	logMu     sync.Mutex
	accessLog io.Writer
}

// New builds a Gateway for the template's API.
func New(cfg Config) (*Gateway, error) {
	if cfg.Template == nil || cfg.Invoker == nil {
		return nil, errors.New("gateway: Template and Invoker are required")
	}
	router, err := NewRouter(cfg.Template.Routes, WithCORS(cfg.Template.API))
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		invoker:            cfg.Invoker,
		router:             router,
		api:                cfg.Template.API,
		region:             cfg.Template.Region,
		accountID:          cfg.Template.AccountID,
		apiID:              cfg.APIID,
		integrationTimeout: cfg.IntegrationTimeout,
		maxBody:            cfg.MaxBodyBytes,
		now:                cfg.Now,
		logger:             cfg.Logger,
		accessLog:          cfg.AccessLog,
		uuid:               smithyrand.NewUUID(crand.Reader),
		caches:             map[string]*authCache{},
	}
	if g.apiID == "" {
		g.apiID = DefaultAPIID
	}
	if g.integrationTimeout <= 0 {
		g.integrationTimeout = DefaultIntegrationTimeout
	}
	if g.maxBody <= 0 {
		g.maxBody = DefaultMaxBodyBytes
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.logger == nil {
		g.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for name, az := range g.api.Authorizers {
		for _, c := range az.IdentityContext {
			if !identityContextVars[c] {
				return nil, fmt.Errorf("gateway: authorizer %s: identity source $context.%s is not supported locally", name, c)
			}
		}
		g.caches[name] = newAuthCache()
	}
	if src := cfg.UsagePlans; src != nil {
		if src.Client == nil || src.RestAPIID == "" {
			return nil, errors.New("gateway: UsagePlans needs a Client and the RestAPIID")
		}
		if g.api.APIKeySourceType != "AUTHORIZER" && requiresAPIKey(cfg.Template.Routes, g.api) {
			return nil, fmt.Errorf("gateway: ApiKeySourceType %s is not supported locally (only AUTHORIZER)", g.api.APIKeySourceType)
		}
		g.plans = newUsagePlans(*src, g.api.StageName, g.logger, g.now)
	}
	return g, nil
}

// requiresAPIKey reports whether any route, or a CORS preflight, requires an API key.
func requiresAPIKey(routes []samtpl.Route, api samtpl.API) bool {
	for _, r := range routes {
		if r.APIKeyRequired {
			return true
		}
	}
	return api.Cors != nil && api.Cors.PreflightAPIKeyRequired
}

// FlushAuthorizerCache empties every authorizer cache (API Gateway's "flush authorizer
// cache" on a stage).
func (g *Gateway) FlushAuthorizerCache() {
	for _, c := range g.caches {
		c.flush()
	}
}

// request is the state of one request on its way through the gateway.
type request struct {
	g            *Gateway
	id           string
	start        time.Time
	method       string
	path         string
	host         string
	proto        string
	sourceIP     string
	userAgent    string
	contentType  string
	httpHeader   http.Header
	headers      map[string]string
	multiHeaders map[string][]string
	query        map[string]string
	multiQuery   map[string][]string
	pathParams   map[string]string
	body         []byte
	route        samtpl.Route
	mock         *RenderedResponse // the route's MOCK integration response, if it has one
	authorizer   map[string]string
	// apiKey and apiKeyID name the API key that metered the request (requestContext.identity).
	apiKey, apiKeyID string

	// for the access log
	responseType       string
	cacheHit           *bool
	authorizerLatency  time.Duration
	integrationLatency time.Duration
}

// ServeHTTP handles one request the way API Gateway's REST API does.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := &request{
		g:           g,
		id:          g.newID(),
		start:       g.now(),
		method:      r.Method,
		path:        r.URL.Path,
		host:        r.Host,
		proto:       r.Proto,
		sourceIP:    sourceIP(r),
		userAgent:   r.UserAgent(),
		contentType: r.Header.Get("Content-Type"),
		httpHeader:  r.Header,
	}
	// Set directly, not with Set, to keep API Gateway's spelling of the name.
	w.Header()["x-amzn-RequestId"] = []string{req.id}
	sw := &httpapi.StatusWriter{ResponseWriter: w}
	defer g.writeAccessLog(req, sw)

	body, err := readBody(r, g.maxBody)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			g.gatewayResponse(sw, req, RequestTooLarge, "", nil)
			return
		}
		// The client went away or sent a broken body; nothing useful can be answered.
		g.logf(req, "read body: %v", err)
		g.gatewayResponse(sw, req, Default4XX, "Invalid request body", nil)
		return
	}
	req.body = body

	m, ok := g.router.Match(r.Method, r.URL.EscapedPath())
	if !ok {
		g.gatewayResponse(sw, req, MissingAuthenticationToken, "", nil)
		return
	}
	req.route, req.pathParams, req.mock = m.Route, m.PathParameters, m.Mock
	req.headers, req.multiHeaders = requestHeaders(r, req.sourceIP, traceHeader(req.start))
	req.query, req.multiQuery = queryParameters(r.URL.RawQuery)

	if req.route.AuthorizerName != "" {
		out := g.authorize(r.Context(), req)
		req.cacheHit = out.cacheHit
		if out.responseType != "" {
			g.gatewayResponse(sw, req, out.responseType, out.errMessage, out.context)
			return
		}
		req.authorizer = out.context
		req.apiKey = out.usageIdentifierKey
	}
	if req.route.APIKeyRequired && g.plans != nil {
		// After the authorizer (cached answers included): its usageIdentifierKey names the
		// API key whose usage plan meters the request.
		typ, keyID := g.plans.meter(r.Context(), req.apiKey, g.now())
		if typ != "" {
			g.gatewayResponse(sw, req, typ, "", req.authorizer)
			return
		}
		req.apiKeyID = keyID
	} else {
		req.apiKey = ""
	}
	if req.mock != nil {
		writeRendered(sw, *req.mock)
		return
	}
	g.integrate(r.Context(), sw, req)
}

// integrate calls the route's function with the proxy event and relays its result.
func (g *Gateway) integrate(ctx context.Context, w http.ResponseWriter, req *request) {
	payload, err := json.Marshal(newProxyEvent(req))
	if err != nil {
		g.logf(req, "encode event: %v", err)
		writeInternalError(w)
		return
	}
	if len(payload) > MaxInvokePayloadBytes {
		writeInvokeTooLarge(w)
		return
	}
	ictx, cancel := context.WithTimeout(ctx, g.integrationTimeout)
	defer cancel()
	start := g.now()
	raw, err := g.invoker.Invoke(ictx, req.route.FunctionID, payload)
	req.integrationLatency = g.now().Sub(start)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			// The client disconnected; there is nobody to answer.
			return
		case errors.Is(err, context.DeadlineExceeded):
			g.gatewayResponse(w, req, IntegrationTimeout, "", req.authorizer)
		default:
			g.logf(req, "integration %s failed: %v", req.route.FunctionID, err)
			writeInternalError(w)
		}
		return
	}
	resp, err := ParseProxyResponse(raw)
	if err != nil {
		g.logf(req, "integration %s: %v", req.route.FunctionID, err)
		writeInternalError(w)
		return
	}
	writeProxyResponse(w, resp)
}

// gatewayResponse renders and writes a gateway response of type typ.
func (g *Gateway) gatewayResponse(w http.ResponseWriter, req *request, typ, message string, authorizer map[string]string) {
	req.responseType = typ
	resp := RenderGatewayResponse(g.api.GatewayResponses, typ, RenderContext{
		RequestID:    req.id,
		ErrorMessage: message,
		Stage:        g.api.StageName,
		APIID:        g.apiID,
		Authorizer:   authorizer,
	})
	writeRendered(w, resp)
}

var errTooLarge = errors.New("gateway: request body too large")

// readBody reads at most limit bytes; a larger body (declared or actual) is errTooLarge.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, errTooLarge
	}
	return body, nil
}

func (g *Gateway) newID() string {
	id, err := g.uuid.GetUUID()
	if err != nil {
		return fmt.Sprintf("local-%d", time.Now().UnixNano())
	}
	return id
}

// traceHeader is an X-Amzn-Trace-Id value like the one API Gateway adds.
func traceHeader(t time.Time) string {
	var b [12]byte
	_, _ = crand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s", t.Unix(), hex.EncodeToString(b[:]))
}

func (g *Gateway) logf(req *request, format string, args ...any) {
	g.logger.Warn(fmt.Sprintf(format, args...), "requestId", req.id)
}

// accessLogLine is one access-log record. It never carries headers, query strings, bodies or
// the request path (only the matched resource): credentials travel in those, and a caller may
// paste an API key where a path parameter belongs. The template's access log format leaves
// $context.path out for the same reason.
type accessLogLine struct {
	Time                 string `json:"time"`
	RequestID            string `json:"requestId"`
	SourceIP             string `json:"sourceIp"`
	Method               string `json:"method"`
	Resource             string `json:"resource,omitempty"`
	Status               int    `json:"status"`
	LatencyMs            int64  `json:"latencyMs"`
	AuthorizerLatencyMs  int64  `json:"authorizerLatencyMs,omitempty"`
	IntegrationLatencyMs int64  `json:"integrationLatencyMs,omitempty"`
	AuthorizerCacheHit   *bool  `json:"authorizerCacheHit"`
	ResponseType         string `json:"responseType,omitempty"`
}

func (g *Gateway) writeAccessLog(req *request, sw *httpapi.StatusWriter) {
	if g.accessLog == nil {
		return
	}
	line, err := json.Marshal(accessLogLine{
		Time:                 req.start.UTC().Format(time.RFC3339Nano),
		RequestID:            req.id,
		SourceIP:             req.sourceIP,
		Method:               req.method,
		Resource:             req.route.Path,
		Status:               sw.Status,
		LatencyMs:            g.now().Sub(req.start).Milliseconds(),
		AuthorizerLatencyMs:  req.authorizerLatency.Milliseconds(),
		IntegrationLatencyMs: req.integrationLatency.Milliseconds(),
		AuthorizerCacheHit:   req.cacheHit,
		ResponseType:         req.responseType,
	})
	if err != nil {
		return
	}
	g.logMu.Lock()
	defer g.logMu.Unlock()
	_, _ = g.accessLog.Write(append(line, '\n'))
}
