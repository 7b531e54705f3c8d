// Package samlocal prepares what `sam local start-api` and `sam local invoke` need to run
// keygate's own template against the local stack's emulators: the function environment
// (--env-vars) resolved from template.yaml the way `make run` resolves it, and a copy of the
// template that `sam build` wrote, changed in the few places where SAM CLI cannot run the
// deployed template as it is. Every change is listed (Change) and printed, so nobody mistakes the
// local copy for what deploys; template.yaml itself is never edited.
package samlocal

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/keygate/keygate/infra/local/samtpl"
)

// Options say where the functions in their containers find the emulators and which
// architecture the local engine runs.
type Options struct {
	// Architecture is x86_64 or arm64: the engine's, so no CPU emulation is needed. The
	// bootstraps in the built template must have been built for it.
	Architecture string
	// DynamoDB and SecretsManager are the emulators' endpoints as seen from inside a container
	// (the Docker bridge's gateway address on Linux, host.docker.internal on Docker Desktop).
	DynamoDB, SecretsManager string
	// APIGateway is API Gateway's control plane (API keys, usage plans) as seen from inside a
	// container; default SecretsManager, since one moto serves every service. The functions
	// reach moto directly: there is no local gateway to answer GetUsage, which moto lacks.
	APIGateway string
}

// Change is one difference between the local copy and the built template, with the reason.
type Change struct {
	Where, What, Why string
}

func (c Change) String() string { return c.Where + ": " + c.What + " (" + c.Why + ")" }

// The SDK's standard endpoint settings: the function code is what deploys, only its
// environment points it at the emulators.
const (
	envDynamoDB   = "AWS_ENDPOINT_URL_DYNAMODB"
	envSecrets    = "AWS_ENDPOINT_URL_SECRETS_MANAGER"
	envAPIGateway = "AWS_ENDPOINT_URL_API_GATEWAY"
)

// apiGateway is o.APIGateway, or the Secrets Manager emulator that serves it too.
func (o Options) apiGateway() string {
	if o.APIGateway != "" {
		return o.APIGateway
	}
	return o.SecretsManager
}

// Template returns the local copy of a built template (the template.yaml `sam build` writes
// into its build directory, whose CodeUri entries point at the built artifacts).
func Template(built []byte, o Options) ([]byte, []Change, error) {
	if o.Architecture != "x86_64" && o.Architecture != "arm64" {
		return nil, nil, fmt.Errorf("samlocal: architecture %q: want x86_64 or arm64", o.Architecture)
	}
	if o.DynamoDB == "" || o.SecretsManager == "" {
		return nil, nil, errors.New("samlocal: both emulator endpoints are required")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(built, &doc); err != nil {
		return nil, nil, fmt.Errorf("samlocal: parse built template: %w", err)
	}
	// Decoding into a Node accepts duplicate keys; a template with them is invalid (and the
	// copy would say something other than what SAM reads), so decode once more to refuse them.
	var plain any
	if err := yaml.Unmarshal(built, &plain); err != nil {
		return nil, nil, fmt.Errorf("samlocal: built template: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, errors.New("samlocal: the built template is not a YAML mapping")
	}
	root := doc.Content[0]
	var changes []Change

	// 1. Architecture: the deployed default is arm64 (cheaper per ms on Lambda); a laptop or CI
	// engine runs its own architecture without emulation.
	fn := ensureMap(ensureMap(root, "Globals"), "Function")
	arch := get(fn, "Architectures")
	if arch == nil || arch.Kind != yaml.SequenceNode || len(arch.Content) != 1 || arch.Content[0].Value != o.Architecture {
		set(fn, "Architectures", &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle,
			Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: o.Architecture}}})
		changes = append(changes, Change{"Globals.Function.Architectures", "[" + o.Architecture + "]",
			"the local engine's architecture; the bootstraps are built for it"})
	}
	for _, id := range resourcesOfType(root, "AWS::Serverless::Function") {
		if get(get(get(get(root, "Resources"), id), "Properties"), "Architectures") != nil {
			return nil, nil, fmt.Errorf("samlocal: %s sets its own Architectures; keep it in Globals so one change covers every function", id)
		}
	}

	// 2. Endpoints: SAM CLI's --env-vars only overrides variables the template declares, and
	// the deployed template must not carry emulator endpoints, so the local copy declares them.
	vars := ensureMap(ensureMap(fn, "Environment"), "Variables")
	set(vars, envDynamoDB, scalar(o.DynamoDB))
	set(vars, envSecrets, scalar(o.SecretsManager))
	set(vars, envAPIGateway, scalar(o.apiGateway()))
	changes = append(changes, Change{"Globals.Function.Environment.Variables", envDynamoDB + ", " + envSecrets + ", " + envAPIGateway,
		"the AWS SDK's standard endpoint settings, pointing the functions at the emulators"})

	// 3. Identity sources: SAM CLI looks context identity sources up as flat keys of the
	// request context, so "identity.sourceIp" never resolves and every protected request is
	// refused before the authorizer runs. API Gateway needs it in the cache key (an IP
	// allowlist must not be bypassed through the cache); SAM local has no authorizer cache, so
	// dropping it there changes nothing else.
	for _, api := range resourcesOfType(root, "AWS::Serverless::Api") {
		auths := get(get(get(get(get(root, "Resources"), api), "Properties"), "Auth"), "Authorizers")
		if auths == nil || auths.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(auths.Content); i += 2 {
			name := auths.Content[i].Value
			ctx := get(get(auths.Content[i+1], "Identity"), "Context")
			if ctx == nil || ctx.Kind != yaml.SequenceNode {
				continue
			}
			var kept []*yaml.Node
			var dropped []string
			for _, c := range ctx.Content {
				if strings.Contains(c.Value, ".") {
					dropped = append(dropped, c.Value)
					continue
				}
				kept = append(kept, c)
			}
			if len(dropped) == 0 {
				continue
			}
			ctx.Content = kept
			changes = append(changes, Change{api + ".Auth.Authorizers." + name + ".Identity.Context",
				"without " + strings.Join(dropped, ", "),
				"SAM CLI cannot resolve a dotted context identity source; it has no authorizer cache for it to key"})
		}
	}

	var out bytes.Buffer
	out.WriteString("# Generated by infra/local/samlocal for `sam local` only: NOT what deploys.\n")
	for _, c := range changes {
		out.WriteString("# changed: " + c.String() + "\n")
	}
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, nil, fmt.Errorf("samlocal: encode: %w", err)
	}
	return out.Bytes(), changes, nil
}

