// The proxy adapter turns API Gateway proxy events into requests and handler results into proxy
// responses: header lookup, bearer credentials, bounded strict JSON bodies, the caller's source
// IP, method routing and the single place where errors become the JSON error shape.
//
// It must never log a header value or body: those carry keys and tokens.

package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"reflect"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// MaxBodyBytes is the default cap on request bodies (16 KB): no keygate endpoint needs more.
const MaxBodyBytes = 16 << 10

// MaxCredentialBytes bounds an Authorization header value before any parsing.
const MaxCredentialBytes = 8 << 10

// Request is the API Gateway REST proxy event.
type Request = events.APIGatewayProxyRequest

// Response is what a handler returns on success.
type Response struct {
	Status  int
	Headers map[string]string
	Body    []byte
}

// JSON builds a response with v encoded as JSON.
func JSON(status int, v any) (*Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return &Response{Status: status, Body: b}, nil
}

// Header returns the first value of the named header, case-insensitively (API Gateway passes
// header names as the client sent them).
func Header(r *Request, name string) string {
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, vs := range r.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// SingleHeader returns the value of the named header (names compared case-insensitively) when
// the request carries at most one value of it: ok is false when it carries several distinct
// values, under one name or under differently cased names. For credentials, that ambiguity
// must be refused rather than resolved: which value API Gateway keys its authorizer cache on
// and which one a function reads could otherwise differ.
func SingleHeader(headers map[string]string, multi map[string][]string, name string) (value string, ok bool) {
	seen := false
	one := func(v string) bool {
		if seen && v != value {
			return false
		}
		value, seen = v, true
		return true
	}
	for k, v := range headers {
		if strings.EqualFold(k, name) && !one(v) {
			return "", false
		}
	}
	for k, vs := range multi {
		if !strings.EqualFold(k, name) {
			continue
		}
		for _, v := range vs {
			if !one(v) {
				return "", false
			}
		}
	}
	return value, true
}

// Bearer extracts the credential from "Authorization: Bearer <credential>". ok is false when the
// header is absent, sent more than once with different values, not a Bearer credential, empty
// or larger than MaxCredentialBytes.
func Bearer(r *Request) (credential string, ok bool) {
	h, single := SingleHeader(r.Headers, r.MultiValueHeaders, "Authorization")
	if !single {
		return "", false
	}
	return ParseBearer(h)
}

// ParseBearer parses an Authorization header value (scheme case-insensitive, RFC 7235).
func ParseBearer(h string) (string, bool) {
	if len(h) > MaxCredentialBytes {
		return "", false
	}
	scheme, cred, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.Trim(cred, " \t") // optional whitespace is ASCII space and tab only (RFC 9110)
	if !isToken68(cred) {
		return "", false
	}
	return cred, true
}

// isToken68 reports whether s is RFC 9110's token68, the syntax of a Bearer credential:
// letters, digits, "-._~+/", then any "=". Every keygate credential has it, and refusing all
// else keeps one credential to one spelling (no Unicode spaces, no control characters).
func isToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', strings.IndexByte("-._~+/", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// SourceIP is the caller's address as API Gateway saw it on the connection. X-Forwarded-For is
// deliberately ignored: the client controls it.
func SourceIP(r *Request) (netip.Addr, bool) {
	a, err := netip.ParseAddr(r.RequestContext.Identity.SourceIP)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// DecodeJSON decodes the request body into dst strictly: JSON content type, at most maxBytes,
// exactly one value, no unknown fields, field names in their exact case and once each, no null
// (encoding/json would silently read a null body or member as "absent", so
// `{"expires_at":null}` would be accepted as if it said nothing). Errors are *httpapi.Error
// values that say what to fix.
func DecodeJSON(r *Request, dst any, maxBytes int) error {
	body := []byte(r.Body)
	if r.IsBase64Encoded {
		if base64.StdEncoding.DecodedLen(len(r.Body)) > maxBytes+3 {
			return TooLarge(maxBytes)
		}
		var err error
		if body, err = base64.StdEncoding.DecodeString(r.Body); err != nil {
			return InvalidRequest("The body is not valid base64.")
		}
	}
	if len(body) > maxBytes {
		return TooLarge(maxBytes)
	}
	if ct := Header(r, "Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return UnsupportedMediaType()
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return InvalidRequest("The body is empty; send a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return InvalidRequest(describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return InvalidRequest("The body must hold exactly one JSON object.")
	}
	return checkMembers(body, dst)
}

// checkMembers refuses what the strict decode lets through: a null body or member (read as
// absent), a member whose name matches a field only case-insensitively, and a member given
// twice (encoding/json takes either silently, so a proxy and keygate could read different
// values from one body). It runs after the strict decode, so every name is a field's name in
// some case, safe to show.
func checkMembers(body []byte, dst any) error {
	fields := jsonFields(dst)
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return InvalidRequest("The body must be a JSON object.")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		name, _ := tok.(string)
		var v json.RawMessage
		if err != nil || dec.Decode(&v) != nil {
			return InvalidRequest("The body is not a valid JSON object.")
		}
		switch {
		case fields != nil && !fields[name]:
			return InvalidRequest(fmt.Sprintf("Unknown field %q; field names are lower case, as documented.", name))
		case seen[name]:
			return InvalidRequest(fmt.Sprintf("Field %q is given twice; send it once.", name))
		case bytes.Equal(bytes.TrimSpace(v), []byte("null")):
			return InvalidRequest(fmt.Sprintf("Field %q must not be null; leave it out instead.", name))
		}
		seen[name] = true
	}
	return nil
}

// jsonFields returns the exact member names a pointer to a struct decodes (json tags, else
// field names), or nil when dst is not one.
func jsonFields(dst any) map[string]bool {
	t := reflect.TypeOf(dst)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	t = t.Elem()
	out := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case !f.IsExported() || name == "-":
		case name != "":
			out[name] = true
		default:
			out[f.Name] = true
		}
	}
	return out
}

