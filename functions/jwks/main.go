// Command jwks is the JwksFunction: GET /.well-known/jwks.json.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/app"
	"github.com/keygate/keygate/shared/authapi"
	"github.com/keygate/keygate/shared/signing"
)

func main() {
	d := app.MustLoad()
	h := &authapi.JWKSHandler{Keys: d.PublishingKeyring(), MaxAge: signing.PublishedMaxAge(d.Config.KeyringRefresh)}
	lambda.Start(d.HTTP(h.Router().Serve))
}
