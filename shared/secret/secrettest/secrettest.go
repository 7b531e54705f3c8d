// Package secrettest is the one in-memory Secrets Manager the tests run against, so that the
// keyring, the token and handler packages and the rotation are all tested on the same model of
// a secret's versions and staging labels, the one AWS documents, rather than each on a fake of
// its own whose quirks (a version id that follows the stage, a stage with no version behind it)
// a test could come to depend on without anyone noticing.
//
// Beside the four API calls it has what tests need to arrange a state and to watch the code
// under test: a value put at a stage, a finished rotation, extra labels, injected errors, call
// counts and the GetSecretValue requests made. It is safe for concurrent use, because the code
// under test reads secrets from several goroutines (singleflight refreshes, concurrent
// requests).
//
// It is for tests only; production code takes the SDK's client.
package secrettest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/keygate/keygate/shared/secret"
)

// Names of the operations, as Calls counts them.
const (
	OpGetSecretValue           = "GetSecretValue"
	OpDescribeSecret           = "DescribeSecret"
	OpPutSecretValue           = "PutSecretValue"
	OpUpdateSecretVersionStage = "UpdateSecretVersionStage"
)

// SecretsManager models one Secrets Manager secret the way AWS documents it:
//   - versions are identified by id (the ClientRequestToken) and carry staging labels;
//   - a label is on at most one version; attaching it elsewhere moves it;
//   - moving AWSCURRENT requires RemoveFromVersionId naming its holder, and moves AWSPREVIOUS
//     onto the version that held AWSCURRENT;
//   - PutSecretValue with an existing version id is idempotent for the same value and
//     ResourceExistsException for a different one; the first version of a secret always gets
//     AWSCURRENT, whatever VersionStages says;
//   - GetSecretValue defaults to AWSCURRENT; id and stage together must match;
//   - DescribeSecret lists only versions that still carry a label;
//   - at most 20 distinct labels are attached across all versions of the secret (a quota).
//
// Any other SecretId is ResourceNotFoundException, as on AWS, so a test also proves that the
// code asks for the secret it was configured with.
type SecretsManager struct {
	mu       sync.Mutex
	name     string
	versions map[string]*version
	order    []string // creation order of version ids
	calls    map[string]int
	reads    map[string]int // GetSecretValue calls per stage
	inputs   []secretsmanager.GetSecretValueInput
	err      error            // every call fails with it
	stageErr map[string]error // GetSecretValue of the stage fails with it
}

type version struct {
	value  string
	stages []string
}

var _ secret.Getter = (*SecretsManager)(nil)

// New returns the secret name with no version: PutSecretValue, Set or Rotate make the first.
func New(name string) *SecretsManager {
	return &SecretsManager{name: name, versions: map[string]*version{}, calls: map[string]int{},
		reads: map[string]int{}, stageErr: map[string]error{}}
}

func (f *SecretsManager) check(id *string) error {
	if aws.ToString(id) != f.name {
		return &smtypes.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}
	}
	return nil
}

func (f *SecretsManager) holder(stage string) string {
	for id, v := range f.versions {
		if slices.Contains(v.stages, stage) {
			return id
		}
	}
	return ""
}

func (f *SecretsManager) detach(stage string) {
	for _, v := range f.versions {
		v.stages = slices.DeleteFunc(v.stages, func(s string) bool { return s == stage })
	}
}

// maxLabels is Secrets Manager's quota of staging labels attached across all versions of a secret.
const maxLabels = 20

// overQuota reports whether attaching labels would exceed maxLabels.
func (f *SecretsManager) overQuota(labels ...string) error {
	all := map[string]bool{}
	for _, v := range f.versions {
		for _, s := range v.stages {
			all[s] = true
		}
	}
	for _, l := range labels {
		all[l] = true
	}
	if len(all) > maxLabels {
		return &smtypes.LimitExceededException{Message: aws.String(fmt.Sprintf("a secret can have at most %d staging labels", maxLabels))}
	}
	return nil
}

func (f *SecretsManager) attach(id, stage string) {
	if stage == secret.StageCurrent {
		if old := f.holder(secret.StageCurrent); old != "" && old != id {
			f.detach(secret.StagePrevious)
			f.versions[old].stages = append(f.versions[old].stages, secret.StagePrevious)
		}
	}
	f.detach(stage)
	f.versions[id].stages = append(f.versions[id].stages, stage)
}

