// Package httpapi is the API Gateway proxy adapter of keygate's HTTP functions: it turns proxy
// events into requests (headers, bearer credentials, bounded strict JSON bodies, the caller's
// source IP), routes them, keeps each invocation inside its time budget, and renders every error
// through the one typed API error and its JSON shape, in exactly one place. Codes is the one
// list of the error codes the service answers with, each with its status and type.
//
// It must never log a header value or a body (they carry keys and tokens), and an Error never
// carries internal detail to the caller: the wrapped cause is for logs only.
package httpapi
