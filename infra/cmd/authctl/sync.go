package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/shared/app"
	"github.com/keygate/keygate/shared/store/dynamo"
	"github.com/keygate/keygate/shared/usageplan"
)

// runSync is "authctl keys sync": the repair path of the usage plans. It reads every key of
// the stage from the keys table (AWS credentials that may read it, read the pepper and manage
// API Gateway's API keys and usage plans) and makes API Gateway match (usageplan.Manager.Sync).
// Safe to run at any time and repeatedly; it prints what it found and did and fails when a key
// could not be repaired.
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tplPath := fs.String("template", "template.yaml", "template to read table, secret and stage from when the KEYGATE_* variables are unset")
	var params multiFlag
	fs.Var(&params, "param", "template parameter override Key=Value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	table, eventsTable, pepperID, _, stage, err := settings(*tplPath, params)
	if err != nil {
		return err
	}
	awsCfg, err := app.AWSConfig(ctx)
	if err != nil {
		return err
	}
	ddb := dynamodb.NewFromConfig(awsCfg)
	keys := dynamo.NewKeys(ddb, table, time.Now, dynamo.NewEvents(ddb, eventsTable, 0, time.Now))
	plans, err := usagePlans(ctx, awsCfg, secretsmanager.NewFromConfig(awsCfg), pepperID, stage)
	if err != nil {
		return err
	}
	report, err := plans.Sync(ctx, usageplan.AllKeys(ctx, keys))
	fmt.Fprint(stdout, report.String())
	if err != nil {
		return err
	}
	if len(report.Failed) > 0 {
		return fmt.Errorf("keys sync: %d repairs failed (listed above); run it again once the cause is fixed", len(report.Failed))
	}
	return nil
}
