package templatecheck_test

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/local/samtpl"
)

// samconfig reads samconfig.toml's subset (sections and key = "string" | true | false | number
// lines), failing on anything else, keyed "env.command.parameters" → key → value.
func samconfig(t *testing.T) map[string]map[string]string {
	t.Helper()
	f, err := os.Open("../../../samconfig.toml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]string{}
	section := ""
	line := regexp.MustCompile(`^([a-z0-9_]+)\s*=\s*("([^"\\]*)"|true|false|[0-9.]+)$`)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			section = l[1 : len(l)-1]
			out[section] = map[string]string{}
		default:
			m := line.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("samconfig.toml:%d: unsupported line %q", n, l)
			}
			v := m[2]
			if strings.HasPrefix(v, `"`) {
				v = m[3]
			}
			if section != "" {
				out[section][m[1]] = v
			}
		}
	}
	return out
}

// TestEnvironmentsDeployWithValidParameters resolves the template with each environment's
// parameter overrides (samtpl checks AllowedValues, patterns and ranges as CloudFormation
// does) and pins what must differ between environments.
func TestEnvironmentsDeployWithValidParameters(t *testing.T) {
	cfg := samconfig(t)
	stacks := map[string]string{}
	for _, env := range []string{"dev", "staging", "prod"} {
		t.Run(env, func(t *testing.T) {
			d, ok := cfg[env+".deploy.parameters"]
			if !ok {
				t.Fatalf("no [%s.deploy.parameters]: make deploy ENV=%s would have nothing to deploy", env, env)
			}
			overrides := map[string]string{}
			for _, kv := range strings.Fields(d["parameter_overrides"]) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("parameter_overrides: %q is not Name=Value", kv)
				}
				if _, dup := overrides[k]; dup {
					t.Errorf("parameter_overrides: %s set twice", k)
				}
				overrides[k] = v
			}
			tpl, err := samtpl.Load(templatePath, samtpl.Options{Parameters: overrides})
			if err != nil {
				t.Fatalf("template with %s's overrides: %v", env, err)
			}
			p := func(name string) string { return tpl.Parameters[name].Value }
			wantPrefix := map[string]string{"dev": "kg_test", "staging": "kg_test", "prod": "kg_live"}[env]
			if p("Stage") != env || p("KeyPrefix") != wantPrefix {
				t.Errorf("Stage=%s KeyPrefix=%s, want %s and %s", p("Stage"), p("KeyPrefix"), env, wantPrefix)
			}
			// Every environment says its issuer, audience and token lifetimes explicitly,
			// instead of inheriting whatever the template's defaults become.
			for _, name := range []string{"Issuer", "Audience", "AccessTokenTTL", "MaxAccessTokenTTL", "RefreshTokenTTL", "LogRetentionInDays", "CorsAllowOrigin"} {
				if _, ok := overrides[name]; !ok {
					t.Errorf("%s is not set", name)
				}
			}
			// The invalid_grant detection reads the refresh function's INFO line.
			if lvl := p("LogLevel"); lvl != "INFO" && lvl != "DEBUG" {
				t.Errorf("LogLevel=%s drops the INFO lines RefreshInvalidGrantsMetricFilter counts", lvl)
			}
			if !strings.HasPrefix(p("Issuer"), "https://") {
				t.Errorf("Issuer %q is not an https URL", p("Issuer"))
			}
			if d["stack_name"] == "" || !strings.Contains(d["capabilities"], "CAPABILITY_IAM") || d["region"] == "" {
				t.Errorf("stack_name, region and CAPABILITY_IAM are required: %v", d)
			}
			if other, clash := stacks[d["stack_name"]]; clash {
				t.Errorf("stack %s is also %s's", d["stack_name"], other)
			}
			stacks[d["stack_name"]] = env
			if env == "prod" {
				if d["confirm_changeset"] != "true" {
					t.Error("prod deploys without confirming the change set")
				}
				if p("CorsAllowOrigin") == "*" {
					t.Error("prod allows every browser origin")
				}
				if !tpl.Conditions["WafOn"] {
					t.Error("prod deploys without the web ACL")
				}
			}
		})
	}
}
