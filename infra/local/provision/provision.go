// Package provision creates, on the local emulators, the tables, secrets and API Gateway
// usage plans template.yaml declares (ApplyUsagePlans: with the REST API they name), through
// the real AWS SDK v2 clients, so that the functions find exactly what CloudFormation would
// have created.
//
// Apply is idempotent: an existing table or secret is success (a table whose key schema
// differs from the template's is an error, because the emulator holds stale state). A
// secret with a rotation schedule is created without a value and, while it has no
// AWSCURRENT version, rotated once by invoking its rotation function with the four steps
// createSecret, setSecret, testSecret and finishSecret, which is what Secrets Manager does
// for RotateImmediatelyOnUpdate. The SecretId sent is the secret's name: locally every Ref
// to the secret (including the function's environment) resolves to the name, just as in
// AWS both the event and the Ref carry the ARN, so the two always agree.
//
// It must never touch anything the template does not declare, and never print secret
// values.
package provision

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	smithyrand "github.com/aws/smithy-go/rand"

	"github.com/keygate/keygate/infra/local/samtpl"
)

// Invoker runs a function (the rotation function); *lambdarun.Runner is one.
type Invoker interface {
	Invoke(ctx context.Context, fn string, payload []byte) ([]byte, error)
}

// DynamoDB is the part of *dynamodb.Client that Apply uses.
type DynamoDB interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
	DescribeTimeToLive(context.Context, *dynamodb.DescribeTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
}

// SecretsManager is the part of *secretsmanager.Client that Apply uses.
type SecretsManager interface {
	CreateSecret(context.Context, *secretsmanager.CreateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

var (
	_ DynamoDB       = (*dynamodb.Client)(nil)
	_ SecretsManager = (*secretsmanager.Client)(nil)
)

// RotationSteps returns the steps Secrets Manager invokes a rotation function with, in
// order.
func RotationSteps() []string {
	return []string{"createSecret", "setSecret", "testSecret", "finishSecret"}
}

// RotationEvent is the payload of one rotation step.
type RotationEvent struct {
	SecretID           string `json:"SecretId"`
	ClientRequestToken string `json:"ClientRequestToken"`
	Step               string `json:"Step"`
}

// tableWait bounds how long Apply waits for a table to become ACTIVE.
const tableWait = time.Minute

// Apply creates every table and secret of tpl that does not exist yet.
func Apply(ctx context.Context, tpl *samtpl.Template, ddb DynamoDB, sm SecretsManager, inv Invoker) error {
	for _, t := range tpl.Tables {
		if err := applyTable(ctx, ddb, t); err != nil {
			return fmt.Errorf("provision: table %s (%s): %w", t.LogicalID, t.Name, err)
		}
	}
	for _, s := range tpl.Secrets {
		if err := applySecret(ctx, sm, inv, s); err != nil {
			return fmt.Errorf("provision: secret %s (%s): %w", s.LogicalID, s.Name, err)
		}
	}
	return nil
}

// CreateTableInput is the CreateTable request for t: on-demand billing, as the template
// declares, with t's keys and indexes. TTL is a separate call (UpdateTimeToLive).
func CreateTableInput(t samtpl.Table) *dynamodb.CreateTableInput {
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(t.Name),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		KeySchema:   keySchema(t.KeySchema),
	}
	for _, ad := range t.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{
			AttributeName: aws.String(ad.AttributeName),
			AttributeType: ddbtypes.ScalarAttributeType(ad.AttributeType),
		})
	}
	for _, g := range t.GlobalSecondaryIndexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
			IndexName: aws.String(g.IndexName), KeySchema: keySchema(g.KeySchema), Projection: projection(g),
		})
	}
	for _, l := range t.LocalSecondaryIndexes {
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, ddbtypes.LocalSecondaryIndex{
			IndexName: aws.String(l.IndexName), KeySchema: keySchema(l.KeySchema), Projection: projection(l),
		})
	}
	return in
}

func applyTable(ctx context.Context, ddb DynamoDB, t samtpl.Table) error {
	_, err := ddb.CreateTable(ctx, CreateTableInput(t))
	var inUse *ddbtypes.ResourceInUseException
	switch {
	case errors.As(err, &inUse):
		// Already there: make sure it is the table the template describes.
		out, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.Name)})
		if err != nil {
			return fmt.Errorf("describe existing table: %w", err)
		}
		if err := sameKeys(t, out.Table); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("create: %w", err)
	}

	waiter := dynamodb.NewTableExistsWaiter(ddb, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 2*time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.Name)}, tableWait); err != nil {
		return fmt.Errorf("wait for ACTIVE: %w", err)
	}
	if t.TTLAttribute != "" {
		if err := enableTTL(ctx, ddb, t); err != nil {
			return err
		}
	}
	return nil
}

