package templatecheck_test

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/local/samtpl"
)

// The customer-managed key (KmsKey parameter): who may use it, through which service, for which
// data. Both locks are checked against the same derivation from function-permissions.yaml: the
// roles' own kms: grants (IAM) and EncryptionKey's key policy, each of which alone would have to
// allow a use for AWS to allow it.

// keyArn is the one expression every use of the key names: the stack's key or the given ARN.
const keyArn = `{"Fn::If":["CreateKmsKey",{"Fn::GetAtt":["EncryptionKey","Arn"]},{"Ref":"KmsKey"}]}`

// kmsUse is one use of the key: an action, through a service, for one table or secret (logical id).
type kmsUse struct {
	action, service, data string
}

func (u kmsUse) String() string { return u.action + " via " + u.service + " for " + u.data }

// kmsUses is what the key must allow a function whose grants (function-permissions.yaml) are
// these: DynamoDB decrypts a table's key with the caller's credentials, whatever the caller
// does on the table; Secrets Manager decrypts a value for GetSecretValue and makes a data key for
// PutSecretValue. Nothing else a function calls touches the key.
func kmsUses(t *testing.T, c cfn, grants []string) map[kmsUse]bool {
	t.Helper()
	out := map[kmsUse]bool{}
	for _, g := range grants {
		action, res, _ := strings.Cut(g, " on ")
		res, _, _ = strings.Cut(res, "/index/")
		switch typ := str(c.resource(res)["Type"]); {
		case typ == "AWS::DynamoDB::Table" && strings.HasPrefix(action, "dynamodb:"):
			out[kmsUse{"kms:Decrypt", "dynamodb", res}] = true
		case typ == "AWS::SecretsManager::Secret" && action == "secretsmanager:GetSecretValue":
			out[kmsUse{"kms:Decrypt", "secretsmanager", res}] = true
		case typ == "AWS::SecretsManager::Secret" && action == "secretsmanager:PutSecretValue":
			out[kmsUse{"kms:GenerateDataKey", "secretsmanager", res}] = true
		}
	}
	return out
}

// contextKeys is the encryption-context key that names the data, per service.
var contextKeys = map[string]string{
	"dynamodb":       "kms:EncryptionContext:aws:dynamodb:tableName",
	"secretsmanager": "kms:EncryptionContext:SecretARN",
}

// viaService is the service a kms:ViaService value names ({"Fn::Sub": "<svc>.${AWS::Region}.amazonaws.com"}).
func viaService(v any) (string, bool) {
	s, ok := path(v, "Fn::Sub").(string)
	if !ok {
		return "", false
	}
	svc, ok := strings.CutSuffix(s, ".${AWS::Region}.amazonaws.com")
	return svc, ok && contextKeys[svc] != ""
}

// conditionalStatement is a policy statement with the condition of the Fn::If it sits in (""
// when it has none).
type conditionalStatement struct {
	cond string
	st   map[string]any
}

// roleStatements returns a role's policy statements; an Fn::If's false branch must be
// AWS::NoValue here.
func roleStatements(t *testing.T, id string, role map[string]any) (out []conditionalStatement) {
	t.Helper()
	for _, pol := range list(props(role)["Policies"]) {
		for _, st := range list(path(pol, "PolicyDocument", "Statement")) {
			cond := ""
			if args, ok := path(st, "Fn::If").([]any); ok && len(args) == 3 {
				if str(args[2]) != `{"Ref":"AWS::NoValue"}` {
					t.Errorf("%s: a statement's Fn::If must fall back to AWS::NoValue, got %s", id, str(args[2]))
				}
				cond, st = str(args[0]), args[1]
			}
			m, ok := st.(map[string]any)
			if !ok {
				t.Errorf("%s: statement %v is not a mapping", id, st)
				continue
			}
			out = append(out, conditionalStatement{cond, m})
		}
	}
	return out
}

