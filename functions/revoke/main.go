// Command revoke is the RevokeFunction: POST /v1/auth/revoke.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/authapi"
	"github.com/keygate/keygate/shared/boot"
)

func main() {
	d := boot.MustLoad()
	h := &authapi.RevokeHandler{Keys: d.KeyAuth, Tokens: d.Tokens, Access: boot.MustVerifier(d),
		MaxAccessTTL: d.Config.MaxAccessTokenTTL, Now: d.Now}
	lambda.Start(boot.HTTP(d.Log, h.Router().Serve))
}