func keySchema(ks []samtpl.KeyElement) []ddbtypes.KeySchemaElement {
	out := make([]ddbtypes.KeySchemaElement, 0, len(ks))
	for _, k := range ks {
		out = append(out, ddbtypes.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: ddbtypes.KeyType(k.KeyType)})
	}
	return out
}

func projection(i samtpl.SecondaryIndex) *ddbtypes.Projection {
	p := &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionType(i.ProjectionType)}
	if len(i.NonKeyAttributes) > 0 {
		p.NonKeyAttributes = i.NonKeyAttributes
	}
	return p
}

// sameKeys checks an existing table against the template: the key schema and the set of
// global secondary indexes must match, or the functions would fail in confusing ways.
func sameKeys(t samtpl.Table, d *ddbtypes.TableDescription) error {
	if d == nil {
		return errors.New("describe returned no table")
	}
	if got, want := fmtKeys(d.KeySchema), fmtKeys(keySchema(t.KeySchema)); got != want {
		return fmt.Errorf("exists with key schema %s, template says %s; reset the emulator", got, want)
	}
	existing := map[string]string{}
	for _, g := range d.GlobalSecondaryIndexes {
		existing[aws.ToString(g.IndexName)] = fmtKeys(g.KeySchema)
	}
	for _, g := range t.GlobalSecondaryIndexes {
		if got, ok := existing[g.IndexName]; !ok || got != fmtKeys(keySchema(g.KeySchema)) {
			return fmt.Errorf("exists without index %s %s as the template declares it; reset the emulator",
				g.IndexName, fmtKeys(keySchema(g.KeySchema)))
		}
	}
	return nil
}

func fmtKeys(ks []ddbtypes.KeySchemaElement) string {
	parts := make([]string, 0, len(ks))
	for _, k := range ks {
		parts = append(parts, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func enableTTL(ctx context.Context, ddb DynamoDB, t samtpl.Table) error {
	d, err := ddb.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(t.Name)})
	if err != nil {
		return fmt.Errorf("describe TTL: %w", err)
	}
	if desc := d.TimeToLiveDescription; desc != nil {
		switch desc.TimeToLiveStatus {
		case ddbtypes.TimeToLiveStatusEnabled, ddbtypes.TimeToLiveStatusEnabling:
			if aws.ToString(desc.AttributeName) == t.TTLAttribute {
				return nil
			}
			return fmt.Errorf("TTL is enabled on %q, template says %q; reset the emulator", aws.ToString(desc.AttributeName), t.TTLAttribute)
		}
	}
	_, err = ddb.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(t.Name),
		TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(t.TTLAttribute), Enabled: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("enable TTL on %s: %w", t.TTLAttribute, err)
	}
	return nil
}

func applySecret(ctx context.Context, sm SecretsManager, inv Invoker, s samtpl.Secret) error {
	value, hasValue, err := initialValue(s)
	if err != nil {
		return err
	}
	in := &secretsmanager.CreateSecretInput{Name: aws.String(s.Name)}
	if s.Description != "" {
		in.Description = aws.String(s.Description)
	}
	if hasValue {
		in.SecretString = aws.String(value)
	}
	_, err = sm.CreateSecret(ctx, in)
	var exists *smtypes.ResourceExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("create: %w", err)
	}

	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.Name)})
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	if hasCurrent(d.VersionIdsToStages) {
		return nil
	}
	switch {
	case s.RotationFunctionID != "" && s.RotateImmediately:
		return rotate(ctx, sm, inv, s)
	case hasValue:
		// Created empty by an earlier, interrupted run: give it the value now.
		if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(s.Name), SecretString: aws.String(value)}); err != nil {
			return fmt.Errorf("put value: %w", err)
		}
	}
	return nil
}

// initialValue is the value CloudFormation would create the secret with: none when a
// rotation schedule will produce it.
func initialValue(s samtpl.Secret) (string, bool, error) {
	switch {
	case s.RotationFunctionID != "":
		return "", false, nil
	case s.HasSecretString:
		return s.SecretString, true, nil
	case s.GenerateSecretString != nil:
		v, err := GenerateSecretString(*s.GenerateSecretString, rand.Reader)
		if err != nil {
			return "", false, fmt.Errorf("generate value: %w", err)
		}
		return v, true, nil
	}
	return "", false, nil
}

func hasCurrent(stages map[string][]string) bool {
	for _, labels := range stages {
		for _, l := range labels {
			if l == "AWSCURRENT" {
				return true
			}
		}
	}
	return false
}