func TestRoleKmsGrantsFollowTheDataEachFunctionUses(t *testing.T) {
	c := loadTemplate(t)
	perms := loadFunctionPermissions(t)
	for _, fn := range sortedKeys(c.resources("AWS::Serverless::Function")) {
		role, _ := refTarget(props(c.resource(fn))["Role"])
		want := kmsUses(t, c, perms[fn])
		got := map[kmsUse]bool{}
		for _, s := range roleStatements(t, role, c.resource(role)) {
			var kms []string
			for _, a := range list(s.st["Action"]) {
				if strings.HasPrefix(str(a), "kms:") {
					kms = append(kms, str(a))
				}
			}
			if len(kms) == 0 {
				continue
			}
			where := fmt.Sprintf("%s statement %v", role, s.st["Sid"])
			if s.cond != "HasKmsKey" {
				t.Errorf("%s: kms: grants exist only with a customer-managed key (Fn::If HasKmsKey), got condition %q", where, s.cond)
			}
			if len(kms) != len(list(s.st["Action"])) || s.st["Effect"] != "Allow" || str(s.st["Resource"]) != keyArn {
				t.Errorf("%s: want Allow of kms: actions alone on %s, got %v", where, keyArn, s.st)
			}
			eq, _ := path(s.st, "Condition", "StringEquals").(map[string]any)
			if cond, _ := s.st["Condition"].(map[string]any); len(cond) != 1 || len(eq) != 2 {
				t.Errorf("%s: want exactly StringEquals on kms:ViaService and the encryption context, got %v", where, s.st["Condition"])
				continue
			}
			svc, ok := viaService(eq["kms:ViaService"])
			if !ok {
				t.Errorf("%s: kms:ViaService %v is not DynamoDB or Secrets Manager in this region", where, eq["kms:ViaService"])
				continue
			}
			data := list(eq[contextKeys[svc]])
			if len(data) == 0 {
				t.Errorf("%s: no %s condition: the grant would cover any %s data", where, contextKeys[svc], svc)
			}
			for _, d := range data {
				id, attr := refTarget(d)
				if c.resource(id) == nil || attr != "" {
					t.Errorf("%s: %s %v is not a Ref to a table or secret of this template", where, contextKeys[svc], d)
					continue
				}
				for _, a := range kms {
					got[kmsUse{a, svc, id}] = true
				}
			}
		}
		if diff := useDiff(got, want); diff != "" {
			t.Errorf("%s (%s) kms: grants differ from what its data access needs:\n%s", fn, role, diff)
		}
	}
}

// roleArnPattern is how EncryptionKey's policy names a role: by the Path the role carries.
func roleArnPattern(rolePath string) string {
	return "arn:${AWS::Partition}:iam::${AWS::AccountId}:role" + rolePath + "*"
}

func TestFunctionRolesHaveTheirOwnPath(t *testing.T) {
	c := loadTemplate(t)
	seen := map[string]string{}
	for _, fn := range sortedKeys(c.resources("AWS::Serverless::Function")) {
		role, _ := refTarget(props(c.resource(fn))["Role"])
		dir := strings.ToLower(strings.TrimSuffix(fn, "Function"))
		want := "/keygate/${Stage}/${AWS::Region}/" + dir + "/"
		got, _ := path(props(c.resource(role)), "Path", "Fn::Sub").(string)
		if got != want {
			t.Errorf("%s: Path = %v, want !Sub %s (EncryptionKey's policy names the role by it)", role, props(c.resource(role))["Path"], want)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("%s and %s share the path %s", role, other, got)
		}
		seen[got] = role
	}
}

// cryptoActions use the key on data; the account's administration statement has none of them.
var cryptoActions = regexp.MustCompile(`^kms:(Encrypt|Decrypt|ReEncrypt.*|GenerateDataKey.*|GenerateRandom|Sign|Verify|GenerateMac|VerifyMac|CreateGrant|Derive.*)$`)

// logsActions are what CloudWatch Logs needs on a key that encrypts log groups.
var logsActions = map[string]bool{
	"kms:Encrypt": true, "kms:Decrypt": true, "kms:ReEncryptFrom": true, "kms:ReEncryptTo": true,
	"kms:GenerateDataKey": true, "kms:GenerateDataKeyWithoutPlaintext": true, "kms:DescribeKey": true,
}

