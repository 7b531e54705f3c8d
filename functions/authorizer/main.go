// Command authorizer is the AuthorizerFunction: the REQUEST authorizer of every protected route.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/app"
)

func main() {
	lambda.Start(app.Authorizer(app.MustLoad()).Handle)
}
