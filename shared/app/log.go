package app

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// NewLogger returns the logger every function uses: aws-lambda-go's Lambda log handler, which
// follows the function's LoggingConfig as Lambda passes it on (AWS_LAMBDA_LOG_FORMAT: JSON
// lines with timestamp, level and message; AWS_LAMBDA_LOG_LEVEL: the template's LogLevel) and
// adds Lambda's requestId to every record logged with the invocation's context. API Gateway's
// request id, which the access log carries, is logged as request_id by the code that has the
// event (httpapi.ErrorResponse, the authorizer), so a function's line and the gateway's line
// for one request can be joined.
//
// Only ids go to the log, never keys, tokens, hashes, secrets or Authorization headers.
func NewLogger() *slog.Logger {
	return slog.New(lambdacontext.NewLogHandler())
}