const (
	accountRoot   = `{"Fn::Sub":"arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}`
	logsPrincipal = `{"Fn::Sub":"logs.${AWS::Region}.amazonaws.com"}`
	secretArnHead = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
	logGroupHead  = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
)

// TestKeyPolicyAllowsExactlyTheRolesThatNeedIt reads EncryptionKey's policy statement by
// statement: the account administers the key without using it; the deployer may only let
// DynamoDB take its grant and make data keys for this stack's secrets; each function role may
// use it exactly as its data access needs (the same derivation as its IAM grants), through the
// service that holds the data, for that data only; CloudWatch Logs may encrypt this stage's log
// groups and no others. Nothing else.
func TestKeyPolicyAllowsExactlyTheRolesThatNeedIt(t *testing.T) {
	c := loadTemplate(t)
	key := c.resource("EncryptionKey")
	if key == nil {
		t.Fatal("no EncryptionKey")
	}
	p := props(key)
	if key["Condition"] != "CreateKmsKey" || key["DeletionPolicy"] != "Retain" || key["UpdateReplacePolicy"] != "Retain" || p["EnableKeyRotation"] != true {
		t.Errorf("EncryptionKey: want Condition CreateKmsKey, Retain on delete and replace (the retained tables need it) and yearly rotation, got %v", key)
	}

	// Names in the policy → logical ids.
	roleByPattern := map[string]string{}
	for _, fn := range sortedKeys(c.resources("AWS::Serverless::Function")) {
		role, _ := refTarget(props(c.resource(fn))["Role"])
		if rp, ok := path(props(c.resource(role)), "Path", "Fn::Sub").(string); ok {
			roleByPattern[roleArnPattern(rp)] = role
		}
	}
	dataByName := map[string]string{}
	for id := range c.resources("AWS::DynamoDB::Table") {
		if n, ok := path(props(c.resource(id)), "TableName", "Fn::Sub").(string); ok {
			dataByName["dynamodb "+n] = id
		}
	}
	for id := range c.resources("AWS::SecretsManager::Secret") {
		if n, ok := path(props(c.resource(id)), "Name", "Fn::Sub").(string); ok {
			dataByName["secretsmanager "+secretArnHead+n+"-??????"] = id // Secrets Manager appends -<6 random characters>
		}
	}
	subs := func(v any) (out []string) {
		for _, x := range list(v) {
			s, ok := path(x, "Fn::Sub").(string)
			if !ok {
				s = str(x)
			}
			out = append(out, s)
		}
		return out
	}

	got := map[string]bool{} // "<role> <use>"
	var logPatterns []string
	for i, st := range list(path(p, "KeyPolicy", "Statement")) {
		sm, _ := st.(map[string]any)
		where := fmt.Sprintf("EncryptionKey statement %d (%v)", i, sm["Sid"])
		for _, k := range []string{"NotAction", "NotResource", "NotPrincipal"} {
			if sm[k] != nil {
				t.Errorf("%s: %s allows everything else", where, k)
			}
		}
		if sm["Effect"] != "Allow" || sm["Resource"] != "*" {
			t.Errorf("%s: want Allow on the key itself (Resource \"*\"), got %v %v", where, sm["Effect"], sm["Resource"])
		}
		var actions []string
		for _, a := range list(sm["Action"]) {
			actions = append(actions, str(a))
			if strings.Contains(str(a), "*") {
				t.Errorf("%s: wildcard action %v", where, a)
			}
		}
		cond, _ := sm["Condition"].(map[string]any)
		eq, _ := cond["StringEquals"].(map[string]any)
		like, _ := cond["ArnLike"].(map[string]any)

		switch principal := str(sm["Principal"]); {
		case principal == `{"Service":`+logsPrincipal+`}`:
			for _, a := range actions {
				if !logsActions[a] {
					t.Errorf("%s: CloudWatch Logs does not need %s", where, a)
				}
			}
			if len(cond) != 1 || len(like) != 1 || like["kms:EncryptionContext:aws:logs:arn"] == nil {
				t.Errorf("%s: CloudWatch Logs must be held to this stage's log groups (ArnLike kms:EncryptionContext:aws:logs:arn alone), got %v", where, cond)
			}
			logPatterns = append(logPatterns, subs(like["kms:EncryptionContext:aws:logs:arn"])...)

		case principal != `{"AWS":`+accountRoot+`}`:
			t.Errorf("%s: principal %s is neither this account nor CloudWatch Logs", where, principal)

		case cond == nil:
			for _, a := range actions {
				if cryptoActions.MatchString(a) {
					t.Errorf("%s: the account's administration may not use the key (%s): data access is per role", where, a)
				}
			}

		default:
			svc, ok := viaService(eq["kms:ViaService"])
			if !ok || str(eq["kms:CallerAccount"]) != `{"Ref":"AWS::AccountId"}` {
				t.Errorf("%s: a use by the account must be through DynamoDB or Secrets Manager (kms:ViaService) by this account (kms:CallerAccount), got %v", where, cond)
				continue
			}
			var data []string
			ctx := subs(eq[contextKeys[svc]])
			if svc == "secretsmanager" {
				ctx = subs(like[contextKeys[svc]])
			}
			for _, n := range ctx {
				id, ok := dataByName[svc+" "+n]
				if !ok {
					t.Errorf("%s: %s %q names no table or secret of this template", where, contextKeys[svc], n)
				}
				data = append(data, id)
			}
			principals := subs(like["aws:PrincipalArn"])
			if len(principals) == 0 {
				// The deployer: DynamoDB's grant for its background work on the tables, and data keys
				// for creating this stack's secrets. It never decrypts anything.
				grant := len(actions) == 1 && actions[0] == "kms:CreateGrant" && svc == "dynamodb" &&
					str(path(cond, "Bool", "kms:GrantIsForAWSResource")) == "true" && len(cond) == 2 && len(eq) == 2
				create := len(actions) == 1 && actions[0] == "kms:GenerateDataKey" && svc == "secretsmanager" && len(data) > 0 && len(cond) == 2 && len(eq) == 2 && len(like) == 1
				if !grant && !create {
					t.Errorf("%s: a use by any principal of the account may only be DynamoDB's grant (CreateGrant, GrantIsForAWSResource) or new data keys for this stack's secrets, got %v %v", where, actions, cond)
				}
				continue
			}
			if len(data) == 0 {
				t.Errorf("%s: no %s condition: the roles could use the key for any %s data", where, contextKeys[svc], svc)
			}
			for _, pat := range principals {
				role, ok := roleByPattern[pat]
				if !ok {
					t.Errorf("%s: aws:PrincipalArn %q is not a function role's path", where, pat)
					continue
				}
				for _, a := range actions {
					for _, d := range data {
						got[role+" "+kmsUse{a, svc, d}.String()] = true
					}
				}
			}
		}
	}

	want := map[string]bool{}
	perms := loadFunctionPermissions(t)
	for _, fn := range sortedKeys(c.resources("AWS::Serverless::Function")) {
		role, _ := refTarget(props(c.resource(fn))["Role"])
		for u := range kmsUses(t, c, perms[fn]) {
			want[role+" "+u.String()] = true
		}
	}
	if diff := setDiff(got, want); diff != "" {
		t.Errorf("EncryptionKey's policy lets roles use the key otherwise than their data access needs:\n%s", diff)
	}

	// Every log group of the stack is covered, and no pattern reaches beyond the stage's.
	for _, pat := range logPatterns {
		name, ok := strings.CutPrefix(pat, logGroupHead)
		if !ok || !strings.Contains(name, "keygate-${Stage}") || strings.Contains(strings.TrimSuffix(name, "*"), "*") {
			t.Errorf("EncryptionKey: log group pattern %q is not one of this stage's names (a trailing * at most)", pat)
		}
	}
	for _, id := range sortedKeys(c.resources("AWS::Logs::LogGroup")) {
		name, _ := path(props(c.resource(id)), "LogGroupName", "Fn::Sub").(string)
		covered := false
		for _, pat := range logPatterns {
			pat = strings.TrimPrefix(pat, logGroupHead)
			if prefix, wild := strings.CutSuffix(pat, "*"); name == pat || wild && strings.HasPrefix(name, prefix) {
				covered = true
			}
		}
		if !covered {
			t.Errorf("%s (%s): EncryptionKey does not let CloudWatch Logs encrypt it; with KmsKey=create its creation fails", id, name)
		}
	}
}

