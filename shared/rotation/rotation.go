// Package rotation implements the Secrets Manager rotation of keygate's JWT signing key: the
// four steps createSecret, setSecret, testSecret and finishSecret, each safe to retry.
//
// createSecret stores a freshly generated key as AWSPENDING under the request token; testSecret
// proves it signs and verifies; finishSecret moves AWSCURRENT to it (Secrets Manager moves the
// old current to AWSPREVIOUS). Private keys are never logged.
package rotation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/signkey"
)

// Steps of the rotation contract.
const (
	StepCreate = "createSecret"
	StepSet    = "setSecret"
	StepTest   = "testSecret"
	StepFinish = "finishSecret"
)

// Event is what Secrets Manager sends the rotation function.
type Event struct {
	SecretID           string `json:"SecretId"`
	ClientRequestToken string `json:"ClientRequestToken"`
	Step               string `json:"Step"`
}

// SecretsAPI is the part of the Secrets Manager client rotation uses.
type SecretsAPI interface {
	secret.Getter
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// Rotator rotates signing-key secrets.
type Rotator struct {
	API    SecretsAPI
	Alg    string
	Now    func() time.Time
	Random io.Reader
	Log    *slog.Logger
}

// Handle runs one step.
func (r *Rotator) Handle(ctx context.Context, ev Event) error {
	if ev.SecretID == "" || ev.ClientRequestToken == "" {
		return errors.New("rotation: SecretId and ClientRequestToken are required")
	}
	stages, err := r.versionStages(ctx, ev.SecretID)
	if err != nil {
		return err
	}
	tokenStages, known := stages[ev.ClientRequestToken]
	if slices.Contains(tokenStages, secret.StageCurrent) {
		// Already current: a retried finishSecret, or the first key of an empty secret.
		if ev.Step == StepFinish && slices.Contains(tokenStages, secret.StagePending) {
			return r.clearPending(ctx, ev)
		}
		r.Log.InfoContext(ctx, "version already current; nothing to do", slog.String("step", ev.Step))
		return nil
	}
	if known && !slices.Contains(tokenStages, secret.StagePending) {
		return fmt.Errorf("rotation: version %s is not AWSPENDING", ev.ClientRequestToken)
	}
	if !known && ev.Step != StepCreate {
		return fmt.Errorf("rotation: version %s does not exist; run createSecret first", ev.ClientRequestToken)
	}
	switch ev.Step {
	case StepCreate:
		return r.create(ctx, ev, hasCurrent(stages))
	case StepSet:
		return nil // the key lives only in Secrets Manager: there is no other system to update
	case StepTest:
		return r.test(ctx, ev)
	case StepFinish:
		return r.finish(ctx, ev, stages)
	default:
		return fmt.Errorf("rotation: unknown step %q", ev.Step)
	}
}

func (r *Rotator) versionStages(ctx context.Context, id string) (map[string][]string, error) {
	out, err := r.API.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, fmt.Errorf("rotation: describe %s: %w", id, err)
	}
	return out.VersionIdsToStages, nil
}

func hasCurrent(stages map[string][]string) bool {
	for _, ss := range stages {
		if slices.Contains(ss, secret.StageCurrent) {
			return true
		}
	}
	return false
}

// create stores a new key as AWSPENDING under the request token, unless a valid one is there.
// The first key of an empty secret (created by the template without a value) is made AWSCURRENT
// at once as well: there is no older key to keep signing with, and Secrets Manager attaches
// AWSCURRENT to a secret's first version anyway.
func (r *Rotator) create(ctx context.Context, ev Event, secretHasCurrent bool) error {
	pending, err := r.pending(ctx, ev)
	if err == nil {
		if _, perr := signkey.Parse(pending.Value); perr == nil {
			return nil // a retry of a create that succeeded
		}
	} else if !errors.Is(err, secret.ErrNotFound) {
		return err
	}
	value, err := signkey.Generate(r.Alg, r.Random, r.Now())
	if err != nil {
		return fmt.Errorf("rotation: %w", err)
	}
	_, err = r.API.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(ev.SecretID),
		ClientRequestToken: aws.String(ev.ClientRequestToken),
		SecretString:       aws.String(string(value)),
		VersionStages:      versionStages(secretHasCurrent),
	})
	if err != nil {
		return fmt.Errorf("rotation: put pending version: %w", err)
	}
	r.Log.InfoContext(ctx, "created pending signing key", slog.String("alg", r.Alg))
	return nil
}

func (r *Rotator) pending(ctx context.Context, ev Event) (secret.Version, error) {
	return secret.ReadVersion(ctx, r.API, ev.SecretID, ev.ClientRequestToken, secret.StagePending)
}

// test proves the pending key parses and produces verifiable signatures.
func (r *Rotator) test(ctx context.Context, ev Event) error {
	v, err := r.pending(ctx, ev)
	if err != nil {
		return fmt.Errorf("rotation: test: %w", err)
	}
	k, err := signkey.Parse(v.Value)
	if err != nil {
		return fmt.Errorf("rotation: test: %w", err)
	}
	msg := []byte("keygate rotation test")
	digest := sha256.Sum256(msg)
	switch pub := k.Public.(type) {
	case *rsa.PublicKey:
		sig, err := k.Private.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil || rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
			return errors.New("rotation: test: RSA sign/verify failed")
		}
	case *ecdsa.PublicKey:
		sig, err := k.Private.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil || !ecdsa.VerifyASN1(pub, digest[:], sig) {
			return errors.New("rotation: test: ECDSA sign/verify failed")
		}
	case ed25519.PublicKey:
		sig, err := k.Private.Sign(rand.Reader, msg, crypto.Hash(0))
		if err != nil || !ed25519.Verify(pub, msg, sig) {
			return errors.New("rotation: test: Ed25519 sign/verify failed")
		}
	default:
		return fmt.Errorf("rotation: test: unsupported key %T", pub)
	}
	return nil
}

// finish makes the pending version current and clears AWSPENDING.
func (r *Rotator) finish(ctx context.Context, ev Event, stages map[string][]string) error {
	current := ""
	for id, ss := range stages {
		if slices.Contains(ss, secret.StageCurrent) {
			current = id
		}
	}
	in := &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:        aws.String(ev.SecretID),
		VersionStage:    aws.String(secret.StageCurrent),
		MoveToVersionId: aws.String(ev.ClientRequestToken),
	}
	if current != "" {
		in.RemoveFromVersionId = aws.String(current)
	}
	if _, err := r.API.UpdateSecretVersionStage(ctx, in); err != nil {
		return fmt.Errorf("rotation: promote pending version: %w", err)
	}
	if err := r.clearPending(ctx, ev); err != nil {
		return err
	}
	r.Log.InfoContext(ctx, "signing key rotated")
	return nil
}

func (r *Rotator) clearPending(ctx context.Context, ev Event) error {
	if _, err := r.API.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(ev.SecretID),
		VersionStage:        aws.String(secret.StagePending),
		RemoveFromVersionId: aws.String(ev.ClientRequestToken),
	}); err != nil {
		return fmt.Errorf("rotation: clear AWSPENDING: %w", err)
	}
	return nil
}

func versionStages(secretHasCurrent bool) []string {
	if secretHasCurrent {
		return []string{secret.StagePending}
	}
	return []string{secret.StagePending, secret.StageCurrent}
}
