// Command rotate is the RotateFunction: Secrets Manager rotation of the JWT signing key.
package main

import (
	"crypto/rand"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/app"
	"github.com/keygate/keygate/shared/rotation"
)

func main() {
	d := app.MustLoad()
	r := &rotation.Rotator{API: d.Secrets(), Alg: d.Config.SigningAlg, Now: d.Now, Random: rand.Reader, Log: d.Log}
	lambda.Start(r.Handle)
}
