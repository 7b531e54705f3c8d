package emulatortest_test

import (
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/infra/test/emulatortest"
)

// stopTB records how a helper ended a test: Fatalf and Skipf stop the helper as the real ones
// do (by unwinding), and the test recovers to look at what happened.
type stopTB struct {
	testing.TB
	fatal, skip string
}

type stopped struct{}

func (s *stopTB) Helper() {}
func (s *stopTB) Fatalf(format string, args ...any) {
	s.fatal = fmt.Sprintf(format, args...)
	panic(stopped{})
}
func (s *stopTB) Skipf(format string, args ...any) {
	s.skip = fmt.Sprintf(format, args...)
	panic(stopped{})
}

func run(tb *stopTB, f func(testing.TB)) {
	defer func() {
		if r := recover(); r != nil && r != (stopped{}) {
			panic(r)
		}
	}()
	f(tb)
}

func TestAMissingEndpointSkipsUnlessTheEmulatorsAreRequired(t *testing.T) {
	clients := []struct {
		name string
		env  string
		make func(testing.TB)
	}{
		{"DynamoDB", emulatortest.DynamoDBEndpointEnv, func(tb testing.TB) { emulatortest.DynamoDB(tb) }},
		{"SecretsManager", emulatortest.SecretsEndpointEnv, func(tb testing.TB) { emulatortest.SecretsManager(tb) }},
	}
	tests := []struct {
		name      string
		endpoint  string
		require   string
		wantFatal bool
		wantSkip  bool
	}{
		{"an unset endpoint skips the test", "", "", false, true},
		{"an unset endpoint fails the test when make test requires the emulators", "", "1", true, false},
		{"a requirement other than 1 does not turn the skip into a failure", "", "0", false, true},
		{"a set endpoint gives a client whether required or not", "http://127.0.0.1:1", "", false, false},
	}
	for _, c := range clients {
		for _, tt := range tests {
			t.Run(c.name+": "+tt.name, func(t *testing.T) {
				t.Setenv(c.env, tt.endpoint)
				t.Setenv(emulatortest.RequireEnv, tt.require)
				tb := &stopTB{TB: t}
				run(tb, c.make)
				if (tb.fatal != "") != tt.wantFatal || (tb.skip != "") != tt.wantSkip {
					t.Errorf("fatal %q, skip %q; want fatal %v, skip %v", tb.fatal, tb.skip, tt.wantFatal, tt.wantSkip)
				}
				if msg := tb.fatal + tb.skip; msg != "" && !strings.Contains(msg, c.env) {
					t.Errorf("the message %q does not name %s", msg, c.env)
				}
			})
		}
	}
}

func TestClientsTalkOnlyToTheEmulatorEndpoint(t *testing.T) {
	t.Setenv(emulatortest.DynamoDBEndpointEnv, "http://127.0.0.1:1")
	t.Setenv(emulatortest.SecretsEndpointEnv, "http://127.0.0.1:2")
	// Settings that would send a client built by LoadDefaultConfig elsewhere.
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:3")
	t.Setenv("AWS_REGION", "eu-west-3")
	db, sm := emulatortest.DynamoDB(t).Options(), emulatortest.SecretsManager(t).Options()
	if got := aws.ToString(db.BaseEndpoint); got != "http://127.0.0.1:1" {
		t.Errorf("DynamoDB endpoint = %q", got)
	}
	if got := aws.ToString(sm.BaseEndpoint); got != "http://127.0.0.1:2" {
		t.Errorf("Secrets Manager endpoint = %q", got)
	}
	if db.Region != emulatortest.Region || sm.Region != emulatortest.Region {
		t.Errorf("regions = %q, %q; want %q", db.Region, sm.Region, emulatortest.Region)
	}
}

func TestTheRepoRootIsFoundFromAnyPackageDirectory(t *testing.T) {
	here, err := emulatortest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"functions/token", "shared/store/dynamo", "infra", "."} {
		t.Run("from "+dir, func(t *testing.T) {
			t.Chdir(filepath.Join(here, dir))
			got, err := emulatortest.RepoRoot()
			if err != nil || got != here {
				t.Errorf("RepoRoot = %q, %v; want %q", got, err, here)
			}
		})
	}
	t.Run("from outside the module is an error", func(t *testing.T) {
		t.Chdir(t.TempDir())
		if got, err := emulatortest.RepoRoot(); err == nil {
			t.Errorf("RepoRoot = %q outside the module, want an error", got)
		}
	})
}

