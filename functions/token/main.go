// Command token is the TokenFunction: POST /v1/auth/token.
package main

import (
	"crypto/rand"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/app"
	"github.com/keygate/keygate/shared/authapi"
)

func main() {
	d := app.MustLoad()
	h := &authapi.TokenHandler{
		Keys: d.KeyAuth(), Issuer: d.Issuer(), Limiter: d.Limiter(), Tokens: d.Tokens(), Audit: d.Events(),
		Settings: d.Config.Lifetimes(),
		Now:      d.Now, Random: rand.Reader,
	}
	lambda.Start(d.HTTP(h.Router().Serve))
}
