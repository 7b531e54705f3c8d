// Command echo is the EchoFunction: a sample protected backend that returns its authorizer
// context.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/app"
	"github.com/keygate/keygate/shared/echo"
)

func main() {
	d := app.MustLoad()
	lambda.Start(d.HTTP(echo.Router().Serve))
}
