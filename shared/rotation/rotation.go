// Package rotation implements the Secrets Manager rotation of keygate's JWT signing key: the
// four steps createSecret, setSecret, testSecret and finishSecret, each safe to retry.
//
// createSecret stores a freshly generated key as AWSPENDING under the request token; testSecret
// proves it signs and verifies, then attaches keygate's own label KEYGATE_TESTED to it so the
// JWKS publishes its public half before it signs anything; finishSecret labels it with the
// promotion time (KEYGATE_PROMOTED_<unix milliseconds>, from which the keyrings count the activation
// delay), moves AWSCURRENT to it (Secrets Manager moves the old current to AWSPREVIOUS), removes
// AWSPENDING and KEYGATE_TESTED, and takes older promotion labels off the other versions.
// Private keys are never logged.
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
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/signing"
)

// Steps of the rotation contract.
const (
	StepCreate = "createSecret"
	StepSet    = "setSecret"
	StepTest   = "testSecret"
	StepFinish = "finishSecret"
)

// Event is what Secrets Manager sends the rotation function: aws-lambda-go's own type, so the
// wire format is the library's to keep up with (RotationToken, for rotations across accounts,
// is not used here).
type Event = events.SecretsManagerSecretRotationEvent

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
		// Already current: a retried finishSecret, or the first key of an empty secret. A
		// retry keeps the promotion label the first finishSecret wrote (the promotion happened
		// then), or none, for a first key: it signs at once anyway.
		if ev.Step == StepFinish {
			return r.clearLabels(ctx, ev, stages, latestPromotedLabel(tokenStages))
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
		return r.create(ctx, ev, stages)
	case StepSet:
		return nil // the key lives only in Secrets Manager: there is no other system to update
	case StepTest:
		if err := r.test(ctx, ev); err != nil {
			return err
		}
		return r.markTested(ctx, ev, stages)
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

// holder returns the version carrying label, or "".
func holder(stages map[string][]string, label string) string {
	for id, ss := range stages {
		if slices.Contains(ss, label) {
			return id
		}
	}
	return ""
}

// create stores a new key as AWSPENDING under the request token, unless a valid one is there.
// The first key of an empty secret (created by the template without a value) is made AWSCURRENT
// at once as well: there is no older key to keep signing with, and Secrets Manager attaches
// AWSCURRENT to a secret's first version anyway.
func (r *Rotator) create(ctx context.Context, ev Event, stages map[string][]string) error {
	// A KEYGATE_TESTED left on the pending key of an abandoned rotation would keep publishing
	// a key that will never sign.
	if h := holder(stages, secret.StageTested); h != "" && h != ev.ClientRequestToken {
		if err := r.removeLabel(ctx, ev.SecretID, secret.StageTested, h); err != nil {
			return err
		}
	}
	pending, err := r.pending(ctx, ev)
	switch {
	case err == nil:
		if _, perr := signing.Parse(pending.Value); perr != nil {
			// A version's value cannot be replaced, so no retry of this rotation can succeed.
			return fmt.Errorf("rotation: version %s already holds a value that is not a signing key (written by hand?); cancel this rotation (aws secretsmanager cancel-rotate-secret) and rotate again", ev.ClientRequestToken)
		}
		return nil // a retry of a create that succeeded
	case !errors.Is(err, secret.ErrNotFound):
		return err
	}
	value, err := signing.Generate(r.Alg, r.Random, r.Now())
	if err != nil {
		return fmt.Errorf("rotation: %w", err)
	}
	_, err = r.API.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(ev.SecretID),
		ClientRequestToken: aws.String(ev.ClientRequestToken),
		SecretString:       aws.String(string(value)),
		VersionStages:      versionStages(holder(stages, secret.StageCurrent) != ""),
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
	k, err := signing.Parse(v.Value)
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

// markTested attaches KEYGATE_TESTED to the pending version (moving it off any other version,
// which Secrets Manager requires to be named), so the JWKS starts publishing the key.
func (r *Rotator) markTested(ctx context.Context, ev Event, stages map[string][]string) error {
	h := holder(stages, secret.StageTested)
	if h == ev.ClientRequestToken {
		return nil // a retried testSecret
	}
	in := &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:        aws.String(ev.SecretID),
		VersionStage:    aws.String(secret.StageTested),
		MoveToVersionId: aws.String(ev.ClientRequestToken),
	}
	if h != "" {
		in.RemoveFromVersionId = aws.String(h)
	}
	if err := r.moveStage(ctx, in); err != nil {
		return fmt.Errorf("rotation: label the tested version: %w", err)
	}
	r.Log.InfoContext(ctx, "pending signing key tested; published ahead of use")
	return nil
}

// finish labels the pending version with the promotion time, makes it current and clears
// AWSPENDING, KEYGATE_TESTED and older promotion labels.
func (r *Rotator) finish(ctx context.Context, ev Event, stages map[string][]string) error {
	// Secrets Manager runs the steps in order; refusing anyway means a key is only ever
	// promoted once testSecret proved it and the JWKS has published it.
	if !slices.Contains(stages[ev.ClientRequestToken], secret.StageTested) {
		return fmt.Errorf("rotation: version %s was not tested; run testSecret first", ev.ClientRequestToken)
	}
	// The label goes on before AWSCURRENT moves, so no keyring ever reads the new AWSCURRENT
	// without it (it would then count the delay from the key's creation, and a late
	// finishSecret would make the key sign before the verifiers have loaded it). The version
	// is not current yet, so a promotion label already on it is from an attempt that died
	// before promoting, and understates the promotion: this attempt writes its own time.
	promoted := secret.PromotedLabel(r.Now())
	if !slices.Contains(stages[ev.ClientRequestToken], promoted) {
		in := &secretsmanager.UpdateSecretVersionStageInput{
			SecretId:        aws.String(ev.SecretID),
			VersionStage:    aws.String(promoted),
			MoveToVersionId: aws.String(ev.ClientRequestToken),
		}
		if h := holder(stages, promoted); h != "" { // a promotion within the same second
			in.RemoveFromVersionId = aws.String(h)
		}
		if err := r.moveStage(ctx, in); err != nil {
			return fmt.Errorf("rotation: label the promotion time: %w", err)
		}
	}
	current := holder(stages, secret.StageCurrent)
	in := &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:        aws.String(ev.SecretID),
		VersionStage:    aws.String(secret.StageCurrent),
		MoveToVersionId: aws.String(ev.ClientRequestToken),
	}
	if current != "" {
		in.RemoveFromVersionId = aws.String(current)
	}
	if err := r.moveStage(ctx, in); err != nil {
		return fmt.Errorf("rotation: promote pending version: %w", err)
	}
	if err := r.clearLabels(ctx, ev, stages, promoted); err != nil {
		return err
	}
	r.Log.InfoContext(ctx, "signing key rotated")
	return nil
}

