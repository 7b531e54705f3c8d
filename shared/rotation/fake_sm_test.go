package rotation_test

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/keygate/keygate/shared/rotation"
	"github.com/keygate/keygate/shared/secret"
)

// fakeSM models one Secrets Manager secret the way AWS documents it:
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
type fakeSM struct {
	mu       sync.Mutex
	name     string
	versions map[string]*fakeVersion
	order    []string // creation order of version ids
	calls    map[string]int
}

type fakeVersion struct {
	value  string
	stages []string
}

var _ rotation.SecretsAPI = (*fakeSM)(nil)

func newFakeSM(name string) *fakeSM {
	return &fakeSM{name: name, versions: map[string]*fakeVersion{}, calls: map[string]int{}}
}

func (f *fakeSM) check(id *string) error {
	if aws.ToString(id) != f.name {
		return &smtypes.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}
	}
	return nil
}

func (f *fakeSM) holder(stage string) string {
	for id, v := range f.versions {
		if slices.Contains(v.stages, stage) {
			return id
		}
	}
	return ""
}

func (f *fakeSM) detach(stage string) {
	for _, v := range f.versions {
		v.stages = slices.DeleteFunc(v.stages, func(s string) bool { return s == stage })
	}
}

// maxLabels is Secrets Manager's quota of staging labels attached across all versions of a secret.
const maxLabels = 20

// overQuota reports whether attaching labels would exceed maxLabels.
func (f *fakeSM) overQuota(labels ...string) error {
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

func (f *fakeSM) attach(id, stage string) {
	if stage == secret.StageCurrent {
		if old := f.holder(secret.StageCurrent); old != "" && old != id {
			f.detach(secret.StagePrevious)
			f.versions[old].stages = append(f.versions[old].stages, secret.StagePrevious)
		}
	}
	f.detach(stage)
	f.versions[id].stages = append(f.versions[id].stages, stage)
}

func (f *fakeSM) DescribeSecret(_ context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["DescribeSecret"]++
	if err := f.check(in.SecretId); err != nil {
		return nil, err
	}
	m := map[string][]string{}
	for id, v := range f.versions {
		if len(v.stages) > 0 {
			m[id] = slices.Clone(v.stages)
		}
	}
	return &secretsmanager.DescribeSecretOutput{Name: aws.String(f.name), VersionIdsToStages: m, RotationEnabled: aws.Bool(true)}, nil
}

func (f *fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["GetSecretValue"]++
	if err := f.check(in.SecretId); err != nil {
		return nil, err
	}
	id, stage := aws.ToString(in.VersionId), aws.ToString(in.VersionStage)
	if id == "" && stage == "" {
		stage = secret.StageCurrent
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

func (f *fakeSM) PutSecretValue(_ context.Context, in *secretsmanager.PutSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["PutSecretValue"]++
	if err := f.check(in.SecretId); err != nil {
		return nil, err
	}
	id := aws.ToString(in.ClientRequestToken)
	if id == "" {
		id = fmt.Sprintf("auto-%d", len(f.order)+1)
	}
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
	f.versions[id] = &fakeVersion{value: value}
	f.order = append(f.order, id)
	for _, s := range stages {
		f.attach(id, s)
	}
	return &secretsmanager.PutSecretValueOutput{Name: aws.String(f.name), VersionId: aws.String(id), VersionStages: slices.Clone(stages)}, nil
}

func (f *fakeSM) UpdateSecretVersionStage(_ context.Context, in *secretsmanager.UpdateSecretVersionStageInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["UpdateSecretVersionStage"]++
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

// stages returns version id → labels (labelled versions only).
func (f *fakeSM) stages() map[string][]string {
	out, _ := f.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(f.name)})
	for id := range out.VersionIdsToStages {
		slices.Sort(out.VersionIdsToStages[id])
	}
	return out.VersionIdsToStages
}

func (f *fakeSM) value(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.versions[id]; ok {
		return v.value
	}
	return ""
}

func (f *fakeSM) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}