// describeJSONError turns decoder errors into messages that name the field, without echoing
// input values (they may be secrets).
func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return fmt.Sprintf("Field %q must be of type %s.", typeErr.Field, typeErr.Type.String())
		}
		return "The body must be a JSON object."
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("The body is not valid JSON (at byte %d).", syntaxErr.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if len(name) > 66 { // never echo large input back
			name = name[:65] + `…"`
		}
		return fmt.Sprintf("Unknown field %s; remove it.", name)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "The body is truncated JSON."
	default:
		return "The body is not a valid JSON object."
	}
}

// Handler serves one route.
type Handler func(ctx context.Context, r *Request) (*Response, error)

// Router dispatches on the API Gateway resource (the route template, e.g. /v1/keys/{id}) and the
// method. A known resource called with another method gets 405 with an Allow header; an unknown
// resource gets 404.
type Router struct {
	routes map[string]map[string]Handler
}

// Handle registers h for method and resource.
func (rt *Router) Handle(method, resource string, h Handler) {
	if rt.routes == nil {
		rt.routes = map[string]map[string]Handler{}
	}
	if rt.routes[resource] == nil {
		rt.routes[resource] = map[string]Handler{}
	}
	rt.routes[resource][method] = h
}

// Serve routes r to its handler.
func (rt *Router) Serve(ctx context.Context, r *Request) (*Response, error) {
	methods, ok := rt.routes[r.Resource]
	if !ok {
		return nil, NotFound("No such route. See the API reference for the available routes.")
	}
	if h, ok := methods[r.HTTPMethod]; ok {
		return h(ctx, r)
	}
	allow := make([]string, 0, len(methods))
	for m := range methods {
		allow = append(allow, m)
	}
	sort.Strings(allow)
	return nil, MethodNotAllowed(allow)
}

// Lambda adapts a Handler to the Lambda proxy contract. It is the one place where errors become
// the JSON error shape: *httpapi.Error values are rendered as they are, anything else as a 500
// whose cause is logged with the request id only. It never returns a Lambda error, because API
// Gateway would answer that with a bare 502.
func Lambda(log *slog.Logger, h Handler) func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (out events.APIGatewayProxyResponse, err error) {
		defer func() {
			// A panicking handler is a bug; the caller still gets the error shape, and the
			// container survives for the next request.
			if p := recover(); p != nil {
				out, err = ErrorResponse(ctx, log, &ev, Internal(fmt.Errorf("panic: %v", p))), nil
			}
		}()
		hctx, cancel := Budget(ctx)
		defer cancel()
		resp, herr := h(hctx, &ev)
		if herr == nil && resp == nil {
			herr = Internal(errors.New("handler returned no response"))
		}
		if herr != nil {
			return ErrorResponse(ctx, log, &ev, herr), nil
		}
		return render(resp), nil
	}
}

// ErrorResponse renders err in the error shape and logs it (code, status, request id, cause).
func ErrorResponse(ctx context.Context, log *slog.Logger, r *Request, err error) events.APIGatewayProxyResponse {
	e := From(err)
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("request_id", r.RequestContext.RequestID),
		slog.String("code", e.Code),
		slog.Int("status", e.Status),
	}
	if e.Cause != nil {
		attrs = append(attrs, slog.String("cause", e.Cause.Error()))
	}
	log.LogAttrs(ctx, level, "request failed", attrs...)
	headers := e.Headers()
	headers["Content-Type"] = "application/json"
	headers["Cache-Control"] = "no-store"
	return events.APIGatewayProxyResponse{StatusCode: e.Status, Headers: headers, Body: string(e.Body())}
}

func render(resp *Response) events.APIGatewayProxyResponse {
	headers := map[string]string{"Content-Type": "application/json"}
	for k, v := range resp.Headers {
		headers[k] = v
	}
	if _, ok := headers["Cache-Control"]; !ok {
		headers["Cache-Control"] = "no-store"
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	return events.APIGatewayProxyResponse{StatusCode: status, Headers: headers, Body: string(resp.Body)}
}

// WithCORS adds Access-Control-Allow-Origin: origin to every response of h (successes and
// errors alike), so browsers calling from that origin may read them. An empty origin leaves
// responses unchanged. Preflights never reach a function: API Gateway answers them.
func WithCORS(origin string, h func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)) func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	if origin == "" {
		return h
	}
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		resp, err := h(ctx, ev)
		if err == nil {
			if resp.Headers == nil {
				resp.Headers = map[string]string{}
			}
			resp.Headers["Access-Control-Allow-Origin"] = origin
		}
		return resp, err
	}
}

// StatusWriter is an http.ResponseWriter that notes the final status a handler answered, for
// access logs and for middleware that acts on the outcome (a handler that only writes a body
// answered 200). Informational 1xx statuses are passed on but not noted: another follows.
type StatusWriter struct {
	http.ResponseWriter
	Status int // 0 until the handler answers
}

// WriteHeader implements http.ResponseWriter.
func (s *StatusWriter) WriteHeader(code int) {
	if s.Status == 0 && code >= http.StatusOK {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (s *StatusWriter) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush, deadlines).
func (s *StatusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