// rotate drives the rotation function through the four steps with one token, as Secrets
// Manager does, then checks that the secret has an AWSCURRENT version.
func rotate(ctx context.Context, sm SecretsManager, inv Invoker, s samtpl.Secret) error {
	if inv == nil {
		return errors.New("a rotation function must run but no invoker was given")
	}
	token, err := smithyrand.NewUUID(rand.Reader).GetUUID()
	if err != nil {
		return fmt.Errorf("client request token: %w", err)
	}
	for _, step := range RotationSteps() {
		payload, err := json.Marshal(RotationEvent{SecretID: s.Name, ClientRequestToken: token, Step: step})
		if err != nil {
			return err
		}
		if _, err := inv.Invoke(ctx, s.RotationFunctionID, payload); err != nil {
			return fmt.Errorf("rotation step %s by %s: %w", step, s.RotationFunctionID, err)
		}
	}
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.Name)})
	if err != nil {
		return fmt.Errorf("describe after rotation: %w", err)
	}
	if !hasCurrent(d.VersionIdsToStages) {
		return fmt.Errorf("%s finished rotation but the secret has no AWSCURRENT version", s.RotationFunctionID)
	}
	return nil
}

// Character classes of Secrets Manager's password generator.
const (
	lowercase   = "abcdefghijklmnopqrstuvwxyz"
	uppercase   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digits      = "0123456789"
	punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
)

// GenerateSecretString generates a value the way Secrets Manager does for the
// GenerateSecretString property: PasswordLength characters from the included classes minus
// ExcludeCharacters, with at least one of each included class when
// RequireEachIncludedType, wrapped into SecretStringTemplate under GenerateStringKey when
// those are set. Randomness comes from r (crypto/rand in Apply).
func GenerateSecretString(g samtpl.GenerateSecretString, r io.Reader) (string, error) {
	var classes []string
	for _, c := range []struct {
		set     string
		exclude bool
	}{{lowercase, g.ExcludeLowercase}, {uppercase, g.ExcludeUppercase}, {digits, g.ExcludeNumbers}, {punctuation, g.ExcludePunctuation}, {" ", !g.IncludeSpace}} {
		if c.exclude {
			continue
		}
		kept := strings.Map(func(r rune) rune {
			if strings.ContainsRune(g.ExcludeCharacters, r) {
				return -1
			}
			return r
		}, c.set)
		if kept != "" {
			classes = append(classes, kept)
		}
	}
	if len(classes) == 0 {
		return "", errors.New("every character class is excluded")
	}
	if g.RequireEachIncludedType && g.PasswordLength < len(classes) {
		return "", fmt.Errorf("PasswordLength %d is shorter than the %d required character classes", g.PasswordLength, len(classes))
	}
	alphabet := strings.Join(classes, "")

	pw := make([]byte, g.PasswordLength)
	for attempt := 0; ; attempt++ {
		for i := range pw {
			c, err := pick(alphabet, r)
			if err != nil {
				return "", err
			}
			pw[i] = c
		}
		if !g.RequireEachIncludedType || containsEach(pw, classes) {
			break
		}
		if attempt > 1000 {
			return "", errors.New("could not satisfy RequireEachIncludedType")
		}
	}
	if g.GenerateStringKey == "" {
		return string(pw), nil
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(g.SecretStringTemplate), &obj); err != nil || obj == nil {
		return "", fmt.Errorf("SecretStringTemplate is not a JSON object: %v", err)
	}
	obj[g.GenerateStringKey] = string(pw)
	out, err := json.Marshal(obj)
	return string(out), err
}

func pick(alphabet string, r io.Reader) (byte, error) {
	n, err := rand.Int(r, big.NewInt(int64(len(alphabet))))
	if err != nil {
		return 0, fmt.Errorf("random: %w", err)
	}
	return alphabet[n.Int64()], nil
}

func containsEach(pw []byte, classes []string) bool {
	for _, c := range classes {
		if !strings.ContainsAny(string(pw), c) {
			return false
		}
	}
	return true
}

// Endpoints are the emulators' base URLs.
type Endpoints struct {
	DynamoDB       string
	SecretsManager string
}

// Local dummy credentials; the emulators accept any.
const (
	localAccessKeyID     = "AKIAKEYGATELOCAL0000"
	localSecretAccessKey = "keygate-local-secret-access-key"
)

// NewClients returns SDK clients for the emulators with dummy credentials, configured
// explicitly so that nothing from the host (profiles, environment credentials, a real
// region's endpoints) can leak in.
func NewClients(ep Endpoints, region string) (*dynamodb.Client, *secretsmanager.Client) {
	creds := credentials.NewStaticCredentialsProvider(localAccessKeyID, localSecretAccessKey, "")
	ddb := dynamodb.New(dynamodb.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(ep.DynamoDB)})
	sm := secretsmanager.New(secretsmanager.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(ep.SecretsManager)})
	return ddb, sm
}
