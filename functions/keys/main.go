// Command keys is the KeysFunction: the /v1/keys admin API.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/boot"
	"github.com/keygate/keygate/shared/keysapi"
)

func main() {
	d := boot.MustLoad()
	h := keysapi.New(d.Keys, d.KeyAuth, d.Config.KeyPrefix, d.Now)
	lambda.Start(boot.HTTP(d.Log, h.Router().Serve))
}
