package local

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/keygate/keygate/shared/apikey"

	"github.com/keygate/keygate/shared/store/dynamo"
)

// MintKey writes a new API key straight to the stack's keys table, as `authctl bootstrap` does
// (the pepper from the stack's secret, an audit event saying why), and returns the plain key.
// Tests and benchmarks use it for the credentials they start from.
func (s *Stack) MintKey(ctx context.Context, spec apikey.Spec, why string) (string, error) {
	env := s.Env("KeysFunction")
	events := dynamo.NewEvents(s.DynamoDB, env["KEYGATE_TOKENS_TABLE"], 0, time.Now)
	keys := dynamo.NewKeys(s.DynamoDB, env["KEYGATE_KEYS_TABLE"], time.Now, events)
	plain, _, err := apikey.Bootstrap(ctx, s.Secrets, env["KEYGATE_PEPPER_SECRET"], env["KEYGATE_KEY_PREFIX"], keys, spec, why, rand.Reader, time.Now())
	return plain, err
}
