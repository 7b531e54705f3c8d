package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// ErrMalformedProxyResponse: a Lambda proxy result API Gateway would refuse (502).
var ErrMalformedProxyResponse = errors.New("gateway: malformed Lambda proxy response")

// requestHeaders returns the event's headers and multiValueHeaders: the request's headers
// plus Host and the X-Forwarded-* headers API Gateway adds. headers holds the last value
// of a repeated header, as in API Gateway.
func requestHeaders(r *http.Request, sourceIP, traceID string) (map[string]string, map[string][]string) {
	multi := make(map[string][]string, len(r.Header)+4)
	for k, vs := range r.Header {
		multi[k] = append([]string(nil), vs...)
	}
	multi["Host"] = []string{r.Host}
	xff := sourceIP
	if prev := r.Header.Values("X-Forwarded-For"); len(prev) > 0 {
		xff = strings.Join(prev, ", ") + ", " + sourceIP
	}
	multi["X-Forwarded-For"] = []string{xff}
	multi["X-Forwarded-Proto"] = []string{"http"}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(la.String()); err == nil {
			multi["X-Forwarded-Port"] = []string{port}
		}
	}
	multi["X-Amzn-Trace-Id"] = []string{traceID}
	single := make(map[string]string, len(multi))
	for k, vs := range multi {
		single[k] = vs[len(vs)-1]
	}
	return single, multi
}

// queryParameters returns queryStringParameters (last value wins) and the multi-value
// form; both nil when there is no query, as API Gateway sends null.
func queryParameters(rawQuery string) (map[string]string, map[string][]string) {
	if rawQuery == "" {
		return nil, nil
	}
	values, _ := url.ParseQuery(rawQuery) // keep what parses, as API Gateway does
	if len(values) == 0 {
		return nil, nil
	}
	single := make(map[string]string, len(values))
	for k, vs := range values {
		single[k] = vs[len(vs)-1]
	}
	return single, map[string][]string(values)
}

