// Command echo is the EchoFunction: a sample protected backend that returns its authorizer
// context.
package main

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/app"
	"github.com/keygate/keygate/shared/echo"
)

func main() {
	log := app.NewLogger(slog.LevelInfo)
	lambda.Start(app.HTTP(log, echo.Router().Serve))
}
