package gateway

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/keygate/keygate/infra/local/samtpl"
)

// Gateway response types the gateway produces.
const (
	Unauthorized                 = "UNAUTHORIZED"
	AccessDenied                 = "ACCESS_DENIED"
	AuthorizerFailure            = "AUTHORIZER_FAILURE"
	AuthorizerConfigurationError = "AUTHORIZER_CONFIGURATION_ERROR"
	MissingAuthenticationToken   = "MISSING_AUTHENTICATION_TOKEN"
	RequestTooLarge              = "REQUEST_TOO_LARGE"
	IntegrationTimeout           = "INTEGRATION_TIMEOUT"
	Default4XX                   = "DEFAULT_4XX"
	Default5XX                   = "DEFAULT_5XX"
	InvalidAPIKey                = "INVALID_API_KEY"
	Throttled                    = "THROTTLED"
	QuotaExceeded                = "QUOTA_EXCEEDED"
	APIConfigurationError        = "API_CONFIGURATION_ERROR"
)

// defaultStatus is API Gateway's status code for each response type that has one.
var defaultStatus = map[string]int{
	"ACCESS_DENIED": 403, "API_CONFIGURATION_ERROR": 500, "AUTHORIZER_CONFIGURATION_ERROR": 500,
	"AUTHORIZER_FAILURE": 500, "BAD_REQUEST_PARAMETERS": 400, "BAD_REQUEST_BODY": 400,
	"EXPIRED_TOKEN": 403, "INTEGRATION_FAILURE": 504, "INTEGRATION_TIMEOUT": 504,
	"INVALID_API_KEY": 403, "INVALID_SIGNATURE": 403, "MISSING_AUTHENTICATION_TOKEN": 403,
	"QUOTA_EXCEEDED": 429, "REQUEST_TOO_LARGE": 413, "RESOURCE_NOT_FOUND": 404, "THROTTLED": 429,
	"UNAUTHORIZED": 401, "UNSUPPORTED_MEDIA_TYPE": 415, "WAF_FILTERED": 403,
}

// defaultMessage is $context.error.message for each type the gateway produces.
var defaultMessage = map[string]string{
	Unauthorized:                 "Unauthorized",
	AccessDenied:                 "User is not authorized to access this resource",
	AuthorizerFailure:            "Authorizer error",
	AuthorizerConfigurationError: "Authorizer configuration error",
	MissingAuthenticationToken:   "Missing Authentication Token",
	RequestTooLarge:              "Request Too Long",
	IntegrationTimeout:           "Endpoint request timed out",
	InvalidAPIKey:                "Forbidden",
	Throttled:                    "Too Many Requests",
	QuotaExceeded:                "Limit Exceeded",
	APIConfigurationError:        "Internal server error",
}

// defaultTemplate is API Gateway's body for a response type nobody customised.
const defaultTemplate = `{"message":$context.error.messageString}`

// RenderedResponse is a gateway response ready to write.
type RenderedResponse struct {
	Status  int
	Headers map[string]string
	Body    string
}

// RenderContext holds the values $context references resolve to.
type RenderContext struct {
	RequestID    string
	ResponseType string
	ErrorMessage string
	Stage        string
	APIID        string
	// Authorizer is the authorizer context plus principalId ($context.authorizer.<key>).
	Authorizer map[string]string
}

// RenderGatewayResponse builds the response of type typ from the template's
// GatewayResponses. Status: the type's StatusCode, else API Gateway's default for the
// type. Headers and template: the type's, layered over DEFAULT_4XX or DEFAULT_5XX (by the
// status class), falling back to API Gateway's {"message": ...} body.
func RenderGatewayResponse(responses map[string]samtpl.GatewayResponse, typ string, rc RenderContext) RenderedResponse {
	own, customised := responses[typ]
	status := own.StatusCode
	if status == 0 {
		status = defaultStatus[typ]
	}
	if status == 0 {
		status = 500
		if typ == Default4XX {
			status = 400
		}
	}
	fallback := responses[Default5XX]
	if status < 500 {
		fallback = responses[Default4XX]
	}
	headers := map[string]string{}
	for k, v := range fallback.Headers {
		headers[k] = v
	}
	tpl := defaultTemplate
	if fallback.Template != "" {
		tpl = fallback.Template
	}
	if customised {
		for k, v := range own.Headers {
			headers[k] = v
		}
		if own.Template != "" {
			tpl = own.Template
		}
	}
	if rc.ResponseType == "" {
		rc.ResponseType = typ
	}
	if rc.ErrorMessage == "" {
		rc.ErrorMessage = defaultMessage[typ]
	}
	for k, v := range headers {
		headers[k] = RenderTemplate(v, rc)
	}
	return RenderedResponse{Status: status, Headers: headers, Body: RenderTemplate(tpl, rc)}
}

// RenderTemplate substitutes the $context variables API Gateway offers in gateway response
// templates: $context.requestId, $context.error.message, $context.error.messageString (the
// message as a quoted JSON string), $context.error.responseType, $context.stage,
// $context.apiId and $context.authorizer.<key>, in $x.y and ${x.y} forms. Anything else is
// left as written, as Velocity leaves an unresolvable reference.
func RenderTemplate(tpl string, rc RenderContext) string {
	if !strings.Contains(tpl, "$") {
		return tpl
	}
	var b strings.Builder
	for i := 0; i < len(tpl); {
		if tpl[i] != '$' {
			b.WriteByte(tpl[i])
			i++
			continue
		}
		name, width := scanReference(tpl[i:])
		if v, ok := rc.lookup(name); ok && width > 0 {
			b.WriteString(v)
			i += width
			continue
		}
		b.WriteByte('$')
		i++
	}
	return b.String()
}

// scanReference reads "$a.b.c" or "${a.b.c}" at the start of s and returns the dotted
// name and the number of bytes it spans (0 when s does not start a reference).
func scanReference(s string) (string, int) {
	braced := strings.HasPrefix(s, "${")
	start := 1
	if braced {
		start = 2
	}
	j := start
	for j < len(s) && (isIdentByte(s[j]) || (s[j] == '.' && j+1 < len(s) && isIdentByte(s[j+1]) && j > start)) {
		j++
	}
	if j == start {
		return "", 0
	}
	name := s[start:j]
	if braced {
		if j >= len(s) || s[j] != '}' {
			return "", 0
		}
		j++
	}
	return name, j
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func (rc RenderContext) lookup(name string) (string, bool) {
	switch name {
	case "context.requestId":
		return rc.RequestID, true
	case "context.error.message":
		return rc.ErrorMessage, true
	case "context.error.messageString":
		b, _ := json.Marshal(rc.ErrorMessage)
		return string(b), true
	case "context.error.responseType":
		return rc.ResponseType, true
	case "context.stage":
		return rc.Stage, true
	case "context.apiId":
		return rc.APIID, true
	}
	if key, ok := strings.CutPrefix(name, "context.authorizer."); ok {
		v, found := rc.Authorizer[key]
		return v, found
	}
	return "", false
}

// writeRendered writes a gateway response.
func writeRendered(w http.ResponseWriter, resp RenderedResponse) {
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write([]byte(resp.Body))
}
