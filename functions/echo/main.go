// Command echo is the EchoFunction: a sample protected backend that returns its authorizer
// context.
package main

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/boot"
	"github.com/keygate/keygate/shared/echo"
)

func main() {
	log := boot.NewLogger(slog.LevelInfo)
	lambda.Start(boot.HTTP(log, echo.Router().Serve))
}
