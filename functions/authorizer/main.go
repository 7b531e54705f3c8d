// Command authorizer is the AuthorizerFunction: the REQUEST authorizer of every protected route.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/app"
	"github.com/keygate/keygate/shared/authorizer"
)

func main() {
	d := app.MustLoad()
	// API-key lookups and revocation state are cached per container for RevocationMaxAge, so a
	// warm container authorizes a known credential without network I/O and learns of
	// revocations within that bound.
	cache := authorizer.CacheOptions{MaxAge: d.Config.RevocationMaxAge, Now: d.Now}
	a := &authorizer.Authorizer{
		Keys:     apikey.NewAuthenticator(d.Config.KeyPrefix, d.Pepper(), authorizer.NewKeyCache(d.Keys(), cache), d.Now),
		Tokens:   d.MustVerifier(),
		Revoked:  authorizer.NewChecker(d.Keys(), d.Tokens(), cache),
		Log:      d.Log,
		Now:      d.Now,
		Remember: d.Config.RevocationMaxAge,
	}
	lambda.Start(a.Handle)
}
