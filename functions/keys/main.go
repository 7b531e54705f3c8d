// Command keys is the KeysFunction: the /v1/keys admin API.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/app"
	"github.com/keygate/keygate/shared/keysapi"
)

func main() {
	d := app.MustLoad()
	h := keysapi.New(d.Keys(), d.KeyAuth(), d.UsagePlans(), d.Config.KeyPrefix, d.Now, d.Log)
	lambda.Start(d.HTTP(h.Router().Serve))
}
