// Command refresh is the RefreshFunction: POST /v1/auth/refresh.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/authapi"
	"github.com/keygate/keygate/shared/boot"
)

func main() {
	d := boot.MustLoad()
	h := &authapi.RefreshHandler{
		Keys: d.KeyAuth, KeyByID: d.Keys, Issuer: d.Issuer(), Limiter: d.Limiter, Tokens: d.Tokens,
		Audit: d.Events, Settings: d.Settings(), Now: d.Now,
	}
	lambda.Start(boot.HTTP(d.Log, h.Router().Serve))
}
