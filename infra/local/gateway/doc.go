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
