// Command revoke is the RevokeFunction: POST /v1/auth/revoke.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/app"
	"github.com/keygate/keygate/shared/authapi"
)

func main() {
	d := app.MustLoad()
	h := &authapi.RevokeHandler{Keys: d.KeyAuth(), Tokens: d.Tokens(), Access: d.MustVerifier(),
		Settings: d.Config.Lifetimes(), Now: d.Now}
	lambda.Start(d.HTTP(h.Router().Serve))
}
