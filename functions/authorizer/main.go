// Command authorizer is the AuthorizerFunction: the REQUEST authorizer of every protected route.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/authorizer"
	"github.com/keygate/keygate/shared/boot"
)

func main() {
	d := boot.MustLoad()
	a := &authorizer.Authorizer{Keys: d.KeyAuth, Tokens: boot.MustVerifier(d), Log: d.Log}
	lambda.Start(a.Handle)
}
