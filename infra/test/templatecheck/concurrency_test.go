package templatecheck_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/local/samtpl"
)

// reserved are the functions with a concurrency reservation, by the parameter that sizes it: the
// authorizer (every protected request) and the two endpoints that take credentials (where a
// flood lands). Each reservation guarantees the function its share and caps it there.
var reserved = map[string]string{
	"AuthorizerFunction": "AuthorizerReservedConcurrency",
	"TokenFunction":      "TokenReservedConcurrency",
	"RefreshFunction":    "RefreshReservedConcurrency",
}

// lambdaUnreservedMinimum is the part of a region's concurrency Lambda never lets reservations
// take; defaultConcurrencyQuota is a region's quota unless raised.
const (
	lambdaUnreservedMinimum = 100
	defaultConcurrencyQuota = 1000
)

func TestConcurrencyIsReservedForTheAuthorizerAndTheTokenEndpoints(t *testing.T) {
	c := loadTemplate(t)
	for _, fn := range sortedKeys(c.resources("AWS::Serverless::Function")) {
		got := str(props(c.resource(fn))["ReservedConcurrentExecutions"])
		param, ok := reserved[fn]
		if !ok {
			if got != "null" {
				t.Errorf("%s reserves concurrency (%s); docs/security.md sizes only %v", fn, got, sortedKeys(reserved))
			}
			continue
		}
		cond := "Reserve" + strings.TrimSuffix(fn, "Function") + "Concurrency"
		// 0 means "no reservation": Lambda's own 0 would stop the function.
		if want := `{"Fn::If":["` + cond + `",{"Ref":"` + param + `"},{"Ref":"AWS::NoValue"}]}`; got != want {
			t.Errorf("%s: ReservedConcurrentExecutions = %s, want %s", fn, got, want)
		}
		if str(path(c, "Conditions", cond)) != `{"Fn::Not":[{"Fn::Equals":[{"Ref":"`+param+`"},"0"]}]}` {
			t.Errorf("%s = %v, want true unless %s is 0", cond, path(c, "Conditions", cond), param)
		}
		if str(path(c, "Parameters", param, "MinValue")) != "0" {
			t.Errorf("%s: MinValue must be 0 (no reservation)", param)
		}
		tpl, err := samtpl.Load(templatePath, samtpl.Options{Parameters: map[string]string{param: "0"}})
		if err != nil || tpl.Conditions[cond] {
			t.Errorf("%s=0 must leave %s unreserved (%s = %v, %v)", param, fn, cond, tpl != nil && tpl.Conditions[cond], err)
		}
	}
}

// TestReservationsFitTheAccount does the account-level arithmetic of docs/security.md for
// samconfig.toml: the environments of one region share its concurrency, and their reservations
// must leave Lambda's minimum unreserved within the default quota.
func TestReservationsFitTheAccount(t *testing.T) {
	cfg := samconfig(t)
	perRegion := map[string]int{}
	for _, env := range []string{"dev", "staging", "prod"} {
		d := cfg[env+".deploy.parameters"]
		overrides := map[string]string{}
		for _, kv := range strings.Fields(d["parameter_overrides"]) {
			k, v, _ := strings.Cut(kv, "=")
			overrides[k] = v
		}
		tpl, err := samtpl.Load(templatePath, samtpl.Options{Parameters: overrides})
		if err != nil {
			t.Fatal(err)
		}
		for _, param := range reserved {
			n, err := strconv.Atoi(tpl.Parameters[param].Value)
			if err != nil {
				t.Fatalf("%s: %s = %q", env, param, tpl.Parameters[param].Value)
			}
			perRegion[d["region"]] += n
		}
		if env == "prod" && tpl.Parameters["AuthorizerReservedConcurrency"].Value == "0" {
			t.Error("prod leaves the authorizer unreserved: a flood elsewhere in the account could starve it")
		}
	}
	for region, n := range perRegion {
		if n+lambdaUnreservedMinimum > defaultConcurrencyQuota {
			t.Errorf("%s: the environments reserve %d; with Lambda's %d unreserved that exceeds the default quota of %d (raise the quota first, and say so in docs/security.md)",
				region, n, lambdaUnreservedMinimum, defaultConcurrencyQuota)
		}
	}
}