// sourceIP is the TCP peer's address: never X-Forwarded-For, which any client can forge.
func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// isBinary decides isBase64Encoded for a request body. With BinaryMediaTypes declared, API
// Gateway's rule applies (the Content-Type matches one of them). Without, a body is passed
// as text when its type is textual (text/*, JSON, XML, form, JavaScript) or, without a
// type, when it is valid UTF-8; anything else is base64-encoded so that it arrives intact.
// (Deployed API Gateway would mangle such a body instead; the template declares no binary
// types, so no route should rely on binary bodies.)
func isBinary(contentType string, body []byte, binaryTypes []string) bool {
	if len(body) == 0 {
		return false
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	mt = strings.ToLower(mt)
	if len(binaryTypes) > 0 {
		for _, bt := range binaryTypes {
			if MatchPattern(strings.ToLower(bt), mt) {
				return true
			}
		}
		return false
	}
	switch {
	case mt == "":
		return !utf8.Valid(body)
	case strings.HasPrefix(mt, "text/"), mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"), mt == "application/x-www-form-urlencoded",
		mt == "application/javascript", mt == "application/graphql":
		return false
	}
	return true
}

// ParseProxyResponse parses a Lambda proxy result the way API Gateway does: a JSON object
// with only statusCode (an integer, 100..599), headers (string values), multiValueHeaders
// (lists of strings), body (a string or null) and isBase64Encoded (a boolean). Anything
// else is ErrMalformedProxyResponse, which API Gateway answers with 502.
func ParseProxyResponse(data []byte) (events.APIGatewayProxyResponse, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || top == nil {
		return events.APIGatewayProxyResponse{}, fmt.Errorf("%w: not a JSON object", ErrMalformedProxyResponse)
	}
	var resp events.APIGatewayProxyResponse
	statusSeen := false
	for k, raw := range top {
		var err error
		isNull := bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
		switch k {
		case "statusCode":
			statusSeen = !isNull
			err = json.Unmarshal(raw, &resp.StatusCode)
		case "headers":
			err = json.Unmarshal(raw, &resp.Headers)
		case "multiValueHeaders":
			err = json.Unmarshal(raw, &resp.MultiValueHeaders)
		case "body":
			err = json.Unmarshal(raw, &resp.Body)
		case "isBase64Encoded":
			err = json.Unmarshal(raw, &resp.IsBase64Encoded)
		default:
			err = errors.New("unexpected member")
		}
		if err != nil {
			return events.APIGatewayProxyResponse{}, fmt.Errorf("%w: %s: %v", ErrMalformedProxyResponse, k, err)
		}
	}
	if !statusSeen || resp.StatusCode < 100 || resp.StatusCode > 599 {
		return events.APIGatewayProxyResponse{}, fmt.Errorf("%w: statusCode missing or not an HTTP status", ErrMalformedProxyResponse)
	}
	if resp.IsBase64Encoded {
		if _, err := base64.StdEncoding.DecodeString(resp.Body); err != nil {
			return events.APIGatewayProxyResponse{}, fmt.Errorf("%w: body is not valid base64", ErrMalformedProxyResponse)
		}
	}
	return resp, nil
}

// writeProxyResponse writes a parsed proxy result. multiValueHeaders and headers merge;
// for a name present in both, only the multi-value list is used (API Gateway's rule).
// Without a Content-Type, API Gateway answers application/json.
func writeProxyResponse(w http.ResponseWriter, resp events.APIGatewayProxyResponse) {
	from := http.Header{}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			from.Add(k, v)
		}
	}
	for k, v := range resp.Headers {
		if _, both := from[http.CanonicalHeaderKey(k)]; both {
			continue
		}
		from.Set(k, v)
	}
	h := w.Header()
	for k, vs := range from {
		if remapped(k) {
			k = http.CanonicalHeaderKey("x-amzn-Remapped-" + k)
		}
		h[k] = vs
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		body, _ = base64.StdEncoding.DecodeString(resp.Body) // validated by ParseProxyResponse
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// remapped reports whether API Gateway renames the integration response header name
// (canonical form) to x-amzn-Remapped-<name> instead of passing it on (REST API known
// issues): a client never gets these from a Lambda proxy response under their own name, so a
// function's WWW-Authenticate or Date does not reach it either.
func remapped(name string) bool {
	switch name {
	case "Authorization", "Connection", "Content-Length", "Date", "Expect", "Host", "Max-Forwards",
		"Proxy-Authenticate", "Server", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent",
		"Www-Authenticate":
		return true
	}
	return false
}

// writeInternalError is API Gateway's answer to a failed or malformed integration.
func writeInternalError(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header()["x-amzn-ErrorType"] = []string{"InternalServerErrorException"}
	w.WriteHeader(http.StatusBadGateway)
	_, _ = w.Write([]byte(`{"message": "Internal server error"}`))
}

// writeInvokeTooLarge is what a deployed API answers when the proxy event exceeds Lambda's
// 6 MB request limit: 413 {"message": "Request Too Long"}, as observed from API Gateway (a
// BadRequestException; it is not a gateway response the template can change).
func writeInvokeTooLarge(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header()["x-amzn-ErrorType"] = []string{"BadRequestException"}
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	_, _ = w.Write([]byte(`{"message": "Request Too Long"}`))
}

// newProxyEvent builds the Lambda proxy integration event.
func newProxyEvent(req *request) events.APIGatewayProxyRequest {
	ev := events.APIGatewayProxyRequest{
		Resource:                        req.route.Path,
		Path:                            req.path,
		HTTPMethod:                      req.method,
		Headers:                         req.headers,
		MultiValueHeaders:               req.multiHeaders,
		QueryStringParameters:           req.query,
		MultiValueQueryStringParameters: req.multiQuery,
		PathParameters:                  req.pathParams,
		StageVariables:                  req.g.api.StageVariables,
		RequestContext: events.APIGatewayProxyRequestContext{
			AccountID:         req.g.accountID,
			ResourceID:        resourceID(req.route.Path),
			Stage:             req.g.api.StageName,
			DomainName:        req.host,
			DomainPrefix:      strings.Split(req.host, ".")[0],
			RequestID:         req.id,
			ExtendedRequestID: req.id,
			Protocol:          req.proto,
			Identity: events.APIGatewayRequestIdentity{
				SourceIP:  req.sourceIP,
				UserAgent: req.userAgent,
				APIKey:    req.apiKey,
				APIKeyID:  req.apiKeyID,
			},
			ResourcePath:     req.route.Path,
			Path:             "/" + req.g.api.StageName + req.path,
			HTTPMethod:       req.method,
			RequestTime:      req.start.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch: req.start.UnixMilli(),
			APIID:            req.g.apiID,
		},
	}
	if req.authorizer != nil {
		ev.RequestContext.Authorizer = make(map[string]any, len(req.authorizer))
		for k, v := range req.authorizer {
			ev.RequestContext.Authorizer[k] = v
		}
	}
	if len(req.body) > 0 {
		if isBinary(req.contentType, req.body, req.g.api.BinaryMediaTypes) {
			ev.Body = base64.StdEncoding.EncodeToString(req.body)
			ev.IsBase64Encoded = true
		} else {
			ev.Body = string(req.body)
		}
	}
	return ev
}

// newAuthorizerEvent builds the REQUEST authorizer event.
func newAuthorizerEvent(req *request, methodARN string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	return events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type:                            "REQUEST",
		MethodArn:                       methodARN,
		Resource:                        req.route.Path,
		Path:                            req.path,
		HTTPMethod:                      req.method,
		Headers:                         req.headers,
		MultiValueHeaders:               req.multiHeaders,
		QueryStringParameters:           req.query,
		MultiValueQueryStringParameters: req.multiQuery,
		PathParameters:                  req.pathParams,
		StageVariables:                  req.g.api.StageVariables,
		RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
			Path:         "/" + req.g.api.StageName + req.path,
			AccountID:    req.g.accountID,
			ResourceID:   resourceID(req.route.Path),
			Stage:        req.g.api.StageName,
			RequestID:    req.id,
			Identity:     events.APIGatewayCustomAuthorizerRequestTypeRequestIdentity{SourceIP: req.sourceIP},
			ResourcePath: req.route.Path,
			HTTPMethod:   req.method,
			APIID:        req.g.apiID,
		},
	}
}

// resourceID is a stable 6-character id per resource path, like API Gateway's.
func resourceID(path string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var h uint32 = 2166136261
	for i := 0; i < len(path); i++ {
		h = (h ^ uint32(path[i])) * 16777619
	}
	id := make([]byte, 6)
	for i := range id {
		id[i] = alphabet[h%uint32(len(alphabet))]
		h /= uint32(len(alphabet))
		h ^= h << 7
	}
	return string(id)
}
