package secrettest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/secret/secrettest"
)

const name = "keygate/test/secret"

var ctx = context.Background()

func put(t *testing.T, sm *secrettest.SecretsManager, id, value string, stages ...string) error {
	t.Helper()
	_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name),
		ClientRequestToken: aws.String(id), SecretString: aws.String(value), VersionStages: stages})
	return err
}

func move(sm *secrettest.SecretsManager, stage, to, from string) error {
	in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(name), VersionStage: aws.String(stage)}
	if to != "" {
		in.MoveToVersionId = aws.String(to)
	}
	if from != "" {
		in.RemoveFromVersionId = aws.String(from)
	}
	_, err := sm.UpdateSecretVersionStage(ctx, in)
	return err
}

func get(sm *secrettest.SecretsManager, id, stage string) (*secretsmanager.GetSecretValueOutput, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}
	if id != "" {
		in.VersionId = aws.String(id)
	}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	return sm.GetSecretValue(ctx, in)
}

func wantStages(t *testing.T, sm *secrettest.SecretsManager, want map[string][]string) {
	t.Helper()
	if got := sm.Stages(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stages = %v, want %v", got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func isA[E error](err error) bool {
	var e E
	return errors.As(err, &e)
}

// The staging-label rules the rotation depends on: the first version is AWSCURRENT whatever
// was asked, a label held elsewhere moves only when its holder is named, and moving AWSCURRENT
// takes AWSPREVIOUS along.
func TestLabelsMoveAsSecretsManagerMovesThem(t *testing.T) {
	sm := secrettest.New(name)
	must(t, put(t, sm, "v1", "one", secret.StagePending))
	wantStages(t, sm, map[string][]string{"v1": {secret.StageCurrent, secret.StagePending}})
	must(t, put(t, sm, "v2", "two", secret.StagePending))
	wantStages(t, sm, map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending}})

	if err := move(sm, secret.StageCurrent, "v2", ""); !isA[*smtypes.InvalidParameterException](err) {
		t.Errorf("moving AWSCURRENT without RemoveFromVersionId = %v, want InvalidParameterException", err)
	}
	if err := move(sm, secret.StageCurrent, "v2", "v2"); !isA[*smtypes.InvalidParameterException](err) {
		t.Errorf("RemoveFromVersionId naming a version without the label = %v, want InvalidParameterException", err)
	}
	if err := move(sm, secret.StageCurrent, "", ""); !isA[*smtypes.InvalidParameterException](err) {
		t.Errorf("a move naming no version = %v, want InvalidParameterException", err)
	}
	if err := move(sm, "LABEL", "v9", ""); !isA[*smtypes.ResourceNotFoundException](err) {
		t.Errorf("a move to an unknown version = %v, want ResourceNotFoundException", err)
	}
	wantStages(t, sm, map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending}})

	must(t, move(sm, secret.StageCurrent, "v2", "v1"))
	wantStages(t, sm, map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, secret.StagePending}})
	must(t, move(sm, secret.StageCurrent, "v2", "v2")) // already there: nothing moves
	wantStages(t, sm, map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, secret.StagePending}})
	must(t, move(sm, secret.StagePending, "", "v2"))
	wantStages(t, sm, map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent}})

	// A third version made current takes AWSPREVIOUS off v1, which, unlabelled, drops out of
	// DescribeSecret but can still be read by id.
	must(t, put(t, sm, "v3", "three", secret.StagePending))
	must(t, move(sm, secret.StageCurrent, "v3", "v2"))
	wantStages(t, sm, map[string][]string{"v2": {secret.StagePrevious}, "v3": {secret.StageCurrent, secret.StagePending}})
	if out, err := get(sm, "v1", ""); err != nil || aws.ToString(out.SecretString) != "one" || len(out.VersionStages) != 0 {
		t.Errorf("GetSecretValue of the deprecated v1 = %v, %v", out, err)
	}
	out, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil || len(out.VersionIdsToStages) != 2 || out.VersionIdsToStages["v1"] != nil {
		t.Errorf("DescribeSecret = %v, %v; want only the labelled v2 and v3", out, err)
	}
}

func TestPutSecretValueIsIdempotentPerVersion(t *testing.T) {
	sm := secrettest.New(name)
	must(t, put(t, sm, "v1", "one"))
	must(t, put(t, sm, "v1", "one"))
	if err := put(t, sm, "v1", "other"); !isA[*smtypes.ResourceExistsException](err) {
		t.Errorf("a different value under an existing version = %v, want ResourceExistsException", err)
	}
	if sm.Value("v1") != "one" {
		t.Errorf("v1 = %q, want its first value", sm.Value("v1"))
	}
	wantStages(t, sm, map[string][]string{"v1": {secret.StageCurrent}})
}