// EnvVars returns the --env-vars document for SAM CLI: per function logical id, the
// environment template.yaml gives it, resolved as the local stack resolves it (so table and
// secret names match what provisioning created), plus the emulator endpoints.
func EnvVars(tpl *samtpl.Template, o Options) ([]byte, error) {
	doc := map[string]map[string]string{}
	for _, f := range tpl.Functions {
		env := map[string]string{}
		for k, v := range f.Env {
			env[k] = v
		}
		env[envDynamoDB], env[envSecrets], env[envAPIGateway] = o.DynamoDB, o.SecretsManager, o.apiGateway()
		doc[f.LogicalID] = env
	}
	if len(doc) == 0 {
		return nil, errors.New("samlocal: the template has no functions")
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("samlocal: encode env vars: %w", err)
	}
	return append(b, '\n'), nil
}

func resourcesOfType(root *yaml.Node, typ string) []string {
	res := get(root, "Resources")
	if res == nil || res.Kind != yaml.MappingNode {
		return nil
	}
	var ids []string
	for i := 0; i+1 < len(res.Content); i += 2 {
		if t := get(res.Content[i+1], "Type"); t != nil && t.Value == typ {
			ids = append(ids, res.Content[i].Value)
		}
	}
	sort.Strings(ids)
	return ids
}

// get returns the value of key in mapping m, or nil (also when m is nil or not a mapping).
func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, scalar(key), v)
}

func ensureMap(m *yaml.Node, key string) *yaml.Node {
	if v := get(m, key); v != nil && v.Kind == yaml.MappingNode {
		return v
	}
	v := &yaml.Node{Kind: yaml.MappingNode}
	set(m, key, v)
	return v
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

// Event fills the {{NAME}} placeholders of an event fixture (infra/local/sam/events) with vars,
// JSON-escaped, since every placeholder sits inside a JSON string. A placeholder without a
// value is an error rather than an event that fails for a reason nobody sees.
func Event(fixture []byte, vars map[string]string) ([]byte, error) {
	var out bytes.Buffer
	rest := fixture
	for {
		i := bytes.Index(rest, []byte("{{"))
		if i < 0 {
			out.Write(rest)
			break
		}
		j := bytes.Index(rest[i:], []byte("}}"))
		if j < 0 {
			return nil, errors.New("samlocal: event: unterminated {{ placeholder")
		}
		name := string(rest[i+2 : i+j])
		v, ok := vars[name]
		if !ok {
			return nil, fmt.Errorf("samlocal: event: no value for {{%s}}", name)
		}
		q, _ := json.Marshal(v) // a string always marshals
		out.Write(rest[:i])
		out.Write(q[1 : len(q)-1])
		rest = rest[i+j+2:]
	}
	if !json.Valid(out.Bytes()) {
		return nil, errors.New("samlocal: event: not JSON once filled in")
	}
	return out.Bytes(), nil
}

// InvokeArgs are the arguments of `sam` that run function fn of the stack built in buildDir
// (its local.yaml and env.json) on an event read from stdin, without pulling images.
func InvokeArgs(buildDir, fn string) []string {
	return []string{"local", "invoke", fn, "--event", "-", "--skip-pull-image",
		"--template", filepath.Join(buildDir, "local.yaml"), "--env-vars", filepath.Join(buildDir, "env.json")}
}

// RotationToken returns a random version-4 UUID, the form Secrets Manager gives a rotation's
// ClientRequestToken (the new version's id).
func RotationToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
