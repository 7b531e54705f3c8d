// Package openapi holds keygate's API contract: openapi.yaml, the OpenAPI 3.1 document of every
// public route (template.yaml's), every response and the one error shape; schemathesis.toml and
// contract.sh, which run schemathesis against the local API (make contract); and the tests that
// keep the document and the template in step. It has no Go API of its own.
//
// The document describes the service, it never drives it: routes, scopes and limits are defined
// by template.yaml, shared/policy and the handlers, and the tests here fail when the document
// says otherwise.
package openapi
