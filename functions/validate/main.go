// Command validate is the ValidateFunction: GET /v1/auth/validate.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/authapi"
	"github.com/keygate/keygate/shared/boot"
)

func main() {
	d := boot.MustLoad()
	h := &authapi.ValidateHandler{Keys: d.KeyAuth, KeyByID: d.Keys, Tokens: d.Tokens, Access: boot.MustVerifier(d), Now: d.Now}
	lambda.Start(boot.HTTP(d.Log, h.Router().Serve))
}
