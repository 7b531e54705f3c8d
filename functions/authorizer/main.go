// Command authorizer is the AuthorizerFunction: the REQUEST authorizer of every protected route.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/app"
	"github.com/keygate/keygate/shared/authorizer"
	"github.com/keygate/keygate/shared/usageplan"
)

func main() {
	d := app.MustLoad()
	// API-key lookups and revocation state are cached per container for RevocationMaxAge, so a
	// warm container authorizes a known credential without network I/O and learns of
	// revocations within that bound.
	cache := authorizer.CacheOptions{MaxAge: d.Config.RevocationMaxAge, Now: d.Now}
	keys := apikey.NewAuthenticator(d.Config.KeyPrefix, d.Pepper(), authorizer.NewKeyCache(d.Keys(), cache), d.Now)
	a := &authorizer.Authorizer{
		Keys:    keys,
		Tokens:  d.MustVerifier(),
		Revoked: authorizer.NewChecker(d.Keys(), d.Tokens(), cache),
		// The usage identifier is derived from the pepper the key lookups already load.
		Usage:    &usageplan.Identifiers{Hashers: keys},
		Log:      d.Log,
		Now:      d.Now,
		Remember: d.Config.RevocationMaxAge,
	}
	lambda.Start(a.Handle)
}