// clearLabels removes AWSPENDING and KEYGATE_TESTED from the rotated version, and every
// promotion label but keep from every version, after (or on a retry of) finishSecret. stages
// is what DescribeSecret said before finishSecret's own changes. Labels already gone are
// skipped, so a retried finishSecret on a clean secret writes nothing.
func (r *Rotator) clearLabels(ctx context.Context, ev Event, stages map[string][]string, keep string) error {
	if slices.Contains(stages[ev.ClientRequestToken], secret.StagePending) {
		if err := r.removeLabel(ctx, ev.SecretID, secret.StagePending, ev.ClientRequestToken); err != nil {
			return err
		}
	}
	// Only this rotation's own label: a late or repeated finishSecret must not unpublish the
	// next rotation's tested key (createSecret clears labels abandoned rotations left).
	if slices.Contains(stages[ev.ClientRequestToken], secret.StageTested) {
		if err := r.removeLabel(ctx, ev.SecretID, secret.StageTested, ev.ClientRequestToken); err != nil {
			return err
		}
	}
	// Promotion labels are unique per time, so unlike Secrets Manager's they do not move on by
	// themselves: a labelled version is never deprecated, and a secret may carry only 20 labels
	// across all its versions. The old current (now AWSPREVIOUS) needs its label no more: the
	// keyring reads only AWSCURRENT's. Only the pending version of a rotation under way keeps
	// what it has (a finishSecret of it may be between labelling and promoting), as with
	// KEYGATE_TESTED; the next finishSecret cleans up after an abandoned one.
	for id, labels := range stages {
		if id != ev.ClientRequestToken && slices.Contains(labels, secret.StagePending) {
			continue
		}
		for _, l := range labels {
			if l == keep || !strings.HasPrefix(l, secret.PromotedPrefix) {
				continue
			}
			if err := r.removeLabel(ctx, ev.SecretID, l, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// latestPromotedLabel returns the well-formed promotion label with the latest time in labels, or "".
func latestPromotedLabel(labels []string) string {
	at, ok := secret.PromotedAt(labels)
	if !ok {
		return ""
	}
	return secret.PromotedLabel(at)
}

func (r *Rotator) removeLabel(ctx context.Context, secretID, label, versionID string) error {
	if err := r.moveStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(secretID),
		VersionStage:        aws.String(label),
		RemoveFromVersionId: aws.String(versionID),
	}); err != nil {
		return fmt.Errorf("rotation: remove %s: %w", label, err)
	}
	return nil
}

// moveStage runs one UpdateSecretVersionStage. If it fails, the stages are read again: when the
// label already stands where the call wanted it (on MoveToVersionId, off RemoveFromVersionId),
// the move happened and the error belongs to a retry whose first attempt's answer was lost (the
// SDK retries a broken read; the retry then finds the label moved and is refused). That is
// success, as the step's own retry would find it; any other state is the error.
func (r *Rotator) moveStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput) error {
	_, err := r.API.UpdateSecretVersionStage(ctx, in)
	if err == nil {
		return nil
	}
	stages, derr := r.versionStages(ctx, aws.ToString(in.SecretId))
	if derr != nil {
		return err
	}
	label := aws.ToString(in.VersionStage)
	if to := aws.ToString(in.MoveToVersionId); to != "" && !slices.Contains(stages[to], label) {
		return err
	}
	if from := aws.ToString(in.RemoveFromVersionId); from != "" && from != aws.ToString(in.MoveToVersionId) && slices.Contains(stages[from], label) {
		return err
	}
	return nil
}

func versionStages(secretHasCurrent bool) []string {
	if secretHasCurrent {
		return []string{secret.StagePending}
	}
	return []string{secret.StagePending, secret.StageCurrent}
}
