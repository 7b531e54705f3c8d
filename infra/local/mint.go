package local

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/keygate/keygate/shared/apikey"

	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/dynamo"
)

// MintKey writes a new API key straight to the stack's keys table, as `authctl bootstrap` does
// (the pepper from the stack's secret, an audit event saying why), and returns the plain key.
// Tests and benchmarks use it for the credentials they start from.
func (s *Stack) MintKey(ctx context.Context, spec apikey.Spec, why string) (string, error) {
	env := s.Env("KeysFunction")
	pepper, err := secret.Read(ctx, s.Secrets, env["KEYGATE_PEPPER_SECRET"], secret.StageCurrent)
	if err != nil {
		return "", err
	}
	h, err := apikey.NewHasher(pepper.Value)
	if err != nil {
		return "", err
	}
	plain, rec, err := apikey.Mint(env["KEYGATE_KEY_PREFIX"], h, spec, rand.Reader, time.Now())
	if err != nil {
		return "", err
	}
	events := dynamo.NewEvents(s.DynamoDB, env["KEYGATE_TOKENS_TABLE"], 0, time.Now)
	keys := dynamo.NewKeys(s.DynamoDB, env["KEYGATE_KEYS_TABLE"], time.Now, events)
	return plain, keys.CreateKey(ctx, rec, store.Event{KeyID: rec.KeyID, Action: "key.created", Detail: why})
}