// TestEveryStoreOfDataUsesTheKeyWhenThereIsOne: tables, secrets and log groups take the
// customer-managed key under HasKmsKey and AWS's own otherwise.
func TestEveryStoreOfDataUsesTheKeyWhenThereIsOne(t *testing.T) {
	c := loadTemplate(t)
	want := `{"Fn::If":["HasKmsKey",` + keyArn + `,{"Ref":"AWS::NoValue"}]}`
	n := 0
	for typ, prop := range map[string][]string{
		"AWS::DynamoDB::Table":        {"SSESpecification", "KMSMasterKeyId"},
		"AWS::SecretsManager::Secret": {"KmsKeyId"},
		"AWS::Logs::LogGroup":         {"KmsKeyId"},
	} {
		for _, id := range sortedKeys(c.resources(typ)) {
			n++
			if got := str(path(props(c.resource(id)), prop...)); got != want {
				t.Errorf("%s: %s = %s, want %s", id, strings.Join(prop, "."), got, want)
			}
		}
	}
	if n < 2+2+11 {
		t.Errorf("only %d tables, secrets and log groups: is the test still reading the template?", n)
	}
	if str(path(c, "Conditions", "HasKmsKey")) != `{"Fn::Not":[{"Fn::Equals":[{"Ref":"KmsKey"},""]}]}` ||
		str(path(c, "Conditions", "CreateKmsKey")) != `{"Fn::Equals":[{"Ref":"KmsKey"},"create"]}` {
		t.Errorf("HasKmsKey / CreateKmsKey = %v / %v", path(c, "Conditions", "HasKmsKey"), path(c, "Conditions", "CreateKmsKey"))
	}
}