// add creates a version holding value and no label, under an id no test token is likely to
// take, and returns the id.
func (f *SecretsManager) add(value string) string {
	n := len(f.order) + 1
	id := fmt.Sprintf("auto-%d", n)
	for f.versions[id] != nil {
		n++
		id = fmt.Sprintf("auto-%d", n)
	}
	f.versions[id] = &version{value: value}
	f.order = append(f.order, id)
	return id
}

// begin counts a call of op and returns the error injected for every call.
func (f *SecretsManager) begin(op string) error {
	f.calls[op]++
	return f.err
}

// DescribeSecret answers the secret's labelled versions (VersionIdsToStages).
func (f *SecretsManager) DescribeSecret(_ context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(OpDescribeSecret); err != nil {
		return nil, err
	}
	if err := f.check(in.SecretId); err != nil {
		return nil, err
	}
	return &secretsmanager.DescribeSecretOutput{Name: aws.String(f.name), VersionIdsToStages: f.labelled(), RotationEnabled: aws.Bool(true)}, nil
}

func (f *SecretsManager) labelled() map[string][]string {
	m := map[string][]string{}
	for id, v := range f.versions {
		if len(v.stages) > 0 {
			m[id] = slices.Clone(v.stages)
		}
	}
	return m
}

// GetSecretValue answers the version named by VersionId and/or VersionStage (AWSCURRENT when
// neither), with all its labels. The request is recorded and counted before any failure, as a
// request that reached AWS and failed there would have been.
func (f *SecretsManager) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, stage := aws.ToString(in.VersionId), aws.ToString(in.VersionStage)
	if id == "" && stage == "" {
		stage = secret.StageCurrent
	}
	f.reads[stage]++
	f.inputs = append(f.inputs, *in)
	if err := f.begin(OpGetSecretValue); err != nil {
		return nil, err
	}
	if err := f.stageErr[stage]; err != nil {
		return nil, err
	}
	if err := f.check(in.SecretId); err != nil {
		return nil, err
	}
	if id == "" {
		id = f.holder(stage)
	}
	v, ok := f.versions[id]
	if !ok || (stage != "" && !slices.Contains(v.stages, stage)) {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String(fmt.Sprintf("Secrets Manager can't find the specified secret value for VersionId: %s and staging label: %s", id, stage))}
	}
	return &secretsmanager.GetSecretValueOutput{Name: aws.String(f.name), VersionId: aws.String(id),
		SecretString: aws.String(v.value), VersionStages: slices.Clone(v.stages)}, nil
}

// PutSecretValue creates the version ClientRequestToken (a generated id without one) holding
// SecretString, with VersionStages (AWSCURRENT when none).
func (f *SecretsManager) PutSecretValue(_ context.Context, in *secretsmanager.PutSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(OpPutSecretValue); err != nil {
		return nil, err
	}
	if err := f.check(in.SecretId); err != nil {
		return nil, err
	}
	id := aws.ToString(in.ClientRequestToken)
	value := aws.ToString(in.SecretString)
	if v, ok := f.versions[id]; ok {
		if v.value != value {
			return nil, &smtypes.ResourceExistsException{Message: aws.String("You can't modify an existing version, you can only create a new version.")}
		}
		return &secretsmanager.PutSecretValueOutput{Name: aws.String(f.name), VersionId: aws.String(id), VersionStages: slices.Clone(v.stages)}, nil
	}
	stages := slices.Clone(in.VersionStages)
	if len(stages) == 0 || (len(f.versions) == 0 && !slices.Contains(stages, secret.StageCurrent)) {
		stages = append(stages, secret.StageCurrent)
	}
	if err := f.overQuota(append(stages, secret.StagePrevious)...); err != nil {
		return nil, err
	}
	if id == "" {
		id = f.add(value)
	} else {
		f.versions[id] = &version{value: value}
		f.order = append(f.order, id)
	}
	for _, s := range stages {
		f.attach(id, s)
	}
	return &secretsmanager.PutSecretValueOutput{Name: aws.String(f.name), VersionId: aws.String(id), VersionStages: slices.Clone(stages)}, nil
}

