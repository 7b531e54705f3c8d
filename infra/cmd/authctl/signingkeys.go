package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithyrand "github.com/aws/smithy-go/rand"

	"github.com/keygate/keygate/infra/local/samtpl"
	"github.com/keygate/keygate/shared/app"
	"github.com/keygate/keygate/shared/rotation"
	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/signing"
)

const signingKeysUsage = `usage: authctl signing-keys rotate [flags]

Rotates the JWT signing key now instead of on the 30-day schedule. The new key signs once the
rotation finishes; tokens signed with the old one keep verifying while it is AWSPREVIOUS (until
the next rotation), and the JWKS publishes the new key from testSecret on.

Deployed: asks Secrets Manager to rotate the secret (RotateSecret, RotateImmediately), which
invokes RotateFunction's four steps itself; authctl waits up to -wait for the new version to
become AWSCURRENT.

Locally (-lambda-endpoint, e.g. make run's http://127.0.0.1:3001): the Secrets Manager emulator
cannot invoke our Lambda, so authctl plays Secrets Manager's part: it invokes the real
RotateFunction bootstrap through the local Lambda Invoke API with createSecret, setSecret,
testSecret and finishSecret and one fresh ClientRequestToken, exactly as Secrets Manager would.

flags:
  -secret-id ID         the signing-key secret (env KEYGATE_SIGNING_SECRET; default the
                        template's keygate-<stage>-signing-key)
  -stage S              shorthand for -param Stage=S when the name comes from the template
  -template FILE        template to read the secret name from (default template.yaml)
  -param Key=Value      template parameter override (repeatable)
  -lambda-endpoint URL  local mode: the Lambda Invoke API to run the steps through
                        (env KEYGATE_LAMBDA_ENDPOINT)
  -function NAME        the rotation function in local mode (default RotateFunction)
  -wait DURATION        deployed mode: how long to wait for the new key (default 2m; 0: don't)

Secrets Manager's endpoint follows the SDK's settings (AWS_ENDPOINT_URL_SECRETS_MANAGER).`

func runSigningKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		return errors.New(signingKeysUsage)
	}
	fs := flag.NewFlagSet("signing-keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, signingKeysUsage) }
	secretID := fs.String("secret-id", os.Getenv("KEYGATE_SIGNING_SECRET"), "signing-key secret")
	stage := fs.String("stage", "", "template Stage")
	tplPath := fs.String("template", "template.yaml", "template")
	var params multiFlag
	fs.Var(&params, "param", "template parameter override Key=Value (repeatable)")
	endpoint := fs.String("lambda-endpoint", os.Getenv("KEYGATE_LAMBDA_ENDPOINT"), "local Lambda Invoke API")
	function := fs.String("function", "RotateFunction", "rotation function (local mode)")
	wait := fs.Duration("wait", 2*time.Minute, "deployed mode: wait for the new key")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *secretID == "" {
		if *stage != "" {
			params = append(params, "Stage="+*stage)
		}
		id, err := signingSecret(*tplPath, params)
		if err != nil {
			return err
		}
		*secretID = id
	}

	awsCfg, err := app.AWSConfig(ctx)
	if err != nil {
		return err
	}
	sm := secretsmanager.NewFromConfig(awsCfg)
	token, err := smithyrand.NewUUID(rand.Reader).GetUUID()
	if err != nil {
		return fmt.Errorf("client request token: %w", err)
	}

	if *endpoint != "" {
		// Key generation (RSA-2048) and a cold start can outlast boot's 3 s HTTP timeout.
		lc := lambda.NewFromConfig(awsCfg, func(o *lambda.Options) {
			o.BaseEndpoint = aws.String(*endpoint)
			o.HTTPClient = awshttp.NewBuildableClient().WithTimeout(2 * time.Minute)
		})
		fmt.Fprintf(stderr, "rotating %s locally: invoking %s at %s as Secrets Manager would (token %s)\n", *secretID, *function, *endpoint, token)
		if err := rotateViaLambda(ctx, lc, *function, *secretID, token, stderr); err != nil {
			return err
		}
	} else {
		if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
			SecretId: aws.String(*secretID), ClientRequestToken: aws.String(token), RotateImmediately: aws.Bool(true),
		}); err != nil {
			return fmt.Errorf("RotateSecret %s: %w", *secretID, err)
		}
		fmt.Fprintf(stderr, "Secrets Manager is rotating %s (version %s)\n", *secretID, token)
		if *wait == 0 {
			return nil
		}
		if err := waitCurrent(ctx, sm, *secretID, token, *wait); err != nil {
			return err
		}
	}

	v, err := secret.ReadVersion(ctx, sm, *secretID, token, secret.StageCurrent)
	if err != nil {
		return fmt.Errorf("the rotation ran but version %s is not AWSCURRENT: %w", token, err)
	}
	k, err := signing.Parse(v.Value)
	if err != nil {
		return fmt.Errorf("the new AWSCURRENT is not a usable signing key: %w", err)
	}
	fmt.Fprintf(stderr, "%s: AWSCURRENT is version %s, %s key created %s\n", *secretID, token, k.Alg, k.CreatedAt.Format(time.RFC3339))
	_, err = fmt.Fprintln(stdout, k.Kid)
	return err
}

// Invoker is the part of the Lambda client authctl uses.
type Invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var _ Invoker = (*lambda.Client)(nil)

// rotateViaLambda invokes the rotation function with the four steps and one token, in order,
// stopping at the first failure, as Secrets Manager does.
func rotateViaLambda(ctx context.Context, lc Invoker, function, secretID, token string, log io.Writer) error {
	for _, step := range []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest, rotation.StepFinish} {
		payload, err := json.Marshal(rotation.Event{SecretID: secretID, ClientRequestToken: token, Step: step})
		if err != nil {
			return err
		}
		out, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(function), Payload: payload})
		if err != nil {
			return fmt.Errorf("%s: invoke %s: %w", step, function, err)
		}
		if out.FunctionError != nil {
			var e struct {
				Message string `json:"errorMessage"`
				Type    string `json:"errorType"`
			}
			_ = json.Unmarshal(out.Payload, &e)
			return fmt.Errorf("%s: %s failed (%s): %s", step, function, e.Type, e.Message)
		}
		fmt.Fprintf(log, "  %s ok\n", step)
	}
	return nil
}

// waitCurrent polls until version token of secretID is AWSCURRENT.
func waitCurrent(ctx context.Context, sm *secretsmanager.Client, secretID, token string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
		if err == nil && slices.Contains(d.VersionIdsToStages[token], secret.StageCurrent) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("version %s of %s did not become AWSCURRENT within %s (see RotateFunction's logs)", token, secretID, limit)
		case <-time.After(2 * time.Second):
		}
	}
}

// signingSecret reads the signing secret's name from the template (the value every function
// gets as KEYGATE_SIGNING_SECRET).
func signingSecret(tplPath string, params multiFlag) (string, error) {
	overrides := map[string]string{}
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return "", fmt.Errorf("-param %q: want Key=Value", p)
		}
		overrides[k] = v
	}
	tpl, err := samtpl.Load(tplPath, samtpl.Options{Parameters: overrides})
	if err != nil {
		return "", err
	}
	for _, f := range tpl.Functions {
		if id := f.Env["KEYGATE_SIGNING_SECRET"]; id != "" {
			return id, nil
		}
	}
	return "", errors.New("the template gives no function KEYGATE_SIGNING_SECRET")
}
