// Command jwks is the JwksFunction: GET /.well-known/jwks.json.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/boot"
	"github.com/keygate/keygate/shared/jwksapi"
	"github.com/keygate/keygate/shared/keyring"
)

func main() {
	d := boot.MustLoad()
	h := &jwksapi.Handler{Keys: d.PublishingKeyring(), MaxAge: keyring.PublishedMaxAge(d.Config.KeyringRefresh)}
	lambda.Start(boot.HTTP(d.Log, h.Router().Serve))
}