func TestGetSecretValueNamesOneVersion(t *testing.T) {
	sm := secrettest.New(name)
	must(t, put(t, sm, "v1", "one"))
	must(t, put(t, sm, "v2", "two", secret.StagePending))
	for _, tt := range []struct {
		id, stage string
		want      string // "": ResourceNotFoundException
	}{
		{"", "", "one"},
		{"", secret.StageCurrent, "one"},
		{"", secret.StagePending, "two"},
		{"v2", "", "two"},
		{"v2", secret.StagePending, "two"},
		{"v2", secret.StageCurrent, ""},
		{"", secret.StagePrevious, ""},
		{"v9", "", ""},
	} {
		out, err := get(sm, tt.id, tt.stage)
		switch {
		case tt.want == "" && !isA[*smtypes.ResourceNotFoundException](err):
			t.Errorf("GetSecretValue(%q, %q) = %v, want ResourceNotFoundException", tt.id, tt.stage, err)
		case tt.want != "" && (err != nil || aws.ToString(out.SecretString) != tt.want):
			t.Errorf("GetSecretValue(%q, %q) = %v, %v; want %q", tt.id, tt.stage, out, err, tt.want)
		}
	}
	if _, err := secret.Read(ctx, sm, "keygate/test/other", secret.StageCurrent); !errors.Is(err, secret.ErrNotFound) {
		t.Errorf("reading another secret = %v, want secret.ErrNotFound", err)
	}
	for _, err := range []error{
		put(t, secrettest.New("other"), "v1", "x"),
		move(secrettest.New("other"), secret.StageCurrent, "v1", ""),
		func() error {
			_, err := secrettest.New("other").DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
			return err
		}(),
	} {
		if !isA[*smtypes.ResourceNotFoundException](err) {
			t.Errorf("a call on another secret = %v, want ResourceNotFoundException", err)
		}
	}
}

func TestAtMostTwentyLabelsPerSecret(t *testing.T) {
	sm := secrettest.New(name)
	must(t, put(t, sm, "v1", "one")) // AWSCURRENT
	for i := range 18 {              // with AWSPREVIOUS, which a move of AWSCURRENT may need: 20
		must(t, move(sm, fmt.Sprintf("L%d", i), "v1", ""))
	}
	if err := move(sm, "L18", "v1", ""); !isA[*smtypes.LimitExceededException](err) {
		t.Errorf("a 21st label = %v, want LimitExceededException", err)
	}
	if err := put(t, sm, "v2", "two", "L19"); !isA[*smtypes.LimitExceededException](err) {
		t.Errorf("a version with a 21st label = %v, want LimitExceededException", err)
	}
	must(t, move(sm, "L0", "", "v1"))
	must(t, move(sm, "L18", "v1", ""))
}

// Set, Rotate and Label arrange states in one line; Rotate does what a finished rotation does.
func TestTheConveniencesArrangeVersions(t *testing.T) {
	sm := secrettest.New(name)
	sm.Set(secret.StageCurrent, []byte("one"))
	sm.Set(secret.StageTested, []byte("tested"))
	sm.Label(secret.StageCurrent, "EXTRA")
	sm.Rotate([]byte("two"))
	read := func(stage string) (string, []string) {
		v, err := secret.Read(ctx, sm, name, stage)
		if err != nil {
			return "error: " + err.Error(), nil
		}
		return string(v.Value), v.Stages
	}
	if v, stages := read(secret.StagePrevious); v != "one" || fmt.Sprint(stages) != "[EXTRA AWSPREVIOUS]" {
		t.Errorf("AWSPREVIOUS after Rotate = %q %v, want the old current with its label", v, stages)
	}
	if v, stages := read(secret.StageCurrent); v != "two" || fmt.Sprint(stages) != "[AWSCURRENT]" {
		t.Errorf("AWSCURRENT after Rotate = %q %v", v, stages)
	}
	if v, _ := read(secret.StageTested); v != "tested" {
		t.Errorf("KEYGATE_TESTED after Rotate = %q, want it left where it was", v)
	}
	sm.Rotate([]byte("three"))
	if v, _ := read(secret.StagePrevious); v != "two" {
		t.Errorf("AWSPREVIOUS after a second Rotate = %q", v)
	}

	sm.Set(secret.StageTested, nil)
	if _, err := secret.Read(ctx, sm, name, secret.StageTested); !errors.Is(err, secret.ErrNotFound) {
		t.Errorf("a stage Set to nil reads %v, want ErrNotFound", err)
	}
	sm.Set(secret.StagePrevious, []byte("replaced")) // no AWSPREVIOUS moves with a Set
	if v, _ := read(secret.StagePrevious); v != "replaced" {
		t.Errorf("AWSPREVIOUS after Set = %q", v)
	}
	if v, _ := read(secret.StageCurrent); v != "three" {
		t.Errorf("AWSCURRENT after Set(AWSPREVIOUS) = %q", v)
	}

	sm.Label(secret.StagePrevious, "EXTRA") // moves from the version that had it
	for id, stages := range sm.Stages() {
		if fmt.Sprint(stages) != "[AWSPREVIOUS EXTRA]" && fmt.Sprint(stages) != "[AWSCURRENT]" {
			t.Errorf("version %s has %v", id, stages)
		}
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Label on a stage no version holds did not panic")
		}
	}()
	sm.Label(secret.StagePending, "X")
}

