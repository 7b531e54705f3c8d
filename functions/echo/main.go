// Command echo is the EchoFunction: a sample protected backend that returns its authorizer
// context.
package main

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/boot"
	"github.com/keygate/keygate/shared/echo"
	"github.com/keygate/keygate/shared/httpx"
)

func main() {
	log := boot.NewLogger(slog.LevelInfo)
	lambda.Start(httpx.Lambda(log, echo.Router().Serve))
}