func TestSingleResourceParametersAdmitNoWildcard(t *testing.T) {
	c := loadTemplate(t)
	for name := range singleResourceParameters {
		if path(c, "Parameters", name) == nil {
			t.Errorf("%s is allow-listed but not a parameter", name)
		}
	}
	tests := []struct {
		value string
		ok    bool
	}{
		{"", true},
		{"create", true},
		{"arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", true},
		{"arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab", true},
		{"*", false},
		{"arn:aws:kms:eu-west-1:123456789012:key/*", false},
		{"arn:aws:kms:*:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", false},
		{"arn:aws:kms:eu-west-1:123456789012:alias/keygate", false},
		{"alias/keygate", false},
	}
	for _, tc := range tests {
		_, err := samtpl.Load(templatePath, samtpl.Options{Parameters: map[string]string{"KmsKey": tc.value}})
		if (err == nil) != tc.ok {
			t.Errorf("KmsKey=%q: accepted = %v, want %v (%v)", tc.value, err == nil, tc.ok, err)
		}
	}
}

func useDiff(got, want map[kmsUse]bool) string {
	g, w := map[string]bool{}, map[string]bool{}
	for u := range got {
		g[u.String()] = true
	}
	for u := range want {
		w[u.String()] = true
	}
	return setDiff(g, w)
}

// setDiff lists what got has beyond want (+) and lacks (-), sorted; "" when equal.
func setDiff(got, want map[string]bool) string {
	var lines []string
	for k := range got {
		if !want[k] {
			lines = append(lines, "  + "+k)
		}
	}
	for k := range want {
		if !got[k] {
			lines = append(lines, "  - "+k)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
