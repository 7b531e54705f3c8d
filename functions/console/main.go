// Command console is the ConsoleFunction: GET /console and its assets, the admin web page.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/app"
	"github.com/keygate/keygate/shared/console"
)

func main() {
	d := app.MustLoad()
	h, err := console.New(console.Options{KeyPrefix: d.Config.KeyPrefix, Tiers: console.SuggestedTiers})
	if err != nil {
		// The embedded assets are part of the build: a broken one is a build defect, and
		// failing the init makes Lambda report it instead of serving a half page.
		d.Log.Error("console assets", "error", err)
		os.Exit(1)
	}
	lambda.Start(d.HTTP(h.Router().Serve))
}
