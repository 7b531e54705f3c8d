// Package secret reads values from AWS Secrets Manager for the functions: the narrow client
// interface they need, reading one version stage (with the version's staging labels), a lazily
// loaded value that is fetched once per container and retried after a failure, and keygate's own
// staging labels, which the rotation function writes and the keyring reads.
//
// It never logs or wraps secret values into errors.
package secret

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// Version stages managed by Secrets Manager rotation.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
	StagePending  = "AWSPENDING"
	// StageTested is keygate's own staging label, not one of Secrets Manager's: the rotation
	// function attaches it to the AWSPENDING version once testSecret has proven that key, and
	// finishSecret removes it. The keyring publishes that version's public key in the JWKS, so
	// outside verifiers learn the next key before it signs, and never signs or verifies with it.
	StageTested = "KEYGATE_TESTED"
	// PromotedPrefix begins keygate's promotion label, KEYGATE_PROMOTED_<unix milliseconds>: the
	// rotation function's finishSecret attaches it to the version it is about to make
	// AWSCURRENT, carrying the time of the promotion, and takes such labels off every other
	// version (a labelled version is never deprecated, and Secrets Manager allows 20 labels
	// across all versions of a secret). The keyring counts a new key's activation delay from it.
	PromotedPrefix = "KEYGATE_PROMOTED_"
)

// maxPromotedDigits bounds the milliseconds in a promotion label: 14 digits reach the year
// 5138, and keep every time computed from the label far from time.Time's limits.
const maxPromotedDigits = 14

// ErrNotFound means the secret or the requested stage does not exist.
var ErrNotFound = errors.New("secret: not found")

// Getter is the part of the Secrets Manager client this package reads with.
type Getter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Version is one version of a secret.
type Version struct {
	ID    string
	Value []byte
	// Stages are the version's staging labels, as GetSecretValue returned them.
	Stages []string
}

// PromotedLabel returns the promotion label for a promotion at t, in milliseconds rounded up:
// finishSecret writes the label just before it moves AWSCURRENT, so the label never makes the
// promotion look earlier than the label's own write, and it stays before (or at) the move
// itself, which every keyring sees later still. Whole seconds rounded up could land after the
// move: a keyring that saw the move first then activated up to a second before one that only
// read the label (a cold start), and the two signed with different keys for that second.
func PromotedLabel(t time.Time) string {
	ms := t.UnixMilli()
	if t.Sub(time.UnixMilli(ms)) > 0 {
		ms++
	}
	return PromotedPrefix + strconv.FormatInt(ms, 10)
}

// ParsePromoted returns the time a promotion label carries. Only the spelling PromotedLabel
// writes is accepted (the prefix, then the unix milliseconds in decimal: no sign, no leading
// zero, at most 14 digits, not zero); anything else is not a promotion label.
func ParsePromoted(label string) (time.Time, bool) {
	digits, ok := strings.CutPrefix(label, PromotedPrefix)
	if !ok || digits == "" || len(digits) > maxPromotedDigits || digits[0] == '0' {
		return time.Time{}, false
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
	}
	ms, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

// PromotedAt returns the latest time among the promotion labels in stages (a finishSecret
// that died before its promotion and was retried may have left an earlier one), and false when
// there is none.
func PromotedAt(stages []string) (time.Time, bool) {
	var latest time.Time
	found := false
	for _, l := range stages {
		if t, ok := ParsePromoted(l); ok && (!found || t.After(latest)) {
			latest, found = t, true
		}
	}
	return latest, found
}

// Read returns the version of secretID at stage. A missing secret or stage is ErrNotFound;
// anything else (network, throttling, permissions) is returned wrapped, for a 503.
func Read(ctx context.Context, api Getter, secretID, stage string) (Version, error) {
	return ReadVersion(ctx, api, secretID, "", stage)
}

// ReadVersion is Read restricted to versionID (when not empty) carrying stage. A missing
// version is ErrNotFound, but a version that exists without stage is a plain error (moto
// answers InvalidRequestException; AWS documents only that the two must name one version), so
// callers that must tell the two apart read the version's stages first, as package rotation
// does with DescribeSecret.
func ReadVersion(ctx context.Context, api Getter, secretID, versionID, stage string) (Version, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID), VersionStage: aws.String(stage)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := api.GetSecretValue(ctx, in)
	if err != nil {
		var nf *smtypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return Version{}, fmt.Errorf("read secret %s (%s): %w", secretID, stage, ErrNotFound)
		}
		return Version{}, fmt.Errorf("read secret %s (%s): %w", secretID, stage, err)
	}
	v := Version{ID: aws.ToString(out.VersionId), Stages: out.VersionStages}
	switch {
	case out.SecretString != nil:
		v.Value = []byte(*out.SecretString)
	case out.SecretBinary != nil:
		v.Value = out.SecretBinary
	default:
		return Version{}, fmt.Errorf("read secret %s (%s): empty value: %w", secretID, stage, ErrNotFound)
	}
	return v, nil
}

// Lazy is a secret value read at most once successfully per container: the first Get fetches
// AWSCURRENT, later calls return the cached bytes, and a failed fetch is retried by the next
// Get. Use it for values that never rotate under a running container (the API-key pepper).
type Lazy struct {
	api      Getter
	secretID string
	parse    func([]byte) error

	mu    sync.Mutex
	value []byte
}

// NewLazy returns a Lazy for secretID; check, if not nil, validates the value before caching.
func NewLazy(api Getter, secretID string, check func([]byte) error) *Lazy {
	return &Lazy{api: api, secretID: secretID, parse: check}
}

// Get returns the cached value or fetches it. The slice is the cache itself, shared by every
// caller and not copied (it is read on request paths): callers must not modify it.
func (l *Lazy) Get(ctx context.Context) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.value != nil {
		return l.value, nil
	}
	v, err := Read(ctx, l.api, l.secretID, StageCurrent)
	if err != nil {
		return nil, err
	}
	if l.parse != nil {
		if err := l.parse(v.Value); err != nil {
			return nil, fmt.Errorf("secret %s: %w", l.secretID, err)
		}
	}
	l.value = v.Value
	return l.value, nil
}
