// Command authctl administers keygate:
//
//	authctl bootstrap [-template template.yaml] [-name NAME] [-scopes s1,s2] [-out FILE]
//	authctl keys create|list|get|update|rotate|revoke|events …   (run "authctl keys" for help)
//	authctl signing-keys rotate [-lambda-endpoint URL] …       (run "authctl signing-keys" for help)
//
// signing-keys rotate rotates the JWT signing key on demand: deployed through Secrets Manager's
// RotateSecret; locally (-lambda-endpoint) authctl plays Secrets Manager's part and invokes the
// real RotateFunction's four steps through the local Lambda Invoke API.
//
// keys talks to the /v1/keys admin API with an admin:full credential. bootstrap creates an API key directly in DynamoDB (the first admin key of a new stack, or the
// demo key of the local stack) and prints it once. It needs AWS credentials that may read the
// pepper secret and write the keys table; table, secret and key prefix come from the
// KEYGATE_KEYS_TABLE, KEYGATE_PEPPER_SECRET and KEYGATE_KEY_PREFIX variables, or else from the
// template's defaults (with -param overrides). Endpoints follow the AWS SDK's standard settings,
// so AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SECRETS_MANAGER point it at the local stack.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/infra/local/samtpl"
	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/app"

	"github.com/keygate/keygate/shared/policy"
	"github.com/keygate/keygate/shared/store/dynamo"
	"github.com/keygate/keygate/shared/usageplan"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "authctl:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "keys" {
		return runKeys(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "signing-keys" {
		return runSigningKeys(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "bootstrap" {
		return errors.New("usage: authctl bootstrap [-template template.yaml] [-name NAME] [-scopes s1,s2] [-out FILE]\n" +
			"       authctl keys <command> … (run \"authctl keys\" for the commands)\n" +
			"       authctl signing-keys rotate … (rotate the JWT signing key now; locally it plays Secrets Manager's part; run \"authctl signing-keys\" for help)")
	}
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tplPath := fs.String("template", "template.yaml", "template to read table, secret and prefix from when the KEYGATE_* variables are unset")
	name := fs.String("name", "bootstrap admin", "key name")
	scopes := fs.String("scopes", policy.Admin, "comma-separated scopes")
	owner := fs.String("owner", "", "owner (account) id")
	rateLimit := fs.Int("rate-limit", 1000, "requests per minute (a rate other than the tier's gets a usage plan of its own)")
	tier := fs.String("tier", "startup", "tier: one of the stage's usage plans (free, startup, growth, enterprise by default)")
	out := fs.String("out", "", "write the key to this file (mode 0600) instead of stdout")
	var params multiFlag
	fs.Var(&params, "param", "template parameter override Key=Value (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}

	table, eventsTable, pepperID, prefix, stage, err := settings(*tplPath, params)
	if err != nil {
		return err
	}
	scopeList := strings.Split(*scopes, ",")
	for _, s := range scopeList {
		if !policy.Valid(s) {
			return fmt.Errorf("unknown scope %q; valid scopes: %s", s, strings.Join(policy.All, ", "))
		}
	}

	awsCfg, err := app.AWSConfig(ctx)
	if err != nil {
		return err
	}
	ddb := dynamodb.NewFromConfig(awsCfg)
	sm := secretsmanager.NewFromConfig(awsCfg)
	keys := dynamo.NewKeys(ddb, table, time.Now, dynamo.NewEvents(ddb, eventsTable, 0, time.Now))
	plans, err := usagePlans(ctx, awsCfg, sm, pepperID, stage)
	if err != nil {
		return err
	}
	plain, rec, err := apikey.Bootstrap(ctx, sm, pepperID, prefix, keys, plans, apikey.Spec{
		Name: *name, OwnerID: *owner, Scopes: scopeList, RateLimit: *rateLimit, Tier: *tier,
	}, "authctl bootstrap", rand.Reader, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "created %s (%s) with scopes %s\n", rec.KeyID, *name, strings.Join(scopeList, " "))
	if *out != "" {
		return os.WriteFile(*out, []byte(plain+"\n"), 0o600)
	}
	_, err = fmt.Fprintln(stdout, plain)
	return err
}

// settings resolves the keys and tokens tables, pepper secret, key prefix and stage from the
// environment, falling back to the template (the values every function gets from Globals).
func settings(tplPath string, params multiFlag) (table, events, pepper, prefix, stage string, err error) {
	table, events = os.Getenv("KEYGATE_KEYS_TABLE"), os.Getenv("KEYGATE_TOKENS_TABLE")
	pepper, prefix, stage = os.Getenv("KEYGATE_PEPPER_SECRET"), os.Getenv("KEYGATE_KEY_PREFIX"), os.Getenv("KEYGATE_STAGE")
	if table != "" && events != "" && pepper != "" && prefix != "" && stage != "" {
		return table, events, pepper, prefix, stage, nil
	}
	overrides := map[string]string{}
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return "", "", "", "", "", fmt.Errorf("-param %q: want Key=Value", p)
		}
		overrides[k] = v
	}
	tpl, err := samtpl.Load(tplPath, samtpl.Options{Parameters: overrides})
	if err != nil {
		return "", "", "", "", "", err
	}
	if len(tpl.Functions) == 0 {
		return "", "", "", "", "", errors.New("template has no functions")
	}
	env := tpl.Functions[0].Env
	pick := func(cur, name string) string {
		if cur != "" {
			return cur
		}
		return env[name]
	}
	return pick(table, "KEYGATE_KEYS_TABLE"), pick(events, "KEYGATE_TOKENS_TABLE"),
		pick(pepper, "KEYGATE_PEPPER_SECRET"), pick(prefix, "KEYGATE_KEY_PREFIX"), pick(stage, "KEYGATE_STAGE"), nil
}

// usagePlans is the stage's usage-plan keeper on API Gateway (AWS_ENDPOINT_URL_API_GATEWAY
// points it elsewhere), hashing with the pepper as the functions do.
func usagePlans(ctx context.Context, awsCfg aws.Config, sm *secretsmanager.Client, pepperID, stage string) (*usageplan.Manager, error) {
	h, err := apikey.ReadHasher(ctx, sm, pepperID)
	if err != nil {
		return nil, err
	}
	maxPlans := 200
	if v, err := strconv.Atoi(os.Getenv("KEYGATE_MAX_USAGE_PLANS")); err == nil && v > 0 {
		maxPlans = v
	}
	return usageplan.New(apigateway.NewFromConfig(awsCfg), apikey.StaticHashers{H: h}, stage, maxPlans, time.Now), nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
