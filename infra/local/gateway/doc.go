// Package gateway is a local stand-in for the project's API Gateway REST API: an
// http.Handler that serves the routes of template.yaml with Lambda proxy integration and
// the REQUEST Lambda authorizer, behaving the way API Gateway does wherever the behaviour
// is observable by a client or a function.
//
// What it reproduces, because the project's code must be correct under it:
//   - Resource matching ({param}, greedy {proxy+}; literal before parameter before greedy),
//     exact method before ANY; an unknown path or method is MISSING_AUTHENTICATION_TOKEN.
//   - The proxy event (events.APIGatewayProxyRequest) with requestContext, and the proxy
//     result contract: a result that is not exactly {statusCode, headers,
//     multiValueHeaders, body, isBase64Encoded} is a 502 "Internal server error".
//   - The authorizer: identity sources checked first (401 without invoking), the
//     "Unauthorized" error → 401, policy evaluation (explicit Deny wins, no Allow → 403),
//     context values restricted to string/number/boolean and passed on stringified, and
//     the result cache keyed by identity-source values whose cached policy is applied to
//     whichever method is called next.
//   - Gateway responses from the template (status, static headers, application/json
//     templates with $context substitutions), with DEFAULT_4XX/DEFAULT_5XX and API
//     Gateway's default status codes as fallbacks.
//   - API keys and usage plans, with UsagePlans in the Config: a route with ApiKeyRequired
//     (ApiKeySourceType AUTHORIZER) needs the authorizer's usageIdentifierKey, cached answers
//     included, to be the value of an enabled API key in a usage plan of the stage, else
//     INVALID_API_KEY (403); that plan meters each API key with a token bucket (burstLimit,
//     refilled at rateLimit per second, full at first: THROTTLED, 429) and a quota per UTC
//     day, week from Sunday or calendar month (QUOTA_EXCEEDED, 429; a throttled request does
//     not count). Keys and plans are read from API Gateway's control plane (moto), never
//     copied: reloaded when ControlPlane forwards a change, when an unknown key appears
//     (spaced), and when older than MaxAge; a known key costs no control-plane call.
//   - ControlPlane: the control plane for the functions, moto's with GetUsage answered from
//     the gateway's counters (moto lacks it).
//   - Limits: 10 MB request payload (413), 29 s integration timeout (504).
//   - CORS preflights, when the Api has Cors: the OPTIONS method SAM adds to every resource
//     path that has none of its own, a MOCK integration answering 200 with the Cors values
//     as Access-Control-* headers and SAM's "{}" body, without calling a function, and
//     without the authorizer unless AddDefaultAuthorizerToCorsPreflight leaves it on. Without
//     Cors, OPTIONS is a method like any other (the path's ANY, else the missing route).
//
// Routes are served at the root (/v1/...), as behind a custom domain's base-path mapping;
// the stage appears only where API Gateway puts it: requestContext.stage,
// requestContext.path (/<stage>/v1/...) and the methodArn. Serving /<stage>/... too would
// make a first path segment that equals the stage name ambiguous.
//
// It must never log or echo the Authorization header (or any header): the access log has
// the request id, method, path, status, latencies and whether the authorizer cache
// answered.
package gateway
