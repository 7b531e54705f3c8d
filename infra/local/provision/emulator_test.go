package provision_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/infra/local/provision"
)

// emulatorEndpoints returns the emulators' endpoints, skipping the test when they are not
// configured, or failing it when KEYGATE_REQUIRE_EMULATORS=1 (CI must not skip silently).
func emulatorEndpoints(t *testing.T) provision.Endpoints {
	t.Helper()
	ep := provision.Endpoints{
		DynamoDB:       os.Getenv("KEYGATE_DYNAMODB_ENDPOINT"),
		SecretsManager: os.Getenv("KEYGATE_SECRETS_ENDPOINT"),
	}
	if ep.DynamoDB == "" || ep.SecretsManager == "" {
		msg := "emulator test: KEYGATE_DYNAMODB_ENDPOINT and KEYGATE_SECRETS_ENDPOINT are not set " +
			"(start them with: eval \"$(infra/local/stack/up.sh NAME DDB_PORT SM_PORT)\")"
		if os.Getenv("KEYGATE_REQUIRE_EMULATORS") == "1" {
			t.Fatal(msg + "; KEYGATE_REQUIRE_EMULATORS=1 forbids skipping")
		}
		t.Skip(msg)
	}
	return ep
}

// realSM adds the finishSecret stage move to the real client for the rotator double.
type realSM struct{ *secretsmanager.Client }

func (c realSM) promote(ctx context.Context, secretID, token string) error {
	d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return err
	}
	in := &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(secretID), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(token),
	}
	alreadyCurrent := false
	for v, stages := range d.VersionIdsToStages {
		for _, s := range stages {
			switch {
			case s == "AWSCURRENT" && v == token:
				// Secrets Manager labels the first version of a secret AWSCURRENT
				// automatically, whatever stages PutSecretValue asked for.
				alreadyCurrent = true
			case s == "AWSCURRENT":
				in.RemoveFromVersionId = aws.String(v)
			}
		}
	}
	if !alreadyCurrent {
		if _, err := c.UpdateSecretVersionStage(ctx, in); err != nil {
			return fmt.Errorf("move AWSCURRENT: %w", err)
		}
	}
	_, err = c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(secretID), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(token),
	})
	return err
}

func TestApplyOnTheEmulators(t *testing.T) {
	ep := emulatorEndpoints(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ddb, sm := provision.NewClients(ep, "us-east-1")

	// Unique names: the emulators may be shared with other tests running now.
	tpl := loadTemplate(t)
	suffix := fmt.Sprintf("-t%d", time.Now().UnixNano())
	for i := range tpl.Tables {
		tpl.Tables[i].Name += suffix
	}
	for i := range tpl.Secrets {
		tpl.Secrets[i].Name += suffix
	}
	rot := &rotator{sm: realSM{sm}}

	for run := 1; run <= 2; run++ {
		if err := provision.Apply(ctx, tpl, ddb, sm, rot); err != nil {
			t.Fatalf("Apply run %d: %v", run, err)
		}
	}
	if len(rot.events) != 4 {
		t.Errorf("rotation ran %d steps over two Apply runs, want 4 (once)", len(rot.events))
	}

	for _, tb := range tpl.Tables {
		d, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(tb.Name)})
		if err != nil {
			t.Fatalf("describe %s: %v", tb.Name, err)
		}
		if d.Table.TableStatus != ddbtypes.TableStatusActive || len(d.Table.GlobalSecondaryIndexes) != len(tb.GlobalSecondaryIndexes) {
			t.Errorf("table %s: status %s, %d GSIs", tb.Name, d.Table.TableStatus, len(d.Table.GlobalSecondaryIndexes))
		}
		ttl, err := ddb.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(tb.Name)})
		if err != nil {
			t.Fatal(err)
		}
		if ttl.TimeToLiveDescription.TimeToLiveStatus != ddbtypes.TimeToLiveStatusEnabled || aws.ToString(ttl.TimeToLiveDescription.AttributeName) != tb.TTLAttribute {
			t.Errorf("table %s TTL = %+v", tb.Name, ttl.TimeToLiveDescription)
		}
	}

	signing, pepper := tpl.Secrets[0], tpl.Secrets[1]
	pv, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(pepper.Name)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(aws.ToString(pv.SecretString)); n != 64 {
		t.Errorf("pepper length %d, want 64", n)
	}
	sv, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(signing.Name), VersionStage: aws.String("AWSCURRENT")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(sv.SecretString) != `{"kid":"k1"}` || aws.ToString(sv.VersionId) != rot.events[0].ClientRequestToken {
		t.Errorf("signing key current = %q (version %s)", aws.ToString(sv.SecretString), aws.ToString(sv.VersionId))
	}
}