// UpdateSecretVersionStage moves VersionStage to MoveToVersionId and/or off RemoveFromVersionId.
func (f *SecretsManager) UpdateSecretVersionStage(_ context.Context, in *secretsmanager.UpdateSecretVersionStageInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(OpUpdateSecretVersionStage); err != nil {
		return nil, err
	}
	if err := f.check(in.SecretId); err != nil {
		return nil, err
	}
	stage := aws.ToString(in.VersionStage)
	moveTo, removeFrom := aws.ToString(in.MoveToVersionId), aws.ToString(in.RemoveFromVersionId)
	holder := f.holder(stage)
	invalid := func(msg string) error {
		return &smtypes.InvalidParameterException{Message: aws.String(msg)}
	}
	if removeFrom != "" && removeFrom != holder {
		return nil, invalid(fmt.Sprintf("The staging label %s is not attached to version %s.", stage, removeFrom))
	}
	if moveTo == "" {
		if removeFrom == "" {
			return nil, invalid("Specify MoveToVersionId or RemoveFromVersionId.")
		}
		f.detach(stage)
		return &secretsmanager.UpdateSecretVersionStageOutput{Name: aws.String(f.name)}, nil
	}
	if _, ok := f.versions[moveTo]; !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("no version " + moveTo)}
	}
	if holder != "" && holder != moveTo && removeFrom == "" {
		return nil, invalid(fmt.Sprintf("The staging label %s is attached to version %s; specify RemoveFromVersionId to move it.", stage, holder))
	}
	if err := f.overQuota(stage, secret.StagePrevious); err != nil {
		return nil, err
	}
	if holder != moveTo {
		f.attach(moveTo, stage)
	}
	return &secretsmanager.UpdateSecretVersionStageOutput{Name: aws.String(f.name)}, nil
}

// Set puts value at stage in a new version, taking stage off the version that held it; a nil
// value only takes stage off. It arranges a state directly, without the API's rules (AWSCURRENT
// moves no AWSPREVIOUS, the quota is not checked), so a test can build states AWS would not,
// such as a secret without AWSCURRENT; Rotate is the way to a new AWSCURRENT as AWS makes it.
func (f *SecretsManager) Set(stage string, value []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.detach(stage)
	if value == nil {
		return
	}
	id := f.add(string(value))
	f.versions[id].stages = []string{stage}
}

// Rotate installs next as a finished rotation leaves it: in a new version holding AWSCURRENT,
// whose previous holder becomes AWSPREVIOUS (the version that held AWSPREVIOUS loses it).
// Other labels stay where they are.
func (f *SecretsManager) Rotate(next []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attach(f.add(string(next)), secret.StageCurrent)
}

// Label attaches labels to the version holding stage, taking each off any other version, as
// keygate's own labels (KEYGATE_TESTED, KEYGATE_PROMOTED_…) are. Like Set, it ignores the quota.
// It panics when no version holds stage: the test arranged something other than it meant to.
func (f *SecretsManager) Label(stage string, labels ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.holder(stage)
	if id == "" {
		panic("secrettest: no version holds " + stage)
	}
	for _, l := range labels {
		f.detach(l)
		f.versions[id].stages = append(f.versions[id].stages, l)
	}
}

// Fail makes every call fail with err, before it looks at the secret, as an outage or a denied
// permission does; nil ends the failure.
func (f *SecretsManager) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// FailStage makes GetSecretValue of stage fail with err, so that a test can break one of the
// reads a keyring makes and not the others; nil ends the failure.
func (f *SecretsManager) FailStage(stage string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.stageErr, stage)
		return
	}
	f.stageErr[stage] = err
}

// Calls returns how many times op (OpGetSecretValue, …) was called, failed calls included.
func (f *SecretsManager) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// Reads returns how many GetSecretValue calls asked for stage (AWSCURRENT when they named
// neither stage nor version), failed calls included.
func (f *SecretsManager) Reads(stage string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[stage]
}

// Inputs returns every GetSecretValue request made so far, in order, failed ones included.
func (f *SecretsManager) Inputs() []secretsmanager.GetSecretValueInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.inputs)
}

// Stages returns version id → labels, each sorted, of the versions that carry a label: what
// DescribeSecret answers, without counting as a call or failing with an injected error.
func (f *SecretsManager) Stages() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.labelled()
	for _, labels := range m {
		slices.Sort(labels)
	}
	return m
}

// Value returns the value of version id, labelled or not ("" for no such version).
func (f *SecretsManager) Value(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.versions[id]; ok {
		return v.value
	}
	return ""
}
