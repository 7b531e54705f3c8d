package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/infra/local/samlocal"
	"github.com/keygate/keygate/shared/secret"
)

// samInvoke runs `sam local invoke fn` on the fixture infra/local/sam/events/<event>.json with
// vars filled in, as `make sam-invoke` does, and returns the function's answer (sam prints it
// as the last line of stdout; the function's logs go to stderr).
func samInvoke(t *testing.T, fn, event string, vars map[string]string) map[string]any {
	t.Helper()
	sam, buildDir := os.Getenv("KEYGATE_SAM"), os.Getenv("KEYGATE_SAM_BUILD_DIR")
	if sam == "" || buildDir == "" {
		t.Fatal("KEYGATE_SAM and KEYGATE_SAM_BUILD_DIR must be set on the SAM tier (infra/local/sam/sam-local.sh sets them)")
	}
	fixture, err := os.ReadFile(filepath.Join("..", "..", "local", "sam", "events", event+".json"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := samlocal.Event(fixture, vars)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), sam, samlocal.InvokeArgs(buildDir, fn)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(payload), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sam local invoke %s %s: %v\n%s", fn, event, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var out map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil {
		t.Fatalf("sam local invoke %s %s printed no JSON answer: %v\nstdout: %s\nstderr: %s", fn, event, err, stdout.String(), stderr.String())
	}
	return out
}

// Every kind of event the functions get runs through `sam local invoke` with the shipped
// fixtures: an authorizer REQUEST event allowed and denied (the deny carries required_scope in
// its context, which SAM local's start-api cannot show), a token request, the JWKS and the four
// steps of a signing-key rotation.
func TestSAMLocalInvokeRunsTheEventFixtures(t *testing.T) {
	need(t)
	if target != "sam-local" {
		t.Skip("sam local invoke: on the SAM tier only")
	}
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	token := samlocal.RotationToken()
	signing := stack.Env("RotateFunction")["KEYGATE_SIGNING_SECRET"]
	vars := map[string]string{"DEMO_KEY": key, "ADMIN_KEY": adminKey, "SIGNING_SECRET": signing, "ROTATION_TOKEN": token}

	// policy returns the answer's context and whether it allows the event's method ARN: an
	// Allow statement matches it and no Deny does (IAM's * matches any run of characters).
	policy := func(out map[string]any, methodARN string) (allowed bool, ctx map[string]any) {
		doc, _ := out["policyDocument"].(map[string]any)
		st, _ := doc["Statement"].([]any)
		if len(st) == 0 {
			t.Fatalf("authorizer answer has no policy statement: %v", out)
		}
		denied := false
		for _, s := range st {
			m, _ := s.(map[string]any)
			res, _ := m["Resource"].([]any)
			for _, r := range res {
				re := "^" + strings.ReplaceAll(regexp.QuoteMeta(fmt.Sprint(r)), `\*`, ".*") + "$"
				if !regexp.MustCompile(re).MatchString(methodARN) {
					continue
				}
				switch m["Effect"] {
				case "Allow":
					allowed = true
				case "Deny":
					denied = true
				}
			}
		}
		ctx, _ = out["context"].(map[string]any)
		return allowed && !denied, ctx
	}
	const arn = "arn:aws:execute-api:us-east-1:123456789012:keygatelcl/local/"
	t.Run("authorizer allows a route the key's scopes cover", func(t *testing.T) {
		allowed, ctx := policy(samInvoke(t, "AuthorizerFunction", "authorizer-allow", vars), arn+"GET/v1/customers/42")
		if !allowed || ctx["scope"] != "customers:read" {
			t.Fatalf("allowed %v, context %v; want GET /v1/customers/42 allowed with the key's scope", allowed, ctx)
		}
	})
	t.Run("authorizer denies one they do not, naming the scope", func(t *testing.T) {
		allowed, ctx := policy(samInvoke(t, "AuthorizerFunction", "authorizer-deny", vars), arn+"DELETE/v1/customers/42")
		if allowed || ctx["required_scope"] != "customers:delete" || ctx["deny_code"] != "insufficient_permissions" {
			t.Fatalf("allowed %v, context %v; want DELETE /v1/customers/42 refused with required_scope customers:delete", allowed, ctx)
		}
	})
	t.Run("token request", func(t *testing.T) {
		out := samInvoke(t, "TokenFunction", "token", vars)
		if out["statusCode"] != float64(200) || !strings.Contains(fmt.Sprint(out["body"]), `"access_token"`) {
			t.Fatalf("token answer = %v", out)
		}
	})
	t.Run("JWKS", func(t *testing.T) {
		out := samInvoke(t, "JwksFunction", "jwks", vars)
		if out["statusCode"] != float64(200) || !strings.Contains(fmt.Sprint(out["body"]), `"keys"`) {
			t.Fatalf("JWKS answer = %v", out)
		}
	})
	t.Run("signing-key rotation, step by step", func(t *testing.T) {
		for _, step := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
			if out := samInvoke(t, "RotateFunction", "rotate-"+step, vars); out != nil && out["errorMessage"] != nil {
				t.Fatalf("%s: %v", step, out)
			}
		}
		d, err := stack.Secrets.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(signing)})
		if err != nil {
			t.Fatal(err)
		}
		if stages := d.VersionIdsToStages[token]; len(stages) == 0 || !strings.Contains(strings.Join(stages, " "), secret.StageCurrent) {
			t.Fatalf("after finishSecret version %s has stages %v, want AWSCURRENT (all: %v)", token, stages, d.VersionIdsToStages)
		}
	})
}