func TestTemplateTablesHaveTheirKeySchema(t *testing.T) {
	for _, id := range []string{"KeysTable", "TokensTable"} {
		t.Run(id, func(t *testing.T) {
			if spec := emulatortest.TemplateTable(t, id); spec.KeySchema[0].AttributeName != "pk" {
				t.Errorf("%s key schema = %+v", id, spec.KeySchema)
			}
		})
	}
}

func TestTableCreatesFreshTablesFromTheTemplate(t *testing.T) {
	db := emulatortest.DynamoDB(t)
	a := emulatortest.Table(t, db, "TokensTable")
	b := emulatortest.Table(t, db, "TokensTable")
	if a == b || !strings.HasPrefix(a, "keygate-test-tokens-") {
		t.Errorf("tables %q and %q: want two distinct keygate-test-tokens-… names", a, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(a)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(out.Table.KeySchema); n != 2 || aws.ToInt64(out.Table.ItemCount) != 0 {
		t.Errorf("table %s: %d key elements, %d items; want the template's 2 and none", a, n, aws.ToInt64(out.Table.ItemCount))
	}
}

func TestSecretCreatesASecretWithoutAValue(t *testing.T) {
	sm := emulatortest.SecretsManager(t)
	name := emulatortest.Secret(t, sm)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.VersionIdsToStages) != 0 {
		t.Errorf("new secret %s has versions %v, want none", name, out.VersionIdsToStages)
	}
}

// The package reads the environment and fails tests: nothing built into a function may import
// it. The functions' import graph inside the module is walked from their main packages.
func TestNoFunctionDependsOnThisPackage(t *testing.T) {
	const module = "github.com/keygate/keygate/"
	const self = module + "infra/test/emulatortest"
	root, err := emulatortest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	mains, err := filepath.Glob(filepath.Join(root, "functions", "*"))
	if err != nil || len(mains) == 0 {
		t.Fatalf("no functions under %s: %v", root, err)
	}
	from := map[string]string{} // import path → the package that first imported it
	var queue []string
	for _, m := range mains {
		rel, _ := filepath.Rel(root, m)
		p := module + filepath.ToSlash(rel)
		from[p] = ""
		queue = append(queue, p)
	}
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		imports, err := nonTestImports(filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(pkg, module))))
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range imports {
			if _, seen := from[imp]; seen || !strings.HasPrefix(imp, module) {
				continue
			}
			from[imp] = pkg
			if imp == self {
				chain := []string{imp}
				for p := pkg; p != ""; p = from[p] {
					chain = append(chain, p)
				}
				slices.Reverse(chain)
				t.Fatalf("a function depends on %s: %s", self, strings.Join(chain, " → "))
			}
			queue = append(queue, imp)
		}
	}
	if len(from) < len(mains)+3 {
		t.Fatalf("walked only %d packages from %d functions; the walk is broken", len(from), len(mains))
	}
}

func nonTestImports(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ImportsOnly)
		if err != nil {
			return nil, err
		}
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	return out, nil
}

func TestStackFromEnvSkipsOrFailsWhenAPartIsMissing(t *testing.T) {
	for _, tt := range []struct {
		name          string
		ddb, sm, bin  string
		require       string
		wantSkip, err bool
	}{
		{"all there", "http://a", "http://b", "/bin", "1", false, false},
		{"no bootstraps", "http://a", "http://b", "", "", true, false},
		{"no bootstraps, required", "http://a", "http://b", "", "1", true, true},
		{"nothing, required", "", "", "", "1", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(emulatortest.DynamoDBEndpointEnv, tt.ddb)
			t.Setenv(emulatortest.SecretsEndpointEnv, tt.sm)
			t.Setenv(emulatortest.BinEnv, tt.bin)
			t.Setenv(emulatortest.RequireEnv, tt.require)
			env, skip, err := emulatortest.StackFromEnv()
			if (skip != "") != tt.wantSkip || (err != nil) != tt.err {
				t.Fatalf("StackFromEnv = %+v, %q, %v", env, skip, err)
			}
			if !tt.wantSkip && (env.DynamoDB != tt.ddb || env.Secrets != tt.sm || env.Bin != tt.bin) {
				t.Fatalf("env = %+v", env)
			}
		})
	}
}
