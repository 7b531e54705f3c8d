// Command plans is the PlansFunction: on a schedule, it keeps the stage's API Gateway usage
// plans in step with the keys table (shared/usageplan), as authctl keys sync does by hand.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/app"
	"github.com/keygate/keygate/shared/usageplan"
)

func main() {
	d := app.MustLoad()
	lambda.Start(usageplan.Scheduled(d.UsagePlans(), d.Keys(), d.Log))
}
