// Command validate is the ValidateFunction: GET /v1/auth/validate.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/app"
	"github.com/keygate/keygate/shared/authapi"
)

func main() {
	d := app.MustLoad()
	h := &authapi.ValidateHandler{Keys: d.KeyAuth(), KeyByID: d.Keys(), Tokens: d.Tokens(), Access: d.MustVerifier(), Now: d.Now}
	lambda.Start(d.HTTP(h.Router().Serve))
}
