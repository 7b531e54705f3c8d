// Command token is the TokenFunction: POST /v1/auth/token.
package main

import (
	"crypto/rand"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/authapi"
	"github.com/keygate/keygate/shared/boot"
)

func main() {
	d := boot.MustLoad()
	h := &authapi.TokenHandler{
		Keys: d.KeyAuth, Issuer: d.Issuer(), Limiter: d.Limiter, Tokens: d.Tokens, Audit: d.Events,
		Settings: d.Settings(), Now: d.Now, Random: rand.Reader,
	}
	lambda.Start(boot.HTTP(d.Log, h.Router().Serve))
}
