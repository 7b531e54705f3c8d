package samtpl_test

import (
	"os"
	"testing"

	"github.com/keygate/keygate/infra/local/samtpl"
)

// FuzzParse feeds arbitrary documents to the parser: it may refuse them, never panic or hang.
func FuzzParse(f *testing.F) {
	if real, err := os.ReadFile(realTemplate); err == nil {
		f.Add(real)
	}
	f.Add([]byte(minimal(envFunction(`!Sub ["${A}-${Stage}-${!x}", {A: !Ref Table}]`))))
	f.Add([]byte(minimal(envFunction(`{"Fn::GetAtt": [AuthorizerFunction, Arn]}`))))
	f.Add([]byte(minimal(route("GET", "/a/{id}/{p+}", "Auth: {Authorizer: NONE}"))))
	f.Add([]byte("a: &x [*x]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tpl, err := samtpl.Parse(data, samtpl.Options{})
		if err == nil && tpl == nil {
			t.Fatal("nil template without error")
		}
	})
}