func TestInjectedErrorsAndWhatIsRecorded(t *testing.T) {
	sm := secrettest.New(name)
	sm.Set(secret.StageCurrent, []byte("one"))
	sm.Set(secret.StagePrevious, []byte("zero"))
	outage := errors.New("ThrottlingException")

	sm.FailStage(secret.StagePrevious, outage)
	if _, err := get(sm, "", secret.StagePrevious); !errors.Is(err, outage) {
		t.Errorf("the failed stage = %v", err)
	}
	if _, err := get(sm, "", secret.StageCurrent); err != nil {
		t.Errorf("another stage = %v, want it unaffected", err)
	}
	sm.FailStage(secret.StagePrevious, nil)
	if _, err := get(sm, "", secret.StagePrevious); err != nil {
		t.Errorf("the stage after recovery = %v", err)
	}

	sm.Fail(outage)
	if _, err := get(sm, "", ""); !errors.Is(err, outage) {
		t.Errorf("GetSecretValue during an outage = %v", err)
	}
	if err := put(t, sm, "v9", "x"); !errors.Is(err, outage) {
		t.Errorf("PutSecretValue during an outage = %v", err)
	}
	if err := move(sm, secret.StagePending, "v9", ""); !errors.Is(err, outage) {
		t.Errorf("UpdateSecretVersionStage during an outage = %v", err)
	}
	if _, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)}); !errors.Is(err, outage) {
		t.Errorf("DescribeSecret during an outage = %v", err)
	}
	sm.Fail(nil)
	if _, err := get(sm, "", ""); err != nil {
		t.Errorf("GetSecretValue after the outage = %v", err)
	}

	if n := sm.Calls(secrettest.OpGetSecretValue); n != 5 {
		t.Errorf("%d GetSecretValue calls, want 5 (failed ones included)", n)
	}
	for op, want := range map[string]int{secrettest.OpPutSecretValue: 1, secrettest.OpUpdateSecretVersionStage: 1, secrettest.OpDescribeSecret: 1} {
		if n := sm.Calls(op); n != want {
			t.Errorf("%d %s calls, want %d", n, op, want)
		}
	}
	if c, p, pending := sm.Reads(secret.StageCurrent), sm.Reads(secret.StagePrevious), sm.Reads(secret.StagePending); c != 3 || p != 2 || pending != 0 {
		t.Errorf("reads: AWSCURRENT %d, AWSPREVIOUS %d, AWSPENDING %d; want 3 (no stage named is AWSCURRENT), 2, 0", c, p, pending)
	}
	in := sm.Inputs()
	if len(in) != 5 || aws.ToString(in[0].VersionStage) != secret.StagePrevious || in[4].VersionStage != nil || aws.ToString(in[4].SecretId) != name {
		t.Errorf("inputs = %+v", in)
	}
	sm.Stages()
	if n := sm.Calls(secrettest.OpDescribeSecret); n != 1 {
		t.Errorf("Stages counted as a DescribeSecret call")
	}
}

func TestConcurrentUse(t *testing.T) {
	sm := secrettest.New(name)
	sm.Set(secret.StageCurrent, []byte("zero"))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				switch (i + j) % 4 {
				case 0:
					sm.Rotate(fmt.Appendf(nil, "%d-%d", i, j))
				case 1:
					if _, err := secret.Read(ctx, sm, name, secret.StageCurrent); err != nil {
						t.Error(err)
					}
				case 2:
					sm.Stages()
				default:
					_ = put(t, sm, fmt.Sprintf("p%d-%d", i, j), "x", secret.StagePending)
				}
			}
		})
	}
	wg.Wait()
	stages := sm.Stages()
	current, previous := 0, 0
	for _, s := range stages {
		for _, l := range s {
			switch l {
			case secret.StageCurrent:
				current++
			case secret.StagePrevious:
				previous++
			}
		}
	}
	if current != 1 || previous != 1 {
		t.Errorf("after concurrent rotations: %d AWSCURRENT, %d AWSPREVIOUS; want 1 and 1", current, previous)
	}
}
