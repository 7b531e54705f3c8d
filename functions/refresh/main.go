// Command refresh is the RefreshFunction: POST /v1/auth/refresh.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/app"
	"github.com/keygate/keygate/shared/authapi"
)

func main() {
	d := app.MustLoad()
	h := &authapi.RefreshHandler{
		Keys: d.KeyAuth(), KeyByID: d.Keys(), Issuer: d.Issuer(), Limiter: d.Limiter(), Tokens: d.Tokens(), Audit: d.Events(),
		Settings: d.Config.Lifetimes(),
		Now:      d.Now,
	}
	lambda.Start(d.HTTP(h.Router().Serve))
}
