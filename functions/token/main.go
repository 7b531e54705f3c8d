// Command token is the TokenFunction: POST /v1/auth/token.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/authapi"
	"github.com/keygate/keygate/shared/boot"
	"github.com/keygate/keygate/shared/httpx"
	"github.com/keygate/keygate/shared/token"
)

func main() {
	d := boot.MustLoad()
	h := &authapi.TokenHandler{
		Keys:   d.KeyAuth,
		Issuer: token.NewIssuer(d.Keyring, d.Config.Issuer, d.Config.Audience, d.Now),
		Limits: authapi.Limits{DefaultTTL: d.Config.AccessTokenTTL, MaxTTL: d.Config.MaxAccessTokenTTL},
	}
	lambda.Start(httpx.Lambda(d.Log, h.Router().Serve))
}
